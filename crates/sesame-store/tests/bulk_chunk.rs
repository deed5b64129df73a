//! A batch task's chunk enqueue (`Store::enqueue_task_chunk`): the messages and the task's
//! progress commit in one transaction, the daily caps hold exactly (what fits is committed),
//! only the lease owner writes, and the bulk look-ups (black lists, unsubscribes,
//! frequency) answer for many addresses at once. Runs on SQLite always, and on PostgreSQL
//! too when `SESAME_TEST_DATABASE_URL` names a server (in a fresh database).

mod common;

use sesame_store::Store;
use sesame_store::bulk::{ChunkCommit, ChunkMessage, NewChunk, NewDetail, NewTask, Task};
use sesame_store::domains::NewDkimKey;

const NOW: i64 = 1_700_000_000;
const DAY: i64 = 1_699_920_000;

struct Fixture {
    account: i64,
    domain: i64,
    task: i64,
    rows: Vec<i64>,
}

async fn fixture(store: &Store, n: usize) -> Fixture {
    let account = store.create_account("bulk", NOW).await.unwrap().account_id;
    let keys = [NewDkimKey {
        bits: 1024,
        private_key: b"der",
        public_key: "cHVi",
    }];
    let domain = store
        .create_domain(account, "news.example.test", 0, "[]", &keys, NOW)
        .await
        .unwrap()
        .id;
    let list = store.create_receiver(account, "l", "", NOW).await.unwrap();
    let details: Vec<NewDetail> = (0..n)
        .map(|i| NewDetail {
            email: format!("u{i}@dest.test"),
            template_data: None,
            status: 1,
            reason: String::new(),
        })
        .collect();
    store
        .append_receiver_details(account, list, &details, None, 50_000, NOW)
        .await
        .unwrap();
    let rows = store
        .receiver_details_after(list, 0, n as i64)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let task = store
        .create_task(
            &NewTask {
                account_id: account,
                from_address: "noreply@news.example.test",
                receiver_id: list,
                receivers_name: "l",
                subject: "s",
                template_id: Some(1),
                template_data: "{}",
                reply_to: None,
                unsubscribe: None,
                ad_location: 0,
                task_type: 1,
                begin_at: None,
                interval_hours: 0,
                term_cycle: 0,
                next_run_at: NOW,
            },
            NOW,
        )
        .await
        .unwrap();
    Fixture {
        account,
        domain,
        task,
        rows,
    }
}

/// Owned messages for recipients `from..to` of the list: MessageId, recipient, its data.
fn messages(from: usize, to: usize) -> Vec<(String, String, String)> {
    (from..to)
        .map(|i| {
            (
                format!("qcloudses-30-1-date-x-{i}"),
                format!("u{i}@dest.test"),
                format!(r#"{{"n":"{i}"}}"#),
            )
        })
        .collect()
}

fn chunk<'a>(
    f: &Fixture,
    owned: &'a [(String, String, String)],
    account_cap: Option<i64>,
) -> NewChunk<'a> {
    NewChunk {
        task_id: f.task,
        snapshot: r#"{"template":"A"}"#,
        account_id: f.account,
        domain_id: f.domain,
        from_address: "noreply@news.example.test",
        template_id: Some(1),
        trigger_type: 0,
        day: DAY,
        account_cap,
        domain_cap: Some(1_000_000),
        messages: owned
            .iter()
            .map(|(message_id, recipient, data)| ChunkMessage {
                message_id,
                header_message_id: message_id,
                subject: "s",
                recipient,
                recipient_domain: "dest.test",
                render_data: data,
            })
            .collect(),
    }
}

/// The task with its cursor after `n` of `rows` and `n` sent.
fn progressed(task: &Task, rows: &[i64], base: usize, n: usize) -> Task {
    let mut task = task.clone();
    if base + n > 0 {
        task.cursor_id = rows[base + n - 1];
    }
    task.send_count = (base + n) as i64;
    task
}

async fn task_row(store: &Store, account: i64, id: i64) -> Task {
    let (tasks, _) = store
        .list_tasks(&sesame_store::bulk::TaskQuery {
            account_id: account,
            status: 0,
            receiver_id: 0,
            task_type: 0,
            offset: 0,
            limit: 100,
        })
        .await
        .unwrap();
    tasks.into_iter().find(|t| t.id == id).unwrap()
}

