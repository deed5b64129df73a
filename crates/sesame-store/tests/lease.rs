//! Leases of the delivery queue: `lease_due` takes transactional mail first, then bulk, each
//! in due order, never a row due later or leased already, and one limit spans both;
//! `renew_leases` extends only the owner's leases of the rows it names. SQLite always,
//! PostgreSQL too when `SESAME_TEST_DATABASE_URL` names a server.

mod common;

use sesame_store::Store;
use sesame_store::queue::{Attempt, NewDelivery, NewMessage};

const NOW: i64 = 1_800_000_000;

/// Queues one message to `recipient` at `at` (its due time) with `trigger_type`.
async fn queue(
    store: &Store,
    account: i64,
    domain: i64,
    recipient: &str,
    trigger_type: i64,
    at: i64,
) {
    let id = format!("lease-{recipient}");
    store
        .enqueue(
            &NewMessage {
                account_id: account,
                message_id: &id,
                header_message_id: &id,
                from_address: "noreply@lease.example.test",
                domain_id: domain,
                subject: "lease",
                template_id: None,
                trigger_type,
                body: b"body",
                sign_pending: false,
                day: NOW,
                account_cap: None,
                domain_cap: None,
            },
            &[NewDelivery {
                recipient,
                recipient_domain: "dest.test",
                send_status: 0,
                deliver_message: "",
                body: None,
            }],
            at,
        )
        .await
        .unwrap();
}

/// The recipients of `leased`, sorted (a lease returns its rows in no set order).
fn recipients(leased: &[sesame_store::queue::LeasedDelivery]) -> Vec<&str> {
    let mut recipients: Vec<&str> = leased.iter().map(|d| d.recipient.as_str()).collect();
    recipients.sort_unstable();
    recipients
}

async fn leases(store: &Store) {
    let (account, domain) = common::account_with_domain(store, "lease", NOW).await;
    // Bulk mail waiting longest, transactional mail after it, one transactional message
    // deferred to later.
    queue(store, account, domain, "bulk1@dest.test", 0, NOW - 300).await;
    queue(store, account, domain, "bulk2@dest.test", 0, NOW - 200).await;
    queue(store, account, domain, "tx2@dest.test", 1, NOW - 50).await;
    queue(store, account, domain, "tx1@dest.test", 1, NOW - 100).await;
    queue(store, account, domain, "later@dest.test", 1, NOW - 10).await;
    let later = store.lease_due("w", NOW, NOW + 60, 1).await.unwrap();
    assert_eq!(recipients(&later), ["tx1@dest.test"]);
    // tx1 goes back to the queue (its lease handed back); `later` is deferred an hour.
    assert_eq!(store.release_leases("w").await.unwrap(), 1);
    let deferred = store.lease_due("w", NOW, NOW + 60, 10).await.unwrap();
    let later = deferred
        .iter()
        .find(|d| d.recipient == "later@dest.test")
        .unwrap();
    assert!(
        store
            .record_attempt(
                later.id,
                "w",
                &Attempt::Deferred {
                    reason: "451 later".into(),
                    retry_at: NOW + 3_600
                },
                NOW
            )
            .await
            .unwrap()
    );
    assert_eq!(store.release_leases("w").await.unwrap(), 4);

    // One limit across both priorities: transactional first, each in due order.
    let first = store.lease_due("w1", NOW, NOW + 60, 3).await.unwrap();
    assert_eq!(
        recipients(&first),
        ["bulk1@dest.test", "tx1@dest.test", "tx2@dest.test"]
    );
    let rest = store.lease_due("w2", NOW, NOW + 60, 10).await.unwrap();
    assert_eq!(
        recipients(&rest),
        ["bulk2@dest.test"],
        "neither a leased row nor one due later"
    );

    // w1 renews its two transactional leases; another owner's renewal changes nothing.
    let (tx, bulk): (Vec<_>, Vec<_>) = first.iter().partition(|d| d.recipient.starts_with("tx"));
    let ids: Vec<i64> = tx.iter().map(|d| d.id).collect();
    assert_eq!(store.renew_leases("w1", &ids, NOW + 600).await.unwrap(), 2);
    assert_eq!(
        store
            .renew_leases("w2", &[bulk[0].id], NOW + 600)
            .await
            .unwrap(),
        0
    );
    // After the first leases end, only the row w1 did not renew is due again.
    let expired = store
        .lease_due("w3", NOW + 61, NOW + 120, 10)
        .await
        .unwrap();
    assert_eq!(recipients(&expired), ["bulk1@dest.test", "bulk2@dest.test"]);
    // At its retry time the deferred row is due again, with the transactional mail, ahead
    // of bulk mail (every lease above has ended by then).
    let retry = store
        .lease_due("w3", NOW + 3_600, NOW + 3_660, 3)
        .await
        .unwrap();
    assert_eq!(
        recipients(&retry),
        ["later@dest.test", "tx1@dest.test", "tx2@dest.test"]
    );
}

#[tokio::test]
async fn leases_on_sqlite() {
    let t = common::sqlite().await;
    leases(&t.store).await;
    t.finish().await;
}

#[tokio::test]
async fn leases_on_postgres() {
    let Some(t) = common::postgres("lease").await else {
        return;
    };
    leases(&t.store).await;
    t.finish().await;
}
