//! The store story: account → API key → domain with keys → check → sender → templates,
//! and tenant isolation. Runs on SQLite always, and on PostgreSQL too when
//! `SESAME_TEST_DATABASE_URL` names a server (each run in a fresh database).

mod common;

use sesame_store::domains::NewDkimKey;
use sesame_store::events::{CallbackAddress, StatsQuery};
use sesame_store::queue::{Attempt, NewDelivery, NewMessage, StatusQuery, deliver_status};
use sesame_store::suppression::CustomQuery;
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

    queue_story(store, a.account_id, b.account_id, domain.id, now).await;
    events_story(store, a.account_id, b.account_id, domain.id, now).await;
    bulk_story(store, a.account_id, b.account_id, now).await;

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
    if let Some(t) = common::postgres("story").await {
        story(&t.store).await;
        t.finish().await;
    }
}

async fn queue_story(store: &Store, account: i64, other: i64, domain_id: i64, now: i64) {
    let message = NewMessage {
        account_id: account,
        message_id: "qcloudses-30-1-date-x-1",
        header_message_id: "id@mail.example.test",
        from_address: "noreply@mail.example.test",
        domain_id,
        subject: "hello",
        template_id: None,
        trigger_type: 1,
        body: b"signed bytes",
        sign_pending: false,
        day: now,
        account_cap: None,
        domain_cap: None,
    };
    let deliveries = [
        NewDelivery {
            recipient: "ok@dest.test",
            recipient_domain: "dest.test",
            send_status: 0,
            deliver_message: "",
            body: None,
        },
        NewDelivery {
            recipient: "bad@dest.test",
            recipient_domain: "dest.test",
            send_status: 0,
            deliver_message: "",
            body: None,
        },
        NewDelivery {
            recipient: "black@dest.test",
            recipient_domain: "dest.test",
            send_status: 1007,
            deliver_message: "black",
            body: None,
        },
    ];
    let row = store.enqueue(&message, &deliveries, now).await.unwrap();
    assert_eq!(
        store.message_body(row).await.unwrap().unwrap(),
        b"signed bytes"
    );
    // The caps are applied with the counters: a message that would go over is not stored.
    let accepted = store.count_accepted_by_account(account, now).await.unwrap();
    for (account_cap, domain_cap, scope) in [
        (Some(accepted), None, "account"),
        (None, Some(accepted), "domain"),
    ] {
        let over = NewMessage {
            message_id: "qcloudses-30-1-date-x-over",
            account_cap,
            domain_cap,
            ..message
        };
        match store.enqueue(&over, &deliveries, now).await {
            Err(sesame_store::StoreError::QuotaExceeded(s)) => assert_eq!(s, scope),
            other => panic!("expected QuotaExceeded({scope}), got {other:?}"),
        }
    }
    assert_eq!(
        store.count_accepted_by_account(account, now).await.unwrap(),
        accepted,
        "a refused enqueue counts nothing"
    );
    assert_eq!(
        store.count_accepted_by_account(account, now).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .count_accepted_by_domain(domain_id, now)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_sent_to(account, "ok@dest.test", now)
            .await
            .unwrap(),
        1
    );

    let leased = store.lease_due("w1", now, now + 60, 10).await.unwrap();
    assert_eq!(leased.len(), 2, "refused recipients are never leased");
    assert!(
        store
            .lease_due("w2", now, now + 60, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased rows are not leased twice"
    );
    let (ok, bad) = (&leased[0], &leased[1]);
    assert!(
        store
            .record_attempt(
                ok.id,
                "w1",
                &Attempt::Delivered {
                    reply: "250 ok".into()
                },
                now
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_attempt(
                bad.id,
                "w2",
                &Attempt::Bounced {
                    reason: "x".into(),
                    hard: true
                },
                now
            )
            .await
            .unwrap(),
        "only the lease owner records"
    );
    store
        .record_attempt(
            bad.id,
            "w1",
            &Attempt::Deferred {
                reason: "451 later".into(),
                retry_at: now + 30,
            },
            now,
        )
        .await
        .unwrap();
    assert!(
        store
            .lease_due("w1", now + 10, now + 70, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.lease_due("w1", now + 30, now + 90, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].n_attempts, 1);
    assert_eq!(store.release_leases("w1").await.unwrap(), 1);
    // An expired lease makes the row due for another worker.
    let taken = store.lease_due("w2", now + 31, now + 32, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        store
            .lease_due("w3", now + 33, now + 90, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let query = |id: Option<&'static str>| StatusQuery {
        account_id: account,
        from: now - 1,
        until: now + 1,
        message_id: id,
        recipient: None,
        offset: 0,
        limit: 10,
    };
    let statuses = store.delivery_statuses(&query(None)).await.unwrap();
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[0].deliver_status, deliver_status::DELIVERED);
    assert_eq!(statuses[2].send_status, 1007);
    assert_eq!(statuses[2].deliver_status, deliver_status::DROPPED);
    assert_eq!(
        store
            .delivery_statuses(&query(Some("nope")))
            .await
            .unwrap()
            .len(),
        0
    );
    let mut other_query = query(None);
    other_query.account_id = other;
    assert!(
        store
            .delivery_statuses(&other_query)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .add_black(
            account,
            "bad@dest.test",
            "550 5.1.1 unknown",
            now,
            now + 100,
        )
        .await
        .unwrap();
    assert!(
        store
            .is_suppressed(account, "bad@dest.test", now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_suppressed(other, "bad@dest.test", now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_suppressed(account, "bad@dest.test", now + 100)
            .await
            .unwrap()
    );
    let (black, total) = store
        .list_black(account, now - 1, now + 1, None, now, 0, 10)
        .await
        .unwrap();
    assert_eq!((black.len(), total), (1, 1));
    assert_eq!(
        store
            .delete_black(account, &["bad@dest.test".into()])
            .await
            .unwrap(),
        1
    );

    store
        .add_custom_black(
            account,
            &["c@dest.test".into(), "d@dest.test".into()],
            Some(now + 10),
            now,
        )
        .await
        .unwrap();
    store
        .add_custom_black(account, &["e@dest.test".into()], None, now)
        .await
        .unwrap();
    assert!(
        store
            .is_suppressed(account, "c@dest.test", now)
            .await
            .unwrap()
    );
    let custom = |status, now| CustomQuery {
        account_id: account,
        now,
        status,
        address: None,
        offset: 0,
        limit: 10,
    };
    assert_eq!(store.list_custom_black(&custom(1, now)).await.unwrap().1, 3);
    assert_eq!(
        store
            .list_custom_black(&custom(0, now + 20))
            .await
            .unwrap()
            .1,
        2
    );
    assert_eq!(
        store
            .list_custom_black(&custom(2, now + 20))
            .await
            .unwrap()
            .1,
        3
    );
    let id = store.list_custom_black(&custom(2, now)).await.unwrap().0[0].id;
    assert!(
        store
            .update_custom_black(account, id, "f@dest.test", None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_custom_black(other, id, "g@dest.test", None)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .delete_custom_black(account, &["c@dest.test".into(), "f@dest.test".into()])
            .await
            .unwrap(),
        2
    );
}

/// Callbacks, the outbox and the statistics counters: events are queued by the state
/// changes themselves, only for accounts with a callback, and counters follow statuses.
async fn events_story(store: &Store, account: i64, other: i64, domain_id: i64, now: i64) {
    let sender = "noreply@mail.example.test";
    // Callbacks: the first makes the secret (shown once), the sender level wins.
    let secret = store
        .set_callback_address(account, "", "http://hooks.test/account", now)
        .await
        .unwrap()
        .expect("the first callback makes the secret");
    assert!(secret.len() > 32);
    assert_eq!(
        store.callback_secret(account).await.unwrap(),
        Some(secret.clone())
    );
    assert!(
        store
            .set_callback_address(account, sender, "http://hooks.test/sender", now)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.callback_addresses(account).await.unwrap(),
        vec![
            CallbackAddress {
                sender: String::new(),
                url: "http://hooks.test/account".into()
            },
            CallbackAddress {
                sender: sender.into(),
                url: "http://hooks.test/sender".into()
            },
        ]
    );
    assert!(store.callback_addresses(other).await.unwrap().is_empty());
    assert!(store.callback_secret(other).await.unwrap().is_none());
    assert!(!store.delete_callback_address(other, "").await.unwrap());
    let rotated = store.rotate_callback_secret(account, now).await.unwrap();
    assert_ne!(rotated, secret);
    assert_eq!(store.callback_secret(account).await.unwrap(), Some(rotated));
    let before = store.pending_events(account).await.unwrap();

    let day = now - 100;
    let message = NewMessage {
        account_id: account,
        message_id: "qcloudses-30-1-date-x-events",
        header_message_id: "ev@mail.example.test",
        from_address: sender,
        domain_id,
        subject: "events",
        template_id: Some(3),
        trigger_type: 1,
        body: b"signed",
        sign_pending: false,
        day,
        account_cap: None,
        domain_cap: None,
    };
    let deliveries = [
        NewDelivery {
            recipient: "a@ev.test",
            recipient_domain: "ev.test",
            send_status: 0,
            deliver_message: "",
            body: None,
        },
        NewDelivery {
            recipient: "b@ev.test",
            recipient_domain: "ev.test",
            send_status: 0,
            deliver_message: "",
            body: None,
        },
        NewDelivery {
            recipient: "c@other.test",
            recipient_domain: "other.test",
            send_status: 1007,
            deliver_message: "black",
            body: None,
        },
    ];
    store.enqueue(&message, &deliveries, now).await.unwrap();
    // The refused recipient is dropped at once.
    assert_eq!(store.pending_events(account).await.unwrap(), before + 1);
    let leased = store.lease_due("ev", now, now + 60, 10).await.unwrap();
    let mine: Vec<_> = leased
        .iter()
        .filter(|d| d.recipient.ends_with("@ev.test"))
        .collect();
    assert_eq!(mine.len(), 2);
    let (a, b) = (mine[0], mine[1]);
    // One connection's outcomes are recorded together; each counts once, with its event.
    let delivered = Attempt::Delivered {
        reply: "250 ok".into(),
    };
    let bounced = Attempt::Bounced {
        reason: "550 5.1.1".into(),
        hard: true,
    };
    assert_eq!(
        store
            .record_attempts("ev", &[(a.id, &delivered), (b.id, &bounced)], now)
            .await
            .unwrap(),
        [true, true]
    );
    // Recorded rows are no longer leased: a second report is refused and changes nothing.
    assert_eq!(
        store
            .record_attempts("ev", &[(a.id, &bounced)], now)
            .await
            .unwrap(),
        [false]
    );
    assert_eq!(store.pending_events(account).await.unwrap(), before + 3);
    store.release_leases("ev").await.unwrap();

    let stats = |from_domain: &'static str, rcpt_domain: &'static str| {
        let query = StatsQuery {
            account_id: account,
            from_day: day,
            until: day + 1,
            from_domain,
            rcpt_domain,
        };
        async move { store.statistics(&query).await.unwrap() }
    };
    let all = stats("", "").await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        (
            all[0].requests,
            all[0].accepted,
            all[0].delivered,
            all[0].bounced
        ),
        (3, 2, 1, 1)
    );
    let ev = stats("mail.example.test", "ev.test").await;
    assert_eq!((ev[0].requests, ev[0].accepted), (2, 2));
    assert!(stats("nope.test", "").await.is_empty());

    // A DSN after delivery moves the count; a second one changes nothing.
    assert!(
        store
            .record_late_bounce(a.id, "5.1.1 gone", true, now + 5)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_late_bounce(a.id, "5.1.1 gone", true, now + 6)
            .await
            .unwrap()
    );
    let all = stats("", "").await;
    assert_eq!((all[0].delivered, all[0].bounced), (0, 2));
    assert_eq!(store.pending_events(account).await.unwrap(), before + 4);

    // Without a callback, nothing is queued.
    store.delete_callback_address(account, "").await.unwrap();
    store
        .delete_callback_address(account, sender)
        .await
        .unwrap();
    store
        .record_late_bounce(b.id, "again", false, now + 7)
        .await
        .unwrap();
    assert_eq!(store.pending_events(account).await.unwrap(), before + 4);

    // The outbox: leased once, retried, sent.
    let events = store
        .lease_events("hook", now + 10, now + 40, 100)
        .await
        .unwrap();
    assert_eq!(events.len() as i64, before + 4);
    assert!(
        store
            .lease_events("hook2", now + 10, now + 40, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let bodies: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect();
    let kinds: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[kinds.len() - 4..],
        ["dropped", "delivered", "bounce", "bounce"]
    );
    assert_eq!(events.last().unwrap().url, "http://hooks.test/sender");
    let first = &events[events.len() - 4];
    assert!(
        !store.event_sent(first.id, "hook2").await.unwrap(),
        "only the lease owner"
    );
    assert!(
        store
            .event_failed(first.id, "hook", "HTTP 500", Some(now + 20))
            .await
            .unwrap()
    );
    for e in &events[..events.len() - 4] {
        store.event_sent(e.id, "hook").await.unwrap();
    }
    for e in &events[events.len() - 3..] {
        assert!(store.event_sent(e.id, "hook").await.unwrap());
    }
    assert!(
        store
            .lease_events("hook", now + 15, now + 40, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = store
        .lease_events("hook", now + 20, now + 50, 100)
        .await
        .unwrap();
    assert_eq!((retried.len(), retried[0].n_attempts), (1, 1));
    assert!(
        store
            .event_failed(retried[0].id, "hook", "gave up", None)
            .await
            .unwrap()
    );
    assert_eq!(store.pending_events(account).await.unwrap(), 0);
}

/// Recipient lists and batch tasks: appends with their limits, the cursor's order, leases.
async fn bulk_story(store: &Store, account: i64, other: i64, now: i64) {
    use sesame_store::bulk::{Appended, DetailQuery, NewDetail, NewTask, TaskQuery};
    let list = store
        .create_receiver(account, "news", "", now)
        .await
        .unwrap();
    assert!(matches!(
        store.create_receiver(account, "news", "", now).await,
        Err(sesame_store::StoreError::Conflict)
    ));
    let row = |email: &str, status: i64| NewDetail {
        email: email.into(),
        template_data: Some(r#"{"name":"x"}"#.into()),
        status,
        reason: String::new(),
    };
    let rows: Vec<NewDetail> = (0..1200).map(|i| row(&format!("u{i}@a.test"), 1)).collect();
    let keys = Some(r#"["name"]"#);
    assert_eq!(
        store
            .append_receiver_details(account, list, &rows, keys, 50_000, now)
            .await
            .unwrap(),
        Appended::Done
    );
    assert_eq!(
        store
            .append_receiver_details(
                account,
                list,
                &[row("bad", 2)],
                Some(r#"["other"]"#),
                50_000,
                now
            )
            .await
            .unwrap(),
        Appended::KeysDiffer {
            expected: r#"["name"]"#.into()
        }
    );
    assert_eq!(
        store
            .append_receiver_details(account, list, &[row("x@a.test", 1)], keys, 1200, now)
            .await
            .unwrap(),
        Appended::OverLimit { existing: 1200 }
    );
    assert_eq!(
        store
            .append_receiver_details(account, list, &[row("bad", 2)], keys, 50_000, now)
            .await
            .unwrap(),
        Appended::Done
    );
    assert_eq!(
        store
            .append_receiver_details(other, list, &[row("y@a.test", 1)], None, 50_000, now)
            .await
            .unwrap(),
        Appended::NotFound
    );
    let receiver = store.receiver(account, list).await.unwrap().unwrap();
    assert_eq!(
        (receiver.status, receiver.n_rows, receiver.n_invalid),
        (3, 1201, 1)
    );
    assert!(store.receiver(other, list).await.unwrap().is_none());
    let page = store
        .list_receiver_details(&DetailQuery {
            account_id: account,
            receiver_id: list,
            email: "u11",
            created_from: None,
            created_until: None,
            status: 0,
            offset: 0,
            limit: 100,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((page.total, page.n_valid, page.n_invalid), (111, 111, 0));
    let first = store.receiver_details_after(list, 0, 500).await.unwrap();
    assert_eq!(first.len(), 500);
    assert_eq!(first[0].email, "u0@a.test");
    let after = first.last().unwrap().id;
    assert_eq!(
        store
            .count_receiver_details_after(list, after)
            .await
            .unwrap(),
        700
    );

    let task = store
        .create_task(
            &NewTask {
                account_id: account,
                from_address: "noreply@mail.example.test",
                receiver_id: list,
                receivers_name: "news",
                subject: "Hi",
                template_id: Some(1),
                template_data: "",
                reply_to: None,
                unsubscribe: None,
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
    assert_eq!(store.due_tasks(now, 10).await.unwrap(), vec![task]);
    let mut claimed = store
        .claim_task(task, "me", now, now + 60)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .claim_task(task, "you", now, now + 60)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.due_tasks(now, 10).await.unwrap().is_empty());
    claimed.cursor_id = after;
    claimed.send_count = 500;
    claimed.status = 5;
    claimed.run_started = true;
    assert!(!store.save_task(&claimed, "you", None, now).await.unwrap());
    assert!(store.save_task(&claimed, "me", None, now).await.unwrap());
    let again = store
        .claim_task(task, "you", now, now + 60)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.cursor_id, again.send_count, again.run_started),
        (after, 500, true)
    );
    store.release_task_leases().await.unwrap();
    let (tasks, total) = store
        .list_tasks(&TaskQuery {
            account_id: account,
            status: 5,
            receiver_id: 0,
            task_type: 0,
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!((tasks.len(), total), (1, 1));
    assert!(store.delete_receiver(account, list).await.unwrap());
    assert!(
        store
            .receiver_details_after(list, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
