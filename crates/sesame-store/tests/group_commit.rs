//! The group commit of `Store::enqueue`: many concurrent messages share transactions, yet
//! each keeps its own outcome. The daily caps hold exactly (a message that does not fit is
//! refused and counts nothing, in either counter), every accepted message is stored with its
//! recipients, and a message that fails (it names no account) fails alone. SQLite always,
//! PostgreSQL too when `SESAME_TEST_DATABASE_URL` names a server.

mod common;

use sesame_store::queue::{NewDelivery, NewMessage};
use sesame_store::{Store, StoreError};

const NOW: i64 = 1_800_000_000;

/// One message from `account` with two recipients (one refused at submit, black-listed).
async fn send(
    store: Store,
    account: i64,
    domain: i64,
    i: usize,
    account_cap: Option<i64>,
    domain_cap: Option<i64>,
) -> Result<i64, StoreError> {
    let id = format!("group-{account}-{i}");
    let recipient = format!("r{i}@dest{}.test", i % 3);
    let domain_name = format!("dest{}.test", i % 3);
    store
        .enqueue(
            &NewMessage {
                account_id: account,
                message_id: &id,
                header_message_id: &id,
                from_address: "noreply@group.example.test",
                domain_id: domain,
                subject: "group",
                template_id: None,
                trigger_type: 1,
                body: id.as_bytes(),
                sign_pending: false,
                day: NOW,
                account_cap,
                domain_cap,
            },
            &[
                NewDelivery {
                    recipient: &recipient,
                    recipient_domain: &domain_name,
                    send_status: 0,
                    deliver_message: "",
                    body: None,
                },
                NewDelivery {
                    recipient: "black@dest0.test",
                    recipient_domain: "dest0.test",
                    send_status: 1007,
                    deliver_message: "black-listed",
                    body: None,
                },
            ],
            NOW,
        )
        .await
}

/// Sends `n` messages at once; returns the outcomes in order.
async fn burst(
    store: &Store,
    account: i64,
    domain: i64,
    range: std::ops::Range<usize>,
    account_cap: Option<i64>,
    domain_cap: Option<i64>,
) -> Vec<Result<i64, StoreError>> {
    let tasks: Vec<_> = range
        .map(|i| {
            tokio::spawn(send(
                store.clone(),
                account,
                domain,
                i,
                account_cap,
                domain_cap,
            ))
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

async fn group_commit(store: &Store) {
    let (account, domain) = common::account_with_domain(store, "group", NOW).await;

    // 60 at once under no cap: all stored, each with its own row and body.
    let outcomes = burst(store, account, domain, 0..60, None, None).await;
    let mut rows = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let row = outcome.unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(
            store.message_body(row).await.unwrap().unwrap(),
            format!("group-{account}-{i}").as_bytes()
        );
        rows.push(row);
    }
    rows.sort();
    rows.dedup();
    assert_eq!(rows.len(), 60, "each message has its own row");
    assert_eq!(
        store.count_accepted_by_account(account, NOW).await.unwrap(),
        60
    );

    // A domain cap with room for 25 more: exactly 25 of 50 get in, and the refused ones
    // count in neither counter (the account's was given back).
    let outcomes = burst(store, account, domain, 60..110, None, Some(85)).await;
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(ok, 25, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(e) = outcome {
            assert!(matches!(e, StoreError::QuotaExceeded("domain")), "{e:?}");
        }
    }
    assert_eq!(
        store.count_accepted_by_domain(domain, NOW).await.unwrap(),
        85
    );
    assert_eq!(
        store.count_accepted_by_account(account, NOW).await.unwrap(),
        85
    );

    // The same with the account's cap.
    let outcomes = burst(store, account, domain, 110..150, Some(95), None).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 10);
    assert!(
        outcomes
            .iter()
            .all(|o| o.is_ok() || matches!(o, Err(StoreError::QuotaExceeded("account"))))
    );
    assert_eq!(
        store.count_accepted_by_account(account, NOW).await.unwrap(),
        95
    );
    assert_eq!(
        store.count_accepted_by_domain(domain, NOW).await.unwrap(),
        95
    );

    // A message of no account fails (foreign key) without failing its neighbours.
    let mut tasks: Vec<_> = (150..170)
        .map(|i| tokio::spawn(send(store.clone(), account, domain, i, None, None)))
        .collect();
    tasks.insert(
        10,
        tokio::spawn(send(store.clone(), 999_999, domain, 170, None, None)),
    );
    let mut failed = 0;
    for task in tasks {
        if task.await.unwrap().is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 1, "only the message of no account fails");
    assert_eq!(
        store.count_accepted_by_account(account, NOW).await.unwrap(),
        115
    );

    // Every stored message has its accepted recipient queued (its refused one is final).
    let stats = store.queue_stats(10).await.unwrap();
    assert_eq!(stats.depth, 115);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_on_sqlite() {
    let t = common::sqlite().await;
    group_commit(&t.store).await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_on_postgres() {
    if let Some(t) = common::postgres("group_commit").await {
        group_commit(&t.store).await;
        t.finish().await;
    }
}