async fn chunk_story(store: &Store) {
    let f = fixture(store, 30).await;
    let task = store
        .claim_task(f.task, "me", NOW, NOW + 60)
        .await
        .unwrap()
        .expect("due task");

    // A whole chunk: ten messages, one delivery each, and the cursor in the same commit.
    let owned = messages(0, 10);
    let got = store
        .enqueue_task_chunk(
            &chunk(&f, &owned, Some(25)),
            "me",
            Some(NOW + 60),
            |n| progressed(&task, &f.rows, 0, n),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        ChunkCommit::Committed {
            n_queued: 10,
            short_of: None
        }
    );
    let saved = task_row(store, f.account, f.task).await;
    assert_eq!(saved.cursor_id, f.rows[9]);
    assert_eq!(saved.send_count, 10);
    assert_eq!(
        store
            .count_accepted_by_account(f.account, DAY)
            .await
            .unwrap(),
        10
    );
    assert_eq!(
        store.count_accepted_by_domain(f.domain, DAY).await.unwrap(),
        10
    );
    assert_eq!(
        store
            .recipient_standing(
                f.account,
                "x.test",
                &["u3@dest.test", "u20@dest.test"],
                NOW,
                NOW - 1
            )
            .await
            .unwrap()
            .sent
            .get("u3@dest.test"),
        Some(&1)
    );
    let leased = store.lease_due("w", NOW, NOW + 20, 100).await.unwrap();
    assert_eq!(leased.len(), 10);
    let mut recipients: Vec<_> = leased.iter().map(|d| d.recipient.clone()).collect();
    recipients.sort();
    let mut expected: Vec<_> = (0..10).map(|i| format!("u{i}@dest.test")).collect();
    expected.sort();
    assert_eq!(recipients, expected);
    let first = leased
        .iter()
        .find(|d| d.recipient == "u0@dest.test")
        .unwrap();
    assert!(!first.own_body);
    // Stored without a body, to render from the task's snapshot with the recipient's data.
    assert!(leased.iter().all(|d| d.to_render));
    assert_eq!(
        store.message_body(first.message_row).await.unwrap(),
        Some(Vec::new())
    );
    let rows: Vec<i64> = leased.iter().map(|d| d.message_row).collect();
    let pending = store.pending_renders(&rows).await.unwrap();
    assert_eq!(pending.len(), 10);
    let p0 = pending
        .iter()
        .find(|p| p.message_row == first.message_row)
        .unwrap();
    assert_eq!(p0.render_data, r#"{"n":"0"}"#);
    assert_eq!(p0.header_message_id, "qcloudses-30-1-date-x-0");
    assert_eq!(p0.created_at, NOW);
    assert_eq!(
        store.task_snapshot(p0.render_id).await.unwrap().as_deref(),
        Some(r#"{"template":"A"}"#)
    );
    assert!(pending.iter().all(|p| p.render_id == p0.render_id));
    // Retention never touches a message still to render: it is queued.
    assert_eq!(store.purge_bodies(NOW + 86_400, 100).await.unwrap(), 0);
    assert_eq!(store.purge_messages(NOW + 86_400, 100).await.unwrap(), 0);
    // The first to store its rendering wins; a second store changes nothing.
    let bodies: Vec<(i64, Vec<u8>)> = pending
        .iter()
        .take(4)
        .map(|p| {
            (
                p.message_row,
                format!("signed {}", p.message_id).into_bytes(),
            )
        })
        .collect();
    let mut stored = store.store_rendered(&bodies).await.unwrap();
    stored.sort();
    let mut want: Vec<i64> = bodies.iter().map(|(id, _)| *id).collect();
    want.sort();
    assert_eq!(stored, want);
    let again: Vec<(i64, Vec<u8>)> = bodies
        .iter()
        .map(|(id, _)| (*id, b"other bytes".to_vec()))
        .collect();
    assert!(store.store_rendered(&again).await.unwrap().is_empty());
    assert_eq!(
        store.message_body(bodies[0].0).await.unwrap().unwrap(),
        bodies[0].1
    );
    assert_eq!(store.pending_renders(&rows).await.unwrap().len(), 6);
    store.release_leases("w").await.unwrap();
    let leased = store.lease_due("w", NOW, NOW + 20, 100).await.unwrap();
    assert_eq!(leased.iter().filter(|d| d.to_render).count(), 6);
    store.release_leases("w").await.unwrap();

    // The account's cap (25) takes only 15 more of the next 20: those are committed, the
    // cursor stops after them, and the store says which quota stopped the rest.
    let owned = messages(10, 30);
    let got = store
        .enqueue_task_chunk(
            &chunk(&f, &owned, Some(25)),
            "me",
            Some(NOW + 60),
            |n| progressed(&task, &f.rows, 10, n),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        ChunkCommit::Committed {
            n_queued: 15,
            short_of: Some("account")
        }
    );
    let saved = task_row(store, f.account, f.task).await;
    assert_eq!(saved.cursor_id, f.rows[24]);
    assert_eq!(saved.send_count, 25);
    assert_eq!(
        store
            .count_accepted_by_account(f.account, DAY)
            .await
            .unwrap(),
        25
    );
    assert_eq!(
        store
            .lease_due("w", NOW, NOW + 20, 100)
            .await
            .unwrap()
            .len(),
        25
    );
    // The same snapshot again: the task's one row is reused.
    store.release_leases("w").await.unwrap();
    let leased = store.lease_due("w2", NOW, NOW + 20, 100).await.unwrap();
    let rows: Vec<i64> = leased.iter().map(|d| d.message_row).collect();
    let pending = store.pending_renders(&rows).await.unwrap();
    assert_eq!(pending.len(), 6 + 15);
    assert!(pending.iter().all(|p| p.render_id == p0.render_id));
    store.release_leases("w").await.unwrap();
    store.release_leases("w2").await.unwrap();

    // No room at all: nothing is queued, but the progress (recipients skipped before the
    // first that needed room) is still saved.
    let owned = messages(25, 30);
    let got = store
        .enqueue_task_chunk(
            &chunk(&f, &owned, Some(25)),
            "me",
            Some(NOW + 60),
            |n| {
                assert_eq!(n, 0);
                let mut t = progressed(&task, &f.rows, 25, 0);
                t.n_suppressed = 1;
                t
            },
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        ChunkCommit::Committed {
            n_queued: 0,
            short_of: Some("account")
        }
    );
    assert_eq!(task_row(store, f.account, f.task).await.n_suppressed, 1);

    // Another owner (a lease taken over) writes nothing: no message, no progress.
    let owned = messages(25, 30);
    let got = store
        .enqueue_task_chunk(
            &chunk(&f, &owned, None),
            "someone-else",
            Some(NOW + 60),
            |n| progressed(&task, &f.rows, 25, n),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(got, ChunkCommit::LeaseLost);
    let saved = task_row(store, f.account, f.task).await;
    assert_eq!((saved.cursor_id, saved.send_count), (f.rows[24], 25));
    assert_eq!(
        store
            .count_accepted_by_account(f.account, DAY)
            .await
            .unwrap(),
        25
    );

    // A failure inside the transaction (a MessageId that exists already) rolls back the
    // messages, the counters and the cursor together.
    let mut owned = messages(25, 30);
    owned[3].0 = "qcloudses-30-1-date-x-0".into();
    let failed = store
        .enqueue_task_chunk(
            &chunk(&f, &owned, None),
            "me",
            Some(NOW + 60),
            |n| progressed(&task, &f.rows, 25, n),
            NOW,
        )
        .await;
    assert!(failed.is_err());
    let saved = task_row(store, f.account, f.task).await;
    assert_eq!((saved.cursor_id, saved.send_count), (f.rows[24], 25));
    assert_eq!(
        store
            .count_accepted_by_account(f.account, DAY)
            .await
            .unwrap(),
        25
    );
    assert_eq!(
        store
            .lease_due("w", NOW, NOW + 20, 100)
            .await
            .unwrap()
            .len(),
        25
    );

    // The chunk's look-ups answer for many addresses at once.
    store
        .add_custom_black(f.account, &["u1@dest.test".to_string()], None, NOW)
        .await
        .unwrap();
    let standing = store
        .recipient_standing(
            f.account,
            "news.example.test",
            &["u0@dest.test", "u1@dest.test"],
            NOW,
            NOW - 1,
        )
        .await
        .unwrap();
    assert_eq!(
        standing.suppressed.into_iter().collect::<Vec<_>>(),
        ["u1@dest.test"]
    );
    let many: Vec<String> = (0..1200).map(|i| format!("u{i}@dest.test")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let standing = store
        .recipient_standing(f.account, "news.example.test", &many, NOW, NOW - 1)
        .await
        .unwrap();
    assert_eq!(standing.sent.len(), 25);
    assert_eq!(standing.suppressed.len(), 1);
    assert!(standing.unsubscribed.is_empty());

    // Retention keeps the task's snapshot while a copy still renders from it or the task
    // may run again; once every copy is rendered and the task is over, it goes.
    let later = NOW + 40 * 86_400;
    assert_eq!(store.purge_snapshots(later, 100).await.unwrap(), 0);
    store.release_leases("w").await.unwrap();
    let leased = store.lease_due("w", NOW, NOW + 20, 100).await.unwrap();
    let rows: Vec<i64> = leased.iter().map(|d| d.message_row).collect();
    let rendered: Vec<(i64, Vec<u8>)> = store
        .pending_renders(&rows)
        .await
        .unwrap()
        .iter()
        .map(|p| (p.message_row, b"signed".to_vec()))
        .collect();
    assert_eq!(rendered.len(), 21);
    store.store_rendered(&rendered).await.unwrap();
    assert_eq!(
        store.purge_snapshots(later, 100).await.unwrap(),
        0,
        "the task is not over"
    );
    let mut over = task_row(store, f.account, f.task).await;
    over.status = sesame_store::bulk::task_status::FINISHED;
    assert!(store.save_task(&over, "me", None, NOW).await.unwrap());
    assert_eq!(
        store.purge_snapshots(NOW - 1, 100).await.unwrap(),
        0,
        "too recent"
    );
    assert_eq!(store.purge_snapshots(later, 100).await.unwrap(), 1);
    assert_eq!(store.task_snapshot(p0.render_id).await.unwrap(), None);
}

#[tokio::test]
async fn chunk_on_sqlite() {
    let t = common::sqlite().await;
    chunk_story(&t.store).await;
    t.finish().await;
}

#[tokio::test]
async fn chunk_on_postgres() {
    if let Some(t) = common::postgres("chunk").await {
        chunk_story(&t.store).await;
        t.finish().await;
    }
}
