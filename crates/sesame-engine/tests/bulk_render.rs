//! Batch tasks' copies are rendered at delivery time: the scheduler fans a task out into the
//! queue without building or signing anything, and the delivery worker renders each copy
//! from the task's snapshot frozen at fan-out (a template edited afterwards changes nothing),
//! signs it, stores it before sending, and records a copy whose sender domain is gone as
//! dropped instead of retrying it. A SendEmail message is stored unsigned and signed by the
//! delivery worker at each attempt. On SQLite, against a recording SMTP relay on loopback.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_engine::bulk::{BulkSettings, Scheduler, Turn};
use sesame_engine::delivery::{DeliveryConfig, MxResolver};
use sesame_engine::queue::{QueueSettings, Worker};
use sesame_engine::submit::{self, LinkSettings, MailRate, Submission, SubmitSettings};
use sesame_store::bulk::{NewDetail, NewTask};
use sesame_store::domains::NewDkimKey;
use sesame_store::queue::StatusQuery;
use sesame_store::{ServerKey, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A relay that accepts everything and keeps each message's data (dot-unstuffed).
async fn relay() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    slow_relay(Duration::ZERO).await
}

/// `relay`, answering each message's data after `delay`.
async fn slow_relay(delay: Duration) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = got.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                write.write_all(b"220 relay\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 relay\r\n",
                        "DATA" => {
                            write.write_all(b"354 go on\r\n").await.unwrap();
                            let mut data = String::new();
                            loop {
                                line.clear();
                                lines.read_line(&mut line).await.unwrap();
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                            }
                            tokio::time::sleep(delay).await;
                            kept.lock().unwrap().push(data);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (address, got)
}

struct World {
    store: Store,
    account: i64,
    domain: i64,
    sender: &'static str,
    template: i64,
    settings: SubmitSettings,
}

async fn world(dir: &std::path::Path) -> World {
    let url = format!("sqlite://{}/sesame.db", dir.display());
    let store = Store::open(&url, ServerKey::from_bytes(&[3; 32]))
        .await
        .unwrap();
    let now = sesame_core::time::now_unix();
    let account = store.create_account("bulk", now).await.unwrap().account_id;
    let key = sesame_mail::dkim::generate_rsa(1024).unwrap();
    let domain = store
        .create_domain(
            account,
            "news.example.test",
            0,
            "[]",
            &[NewDkimKey {
                bits: 1024,
                private_key: &key.private_key,
                public_key: &key.public_key,
            }],
            now,
        )
        .await
        .unwrap()
        .id;
    store
        .save_domain_check(domain, true, "{}", now)
        .await
        .unwrap();
    store.set_reputation_level(domain, 5).await.unwrap();
    let sender = "noreply@news.example.test";
    store
        .create_sender(account, domain, sender, "News", now)
        .await
        .unwrap();
    let template = store
        .create_template(
            account,
            "t",
            "<p>Hello {{name}}, <a href=\"https://shop.example.test/a\">see</a></p>",
            "Hello {{name}}",
            0,
            now,
        )
        .await
        .unwrap()
        .id;
    let settings = SubmitSettings {
        dkim_selector: "sesame".into(),
        time_zone: jiff::tz::TimeZone::UTC,
        keys: Default::default(),
        mail_rate: Arc::new(MailRate::new(0)),
        links: Arc::new(LinkSettings::new(&store, "http://127.0.0.1:9")),
    };
    World {
        store,
        account,
        domain,
        sender,
        template,
        settings,
    }
}

/// A task over a new list of `names` (recipient `<name>@dest.test`, data `{"name": name}`),
/// fanned out by one scheduler turn.
async fn fan_out(w: &World, names: &[&str]) {
    let now = sesame_core::time::now_unix();
    let list = w
        .store
        .create_receiver(w.account, &format!("l{}", names[0]), "", now)
        .await
        .unwrap();
    let rows: Vec<NewDetail> = names
        .iter()
        .map(|n| NewDetail {
            email: format!("{n}@dest.test"),
            template_data: Some(format!(r#"{{"name":"{n}"}}"#)),
            status: 1,
            reason: String::new(),
        })
        .collect();
    w.store
        .append_receiver_details(w.account, list, &rows, None, 50_000, now)
        .await
        .unwrap();
    let task = w
        .store
        .create_task(
            &NewTask {
                account_id: w.account,
                from_address: w.sender,
                receiver_id: list,
                receivers_name: "l",
                subject: "Hi {{name}}",
                template_id: Some(w.template),
                template_data: "{}",
                reply_to: None,
                unsubscribe: Some(1),
                ad_location: 0,
                task_type: 1,
                begin_at: None,
                interval_hours: 0,
                term_cycle: 0,
                next_run_at: now,
            },
            now,
        )
        .await
        .unwrap();
    let scheduler = Scheduler::new(
        w.store.clone(),
        w.settings.clone(),
        BulkSettings {
            tick: Duration::from_secs(1),
            cycle_unit: Duration::from_secs(3600),
            chunk: 500,
            mail_rate: 0,
        },
        Arc::default(),
        Arc::default(),
    );
    // Unpaced, one turn fans out chunk after chunk: a short list is done in it.
    let turn = scheduler
        .turn(task, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(turn, Turn::RunFinished);
}

fn worker(w: &World, relay: SocketAddr) -> Worker {
    worker_leasing(w, relay, Duration::from_secs(20), 100)
}

/// `worker`, with leases of `lease` and passes of `batch` deliveries.
fn worker_leasing(w: &World, relay: SocketAddr, lease: Duration, batch: i64) -> Worker {
    let resolver = MxResolver::with_timeout(
        &[SocketAddr::from((Ipv4Addr::LOCALHOST, 9))],
        Duration::from_millis(200),
    )
    .unwrap();
    Worker::new(
        w.store.clone(),
        resolver,
        DeliveryConfig {
            helo_name: "sesame.test".into(),
            port: 25,
            relay: Some(relay),
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
        },
        QueueSettings {
            retry_schedule: vec![Duration::from_secs(60)],
            max_queue_lifetime: Duration::from_secs(3600),
            lease,
            batch,
            concurrency: 4,
            return_path_domain: "bounces.example.test".into(),
        },
        w.settings.clone(),
        Arc::default(),
    )
}

/// (recipient, DeliverStatus, DeliverMessage) of every delivery of the account.
async fn statuses(w: &World) -> Vec<(String, i64, String)> {
    let mut rows: Vec<_> = w
        .store
        .delivery_statuses(&StatusQuery {
            account_id: w.account,
            from: 0,
            until: i64::MAX,
            message_id: None,
            recipient: None,
            offset: 0,
            limit: 100,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.recipient, d.deliver_status, d.deliver_message))
        .collect();
    rows.sort();
    rows
}

/// The (recipient, DeliverStatus, DeliverMessage) of `recipient`'s delivery.
async fn status_of(w: &World, recipient: &str) -> (String, i64, String) {
    statuses(w)
        .await
        .into_iter()
        .find(|(r, ..)| r == recipient)
        .unwrap_or_else(|| panic!("no delivery to {recipient}"))
}

/// The template message to `<name>@dest.test`, transactional.
fn submission_to(w: &World, name: &str) -> Submission {
    Submission {
        account_id: w.account,
        from: w.sender.to_string(),
        to: vec![format!("{name}@dest.test")],
        subject: "Hi".into(),
        template: Some((w.template, format!(r#"{{"name":"{name}"}}"#))),
        trigger_type: 1,
        ..Default::default()
    }
}

/// Submits `submission_to(w, name)`.
async fn send_to(w: &World, name: &str) {
    let now = sesame_core::time::now_unix();
    submit::submit(&w.store, &w.settings, submission_to(w, name), now)
        .await
        .unwrap();
}

/// What another worker could lease now (and does: it leases them as "other").
async fn leasable_by_another(w: &World) -> Vec<sesame_store::queue::LeasedDelivery> {
    let now = sesame_core::time::now_unix();
    w.store.lease_due("other", now, now + 60, 10).await.unwrap()
}

/// Deletes the sender address and its domain (whose DKIM keys go with it).
async fn delete_domain(w: &World) {
    assert!(w.store.delete_sender(w.account, w.sender).await.unwrap());
    assert!(
        w.store
            .delete_domain(w.account, "news.example.test")
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_copies_render_at_delivery_from_the_frozen_snapshot() {
    let dir = std::env::temp_dir().join(format!("sesame-bulk-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = world(&dir).await;
    let (address, got) = relay().await;

    // Fanned out: queued, nothing built yet.
    fan_out(&w, &["ann", "bob"]).await;
    assert!(statuses(&w).await.iter().all(|(_, status, _)| *status == 0));
    // The template changes after the fan-out: the queued copies keep the old one.
    w.store
        .update_template(
            w.account,
            w.template,
            "t",
            "<p>CHANGED</p>",
            "CHANGED",
            0,
            sesame_core::time::now_unix(),
        )
        .await
        .unwrap();
    let worker = worker(&w, address);
    assert_eq!(worker.run_once().await.unwrap(), 2);
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    for name in ["ann", "bob"] {
        let copy = sent
            .iter()
            .find(|m| m.contains(&format!("To: <{name}@dest.test>")))
            .unwrap_or_else(|| panic!("no copy for {name}: {sent:?}"));
        assert!(copy.starts_with("DKIM-Signature:"), "{copy}");
        assert!(copy.contains(&format!("Subject: Hi {name}")), "{copy}");
        assert!(copy.contains(&format!("Hello {name}")), "{copy}");
        assert!(!copy.contains("CHANGED"), "{copy}");
        // Its own tracked link and unsubscribe headers, as at fan-out before.
        assert!(copy.contains("http://127.0.0.1:9/t/c/"), "{copy}");
        assert!(
            copy.contains("List-Unsubscribe: <http://127.0.0.1:9/u/"),
            "{copy}"
        );
    }
    assert!(statuses(&w).await.iter().all(|(_, status, _)| *status == 1));

    // A copy whose sender domain is deleted before its first attempt cannot be signed: it
    // is recorded dropped with the reason, not retried and not sent.
    fan_out(&w, &["cat"]).await;
    delete_domain(&w).await;
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(got.lock().unwrap().len(), 2);
    let cat = status_of(&w, "cat@dest.test").await;
    assert_eq!(cat.1, 2, "{cat:?}");
    assert!(
        cat.2
            .starts_with("not sent: the message could not be built: "),
        "{cat:?}"
    );
    assert!(cat.2.contains("news.example.test"), "{cat:?}");
    assert_eq!(worker.run_once().await.unwrap(), 0);
    let _ = w.domain;
    w.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_email_is_stored_unsigned_and_signed_at_delivery() {
    let dir = std::env::temp_dir().join(format!("sesame-sign-at-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = world(&dir).await;
    let (address, got) = relay().await;
    let now = sesame_core::time::now_unix();
    submit::submit(&w.store, &w.settings, submission_to(&w, "dan"), now)
        .await
        .unwrap();

    // Queued unsigned, with the domain that signs it; the stored copy (tracking is on: the
    // recipient's own, the message's body as it is the only recipient) has no signature.
    let leased = w.store.lease_due("peek", now, now + 1, 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].sign_domain, Some(w.domain));
    assert!(!leased[0].own_body, "one recipient: no second copy");
    let row = leased[0].message_row;
    let stored = w.store.message_bodies(&[row]).await.unwrap();
    let stored = String::from_utf8_lossy(&stored[&row]).into_owned();
    assert!(stored.contains("/t/o/"), "the recipient's copy: {stored}");
    assert!(!stored.contains("DKIM-Signature"), "{stored}");
    w.store.release_leases("peek").await.unwrap();

    let worker = worker(&w, address);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("DKIM-Signature:"), "{}", sent[0]);
    assert!(sent[0].contains("d=news.example.test"), "{}", sent[0]);
    assert!(sent[0].ends_with(&stored), "only the signature is added");
    assert!(sent[0].contains("Hello dan"), "{}", sent[0]);

    // The sender domain is deleted while a message waits: it cannot be signed, so it is
    // dropped with the reason, never sent unsigned.
    submit::submit(&w.store, &w.settings, submission_to(&w, "eve"), now)
        .await
        .unwrap();
    delete_domain(&w).await;
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(got.lock().unwrap().len(), 1);
    let eve = status_of(&w, "eve@dest.test").await;
    assert_eq!(eve.1, 2, "{eve:?}");
    assert_eq!(
        eve.2,
        "not sent: the message could not be signed: the sender domain was deleted before delivery"
    );
    assert_eq!(worker.run_once().await.unwrap(), 0);
    w.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pass that outlasts its lease keeps it: the worker renews the pass's leases (by id) once
/// they are a third of a lease old, so no other worker takes the row while the slow delivery
/// runs, and the one outcome is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_pass_renews_its_leases() {
    let dir = std::env::temp_dir().join(format!("sesame-long-pass-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = world(&dir).await;
    // Leases of 3 s (checked every second), a relay that takes 6 s to accept the data.
    let (address, got) = slow_relay(Duration::from_secs(6)).await;
    send_to(&w, "gil").await;
    let cancel = CancellationToken::new();
    let running =
        tokio::spawn(worker_leasing(&w, address, Duration::from_secs(3), 100).run(cancel.clone()));
    // Past the first lease's end (whole seconds: at most 3 s after it was taken).
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    assert!(got.lock().unwrap().is_empty(), "still in the relay's DATA");
    assert!(
        leasable_by_another(&w).await.is_empty(),
        "the worker renewed its lease"
    );
    let delivered = async {
        loop {
            if status_of(&w, "gil@dest.test").await.1 == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), delivered)
        .await
        .expect("delivered");
    assert_eq!(got.lock().unwrap().len(), 1);
    cancel.cancel();
    running.await.unwrap();
    w.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// While one pass sends, the worker leases and signs the next; at shutdown the pass sending
/// finishes and the pass only prepared hands its leases back, unsent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_pass_is_leased_while_one_sends_and_handed_back_at_shutdown() {
    let dir = std::env::temp_dir().join(format!("sesame-next-pass-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = world(&dir).await;
    // A relay that takes 3 s to accept the data; passes of one delivery each.
    let (address, got) = slow_relay(Duration::from_secs(3)).await;
    for name in ["gil", "ann"] {
        send_to(&w, name).await;
    }
    let cancel = CancellationToken::new();
    let running =
        tokio::spawn(worker_leasing(&w, address, Duration::from_secs(20), 1).run(cancel.clone()));
    // The first pass is in the relay's DATA; the second was leased and signed meanwhile.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(got.lock().unwrap().is_empty(), "still in the relay's DATA");
    assert!(
        leasable_by_another(&w).await.is_empty(),
        "the next pass holds the other delivery"
    );
    // Shutdown: the pass sending finishes and records its outcome, the one only prepared
    // sends nothing and hands its lease back.
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the worker stops")
        .unwrap();
    assert_eq!(got.lock().unwrap().len(), 1, "one message sent");
    let statuses = statuses(&w).await;
    let delivered: Vec<&str> = statuses
        .iter()
        .filter(|(_, status, _)| *status == 1)
        .map(|(recipient, ..)| recipient.as_str())
        .collect();
    assert_eq!(delivered.len(), 1, "{statuses:?}");
    let free = leasable_by_another(&w).await;
    assert_eq!(free.len(), 1, "the prepared pass's lease was handed back");
    assert_ne!(free[0].recipient, delivered[0]);
    w.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
