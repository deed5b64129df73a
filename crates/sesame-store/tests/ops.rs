//! Operations on a real store: queue statistics, the retention purges (what is old goes,
//! what is recent or still queued stays) and the online SQLite backup. SQLite always,
//! PostgreSQL too when `SESAME_TEST_DATABASE_URL` names a server.

mod common;

use sesame_store::Store;
use sesame_store::queue::{NewDelivery, NewMessage};

const DAY: i64 = 86_400;

/// Enqueues a message created at `at`; `pending` leaves one recipient in the queue,
/// otherwise every recipient is refused (final at once, as a black-listed one is).
async fn message(
    store: &Store,
    account: i64,
    domain: i64,
    id: &str,
    at: i64,
    pending: bool,
) -> i64 {
    let status = if pending { 0 } else { 1007 };
    store
        .enqueue(
            &NewMessage {
                account_id: account,
                message_id: id,
                header_message_id: id,
                from_address: "noreply@ops.example.test",
                domain_id: domain,
                subject: "ops",
                template_id: None,
                trigger_type: 0,
                body: b"signed bytes",
                sign_pending: false,
                day: at,
                account_cap: None,
                domain_cap: None,
            },
            &[
                NewDelivery {
                    recipient: "a@one.test",
                    recipient_domain: "one.test",
                    send_status: status,
                    deliver_message: "",
                    body: Some(b"own copy"),
                },
                NewDelivery {
                    recipient: "b@two.test",
                    recipient_domain: "two.test",
                    send_status: status,
                    deliver_message: "",
                    body: None,
                },
            ],
            at,
        )
        .await
        .unwrap()
}

async fn ops_story(store: &Store, dir: &std::path::Path) {
    let now = 1_800_000_000;
    let (account, domain) = common::account_with_domain(store, "ops", now).await;
    let ancient = message(store, account, domain, "m-ancient", now - 40 * DAY, false).await;
    let week_old = message(store, account, domain, "m-week", now - 10 * DAY, false).await;
    let stuck = message(store, account, domain, "m-stuck", now - 40 * DAY, true).await;
    let fresh = message(store, account, domain, "m-fresh", now - 60, false).await;

    let stats = store.queue_stats(1).await.unwrap();
    assert_eq!(stats.depth, 2, "m-stuck's two recipients are still queued");
    assert_eq!(stats.oldest_created_at, Some(now - 40 * DAY));
    assert_eq!(
        stats.by_domain,
        vec![("one.test".to_string(), 1), ("other".to_string(), 1)]
    );

    // Bodies older than a week go (one row per batch here), statuses stay.
    assert_eq!(store.purge_bodies(now - 7 * DAY, 1).await.unwrap(), 1);
    assert_eq!(store.purge_bodies(now - 7 * DAY, 10).await.unwrap(), 1);
    assert_eq!(store.purge_bodies(now - 7 * DAY, 10).await.unwrap(), 0);
    for row in [ancient, week_old] {
        assert_eq!(store.message_body(row).await.unwrap(), Some(Vec::new()));
    }
    assert_eq!(
        store.message_body(stuck).await.unwrap().unwrap(),
        b"signed bytes"
    );
    assert_eq!(
        store.message_body(fresh).await.unwrap().unwrap(),
        b"signed bytes"
    );

    // Messages older than 30 days go with their statuses, unless still queued.
    assert_eq!(store.purge_messages(now - 30 * DAY, 10).await.unwrap(), 1);
    assert_eq!(store.purge_messages(now - 30 * DAY, 10).await.unwrap(), 0);
    assert_eq!(store.message_body(ancient).await.unwrap(), None);
    assert!(store.message_body(week_old).await.unwrap().is_some());
    assert!(store.message_body(stuck).await.unwrap().is_some());
    assert_eq!(store.queue_stats(10).await.unwrap().depth, 2);

    // Statistics and expired black-list entries.
    store
        .add_black(
            account,
            "gone@one.test",
            "550 no such user",
            now - 20 * DAY,
            now - DAY,
        )
        .await
        .unwrap();
    store
        .add_black(
            account,
            "still@one.test",
            "550 no such user",
            now - DAY,
            now + DAY,
        )
        .await
        .unwrap();
    assert_eq!(store.purge_expired_black_list(now, 10).await.unwrap(), 1);
    assert_eq!(store.purge_expired_black_list(now, 10).await.unwrap(), 0);
    store.purge_statistics(now - 400 * DAY, 10).await.unwrap();
    store.purge_events(now - 30 * DAY, 10).await.unwrap();
    store.probe().await.unwrap();

    if store.backend_name() == "sqlite" {
        let copy = dir.join("backup.db");
        store.backup_to(&copy).await.unwrap();
        assert!(
            store.backup_to(&copy).await.is_err(),
            "an existing file is not overwritten"
        );
        let restored = Store::open(&format!("sqlite://{}", copy.display()), common::key())
            .await
            .unwrap();
        assert_eq!(restored.integrity_check().await.unwrap(), "ok");
        assert!(restored.message_body(week_old).await.unwrap().is_some());
        assert_eq!(restored.queue_stats(10).await.unwrap().depth, 2);
    } else {
        assert!(store.backup_to(&dir.join("x.db")).await.is_err());
    }
}

#[tokio::test]
async fn ops_on_sqlite() {
    let t = common::sqlite().await;
    ops_story(&t.store, t.dir.path()).await;
    t.finish().await;
}

#[tokio::test]
async fn ops_on_postgres() {
    if let Some(t) = common::postgres("ops").await {
        ops_story(&t.store, t.dir.path()).await;
        t.finish().await;
    }
}
