//! The store story: account → API key → domain with keys → check → sender → templates,
//! and tenant isolation. Runs on SQLite always, and on PostgreSQL too when
//! `SESAME_TEST_DATABASE_URL` names a server (each run in a fresh database).

use sesame_store::domains::NewDkimKey;
use sesame_store::{ServerKey, Store, StoreError};

async fn story(store: &Store) {
    let now = 1_700_000_000;
    let a = store.create_account("alpha", now).await.unwrap();
    let b = store.create_account("beta", now).await.unwrap();
    assert!(a.account_id >= 1_000_001);
    assert_eq!(b.account_id, a.account_id + 1);

    let key = store
        .api_key(&a.secret_id)
        .await
        .unwrap()
        .expect("key exists");
    assert_eq!(key.secret_key, a.secret_key);
    assert_eq!(key.account_id, a.account_id);
    assert!(store.api_key("AKIDnope").await.unwrap().is_none());

    let keys = [NewDkimKey {
        bits: 1024,
        private_key: b"private-der",
        public_key: "cHVi",
    }];
    let domain = store
        .create_domain(a.account_id, "mail.example.test", 0, "[]", &keys, now)
        .await
        .unwrap();
    assert!(!domain.verified);
    let taken = store
        .create_domain(b.account_id, "mail.example.test", 0, "[]", &[], now)
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict)));
    assert!(
        store
            .domain(b.account_id, "mail.example.test")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.dkim_keys(domain.id).await.unwrap()[0].private_key,
        b"private-der"
    );

    let checked = store
        .save_domain_check(domain.id, true, "[]", now + 5)
        .await
        .unwrap()
        .unwrap();
    assert!(checked.verified);
    assert_eq!(checked.reputation_level, 1);
    assert_eq!(checked.verified_at, Some(now + 5));
    assert_eq!(
        store.domains_to_recheck(now + 6, 10).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.domains_to_recheck(now + 5, 10).await.unwrap().len(),
        0
    );

    let sender = store
        .create_sender(
            a.account_id,
            domain.id,
            "noreply@mail.example.test",
            "Alpha",
            now,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_sender(
                a.account_id,
                domain.id,
                "noreply@mail.example.test",
                "",
                now
            )
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .set_smtp_password(sender.id, "$argon2id$x")
        .await
        .unwrap();
    let listed = store.list_senders(a.account_id).await.unwrap();
    assert_eq!(listed[0].smtp_password.as_deref(), Some("$argon2id$x"));
    assert!(store.list_senders(b.account_id).await.unwrap().is_empty());
    assert!(
        !store
            .delete_sender(b.account_id, "noreply@mail.example.test")
            .await
            .unwrap()
    );

    for i in 0..3 {
        store
            .create_template(
                a.account_id,
                &format!("t{i}"),
                "<p>{{x}}</p>",
                "",
                0,
                now + i,
            )
            .await
            .unwrap();
    }
    let (page, total) = store.list_templates(a.account_id, 1, 1).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(page[0].name, "t1");
    let id = page[0].id;
    assert!(store.template(b.account_id, id).await.unwrap().is_none());
    assert!(
        store
            .update_template(b.account_id, id, "x", "", "y", 0, now)
            .await
            .unwrap()
            .is_none()
    );
    let reviewed = store
        .review_template(id, 2, "links")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reviewed.review_reason, "links");
    assert!(store.delete_template(a.account_id, id).await.unwrap());

    assert!(
        store
            .delete_sender(a.account_id, "noreply@mail.example.test")
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_domain(a.account_id, "mail.example.test")
            .await
            .unwrap()
    );
    assert!(store.dkim_keys(domain.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn story_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub/sesame.db", dir.path().display());
    let store = Store::open(&url, ServerKey::from_bytes(&[1; 32]))
        .await
        .unwrap();
    story(&store).await;
    // Reopening runs no migration twice.
    store.close().await;
    Store::open(&url, ServerKey::from_bytes(&[1; 32]))
        .await
        .unwrap();
}

#[tokio::test]
async fn story_on_postgres() {
    let Ok(base) = std::env::var("SESAME_TEST_DATABASE_URL") else {
        eprintln!("SESAME_TEST_DATABASE_URL not set: PostgreSQL story skipped");
        return;
    };
    let name = format!("sesame_story_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("SESAME_TEST_DATABASE_URL has no database part"),
    };
    let store = Store::open(&url, ServerKey::from_bytes(&[1; 32]))
        .await
        .unwrap();
    story(&store).await;
    store.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
}
