//! Dedicated sending IPs in the store: pools per account and per sender domain, one owner per
//! address (a second account is refused), removal releasing an address, a deleted domain's
//! addresses freed. Runs on SQLite always, and on PostgreSQL too when
//! `SESAME_TEST_DATABASE_URL` names a server (in a fresh database).

mod common;

use sesame_store::Store;
use sesame_store::ip_pools::{AddIp, PoolScope, RemoveIp, pool_of_domain};

async fn pools_story(store: &Store) {
    let now = 1_700_000_000;
    let a = store.create_account("alpha", now).await.unwrap().account_id;
    let b = store.create_account("beta", now).await.unwrap().account_id;
    let a_domain = store
        .create_domain(a, "a.example.test", 0, "[]", &[], now)
        .await
        .unwrap()
        .id;
    let a_other = store
        .create_domain(a, "other.example.test", 0, "[]", &[], now)
        .await
        .unwrap()
        .id;

    assert!(store.pool_members_of_account(a).await.unwrap().is_empty());
    assert_eq!(
        store.add_pool_ip(a, None, "192.0.2.1", now).await.unwrap(),
        AddIp::Added
    );
    assert_eq!(
        store.add_pool_ip(a, None, "192.0.2.2", now).await.unwrap(),
        AddIp::Added
    );
    assert_eq!(
        store.add_pool_ip(a, None, "192.0.2.1", now).await.unwrap(),
        AddIp::AlreadyInPool
    );
    // The same address may serve the account's pool and one of its domains'.
    assert_eq!(
        store
            .add_pool_ip(a, Some(a_domain), "192.0.2.1", now)
            .await
            .unwrap(),
        AddIp::Added
    );
    assert_eq!(
        store
            .add_pool_ip(a, Some(a_domain), "192.0.2.3", now)
            .await
            .unwrap(),
        AddIp::Added
    );
    // Another account can have none of them.
    assert_eq!(
        store.add_pool_ip(b, None, "192.0.2.1", now).await.unwrap(),
        AddIp::OwnedByOther(a)
    );
    assert_eq!(
        store.add_pool_ip(b, None, "192.0.2.3", now).await.unwrap(),
        AddIp::OwnedByOther(a)
    );
    assert!(store.pool_members_of_account(b).await.unwrap().is_empty());
    assert_eq!(store.ip_owner("192.0.2.3").await.unwrap(), Some(a));
    assert_eq!(store.ip_owner("192.0.2.9").await.unwrap(), None);

    let members = store.pool_members_of_account(a).await.unwrap();
    assert_eq!(
        pool_of_domain(&members, a_domain),
        Some((PoolScope::Domain(a_domain), vec!["192.0.2.1", "192.0.2.3"]))
    );
    assert_eq!(
        pool_of_domain(&members, a_other),
        Some((PoolScope::Account(a), vec!["192.0.2.1", "192.0.2.2"]))
    );
    assert_eq!(
        members
            .iter()
            .find(|m| m.domain_id == Some(a_domain))
            .and_then(|m| m.domain.as_deref()),
        Some("a.example.test")
    );
    let all = store.all_pool_members().await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all[..2].iter().all(|m| m.domain_id.is_none()));

    // Removing from one pool keeps the address owned while another pool of the account uses it.
    assert_eq!(
        store.remove_pool_ip(a, None, "192.0.2.1").await.unwrap(),
        RemoveIp {
            removed: true,
            released: false
        }
    );
    assert_eq!(
        store.remove_pool_ip(a, None, "192.0.2.1").await.unwrap(),
        RemoveIp {
            removed: false,
            released: false
        }
    );
    assert_eq!(
        store.add_pool_ip(b, None, "192.0.2.1", now).await.unwrap(),
        AddIp::OwnedByOther(a)
    );
    assert_eq!(
        store
            .remove_pool_ip(a, Some(a_domain), "192.0.2.1")
            .await
            .unwrap(),
        RemoveIp {
            removed: true,
            released: true
        }
    );
    assert_eq!(
        store.add_pool_ip(b, None, "192.0.2.1", now).await.unwrap(),
        AddIp::Added
    );
    assert_eq!(store.ip_owner("192.0.2.1").await.unwrap(), Some(b));

    // A deleted domain's pool goes with it, and its addresses are free for anyone.
    assert!(store.delete_domain(a, "a.example.test").await.unwrap());
    assert_eq!(store.ip_owner("192.0.2.3").await.unwrap(), None);
    assert_eq!(
        store.add_pool_ip(b, None, "192.0.2.3", now).await.unwrap(),
        AddIp::Added
    );
    let b_members = store.pool_members_of_account(b).await.unwrap();
    assert_eq!(
        pool_of_domain(&b_members, 12345),
        Some((PoolScope::Account(b), vec!["192.0.2.1", "192.0.2.3"]))
    );
    let a_members = store.pool_members_of_account(a).await.unwrap();
    assert_eq!(
        pool_of_domain(&a_members, a_other),
        Some((PoolScope::Account(a), vec!["192.0.2.2"]))
    );
}

#[tokio::test]
async fn pools_on_sqlite() {
    let t = common::sqlite().await;
    pools_story(&t.store).await;
    t.finish().await;
}

#[tokio::test]
async fn pools_on_postgres() {
    if let Some(t) = common::postgres("ip_pools").await {
        pools_story(&t.store).await;
        t.finish().await;
    }
}
