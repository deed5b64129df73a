//! The console's users and sessions in the store: unique e-mails whatever their case, sessions
//! found only by their token's hash and only until they expire, an operator's pick, sign-out,
//! and a deleted account taking its users and sessions with it; a password change ending the
//! user's other sessions; the operators' account summaries (reputation level, sent today); a
//! message's history, for its own account only. Runs on SQLite always, and on PostgreSQL too
//! when `SESAME_TEST_DATABASE_URL` names a server.

mod common;

use sesame_store::console::{ROLE_MEMBER, ROLE_OPERATOR};
use sesame_store::inbound::NewComplaint;
use sesame_store::queue::{Attempt, NewDelivery, NewMessage};
use sesame_store::tracking::Engagement;
use sesame_store::{Store, StoreError};

async fn console_story(store: &Store) {
    let now = 1_700_000_000;
    let a = store.create_account("alpha", now).await.unwrap().account_id;
    let b = store.create_account("beta", now).await.unwrap().account_id;

    let ann = store
        .create_console_user("Ann@Example.com", "$argon2id$hash", ROLE_MEMBER, a, now)
        .await
        .unwrap();
    let again = store
        .create_console_user("ann@example.COM", "$argon2id$other", ROLE_MEMBER, b, now)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)));
    let ops = store
        .create_console_user("ops@example.com", "$argon2id$ops", ROLE_OPERATOR, a, now)
        .await
        .unwrap();
    let user = store
        .console_user("ANN@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            user.id,
            user.email.as_str(),
            user.role.as_str(),
            user.account_id
        ),
        (ann, "ann@example.com", ROLE_MEMBER, a)
    );
    assert!(
        store
            .console_user("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    store
        .create_console_session("hash-ann", ann, "csrf-ann", a, now, now + 100)
        .await
        .unwrap();
    let session = store
        .console_session("hash-ann", now + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.email, "ann@example.com");
    assert_eq!((session.user_account_id, session.account_id), (a, a));
    assert_eq!(session.csrf_token, "csrf-ann");
    assert!(
        store
            .console_session("csrf-ann", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .console_session("hash-ann", now + 100)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );

    store
        .create_console_session("hash-ops", ops, "csrf-ops", a, now + 50, now + 200)
        .await
        .unwrap();
    // Opening a session drops the expired ones.
    store
        .create_console_session("hash-ops-2", ops, "csrf-2", a, now + 150, now + 300)
        .await
        .unwrap();
    assert!(
        store
            .console_session("hash-ann", now)
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_console_session_account("hash-ops", b)
        .await
        .unwrap();
    let picked = store
        .console_session("hash-ops", now + 160)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            picked.role.as_str(),
            picked.user_account_id,
            picked.account_id
        ),
        (ROLE_OPERATOR, a, b)
    );
    store.delete_console_session("hash-ops-2").await.unwrap();
    assert!(
        store
            .console_session("hash-ops-2", now + 160)
            .await
            .unwrap()
            .is_none()
    );

    store
        .create_domain(b, "beta.example.test", 0, "[]", &[], now)
        .await
        .unwrap();
    let accounts = store.account_summaries(10, now).await.unwrap();
    assert_eq!(
        accounts
            .iter()
            .map(|x| (
                x.id,
                x.name.as_str(),
                x.n_domains,
                x.n_verified,
                x.n_pending
            ))
            .collect::<Vec<_>>(),
        [(a, "alpha", 0, 0, 0), (b, "beta", 1, 0, 0)]
    );
    assert!(accounts[0].tracking && !accounts[0].template_review);
    assert_eq!(accounts[0].daily_quota, None);
    assert_eq!(
        accounts
            .iter()
            .map(|x| (x.max_level, x.sent_today))
            .collect::<Vec<_>>(),
        [(0, 0), (0, 0)],
        "no verified domain, nothing sent"
    );

    // A password change ends the user's other sessions, keeps the one that made it and
    // leaves other users' alone.
    for (hash, user) in [("p1", ann), ("p2", ann), ("p3", ops)] {
        store
            .create_console_session(hash, user, "csrf", a, now + 200, now + 1000)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .set_console_password(ann, "$argon2id$new", Some("p1"))
            .await
            .unwrap(),
        Some(1)
    );
    let live = |hash: &'static str| async move {
        store
            .console_session(hash, now + 201)
            .await
            .unwrap()
            .is_some()
    };
    assert!(live("p1").await && !live("p2").await && live("p3").await);
    assert_eq!(
        store
            .console_user("ann@example.com")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
    // Without a session to keep (the CLI's reset) every session ends.
    assert_eq!(
        store
            .set_console_password(ann, "$argon2id$cli", None)
            .await
            .unwrap(),
        Some(1)
    );
    assert!(!live("p1").await && live("p3").await);
    assert_eq!(
        store
            .set_console_password(999_999, "$argon2id$x", None)
            .await
            .unwrap(),
        None
    );
}

/// A message of account `a`: delivered (then opened twice, clicked, unsubscribed and
/// complained about), deferred once, and refused at submit; its history shows each, and
/// account `b` cannot see it.
async fn history_story(store: &Store) {
    let now = 1_700_000_000;
    let a = store.create_account("alpha", now).await.unwrap().account_id;
    let b = store.create_account("beta", now).await.unwrap().account_id;
    let domain = store
        .create_domain(a, "alpha.example.test", 0, "[]", &[], now)
        .await
        .unwrap();
    store
        .save_domain_check(domain.id, true, "{}", now)
        .await
        .unwrap();
    store.set_reputation_level(domain.id, 3).await.unwrap();
    let message = NewMessage {
        account_id: a,
        message_id: "qcloudses-30-1-history",
        header_message_id: "history@alpha.example.test",
        from_address: "news@alpha.example.test",
        domain_id: domain.id,
        subject: "History",
        template_id: Some(7),
        trigger_type: 1,
        body: b"signed",
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
            recipient: "slow@dest.test",
            recipient_domain: "dest.test",
            send_status: 0,
            deliver_message: "",
            body: None,
        },
        NewDelivery {
            recipient: "listed@dest.test",
            recipient_domain: "dest.test",
            send_status: 1007,
            deliver_message: "the address is on the black list",
            body: None,
        },
    ];
    store.enqueue(&message, &deliveries, now).await.unwrap();
    let leased = store.lease_due("h", now, now + 60, 10).await.unwrap();
    assert_eq!(leased.len(), 2);
    let ok = leased
        .iter()
        .find(|d| d.recipient == "ok@dest.test")
        .unwrap();
    let slow = leased
        .iter()
        .find(|d| d.recipient == "slow@dest.test")
        .unwrap();
    let delivered = Attempt::Delivered {
        reply: "250 2.0.0 queued".into(),
    };
    assert!(
        store
            .record_attempt(ok.id, "h", &delivered, now + 5)
            .await
            .unwrap()
    );
    let deferred = Attempt::Deferred {
        reason: "451 4.7.1 greylisted".into(),
        retry_at: now + 65,
    };
    assert!(
        store
            .record_attempt(slow.id, "h", &deferred, now + 6)
            .await
            .unwrap()
    );
    let info = store
        .delivery_of_message("qcloudses-30-1-history", "ok@dest.test")
        .await
        .unwrap()
        .unwrap();
    for (what, at) in [
        (Engagement::Open, now + 10),
        (Engagement::Open, now + 11),
        (Engagement::Click, now + 12),
        (Engagement::Unsubscribe, now + 13),
    ] {
        assert!(
            store
                .record_engagement(&info, what, "https://x.test/", "ua", at)
                .await
                .unwrap()
        );
    }
    let complaint = NewComplaint {
        delivery: &info,
        source_ip: "192.0.2.9",
        feedback_type: "abuse",
        complain_time: now + 20,
    };
    assert!(store.record_complaint(&complaint, now + 21).await.unwrap());

    let history = store
        .message_history(a, "qcloudses-30-1-history")
        .await
        .unwrap()
        .expect("its own account sees it");
    let m = &history.message;
    assert_eq!(
        (
            m.from_address.as_str(),
            m.subject.as_str(),
            m.template_id,
            m.trigger_type,
            m.task_id,
            m.created_at
        ),
        ("news@alpha.example.test", "History", Some(7), 1, None, now)
    );
    let rows: Vec<_> = history
        .deliveries
        .iter()
        .map(|d| {
            (
                d.recipient.as_str(),
                d.send_status,
                d.deliver_status,
                d.deliver_message.as_str(),
                d.n_attempts,
                d.delivered_at,
                d.due_at,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "ok@dest.test",
                0,
                1,
                "250 2.0.0 queued",
                1,
                Some(now + 5),
                None
            ),
            (
                "slow@dest.test",
                0,
                8,
                "451 4.7.1 greylisted",
                1,
                None,
                Some(now + 65)
            ),
            (
                "listed@dest.test",
                1007,
                2,
                "the address is on the black list",
                0,
                None,
                None
            ),
        ]
    );
    let ok = &history.deliveries[0];
    assert_eq!(
        (
            ok.opened,
            ok.clicked,
            ok.unsubscribed,
            ok.unsubscribed_at,
            ok.complained,
            ok.complained_at
        ),
        (2, 1, 1, Some(now + 13), 1, Some(now + 20))
    );
    // The complaint was the row's last change.
    assert_eq!((ok.created_at, ok.updated_at), (now, now + 21));
    let slow = &history.deliveries[1];
    assert_eq!(
        (slow.unsubscribed_at, slow.complained_at, slow.updated_at),
        (None, None, now + 6)
    );

    // Another account's message looks missing, like one that never was.
    assert!(
        store
            .message_history(b, "qcloudses-30-1-history")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .message_history(a, "qcloudses-30-1-nothing")
            .await
            .unwrap()
            .is_none()
    );

    // The operators' summary: the verified domain's level and today's accepted recipients
    // (the refused one does not count), on the day asked for only.
    let summaries = store.account_summaries(10, now).await.unwrap();
    assert_eq!(
        summaries
            .iter()
            .map(|x| (x.id, x.max_level, x.sent_today))
            .collect::<Vec<_>>(),
        [(a, 3, 2), (b, 0, 0)]
    );
    let tomorrow = store.account_summaries(10, now + 86_400).await.unwrap();
    assert_eq!(tomorrow[0].sent_today, 0);
}

#[tokio::test]
async fn history_on_sqlite() {
    let t = common::sqlite().await;
    history_story(&t.store).await;
    t.finish().await;
}

#[tokio::test]
async fn history_on_postgres() {
    if let Some(t) = common::postgres("console_history").await {
        history_story(&t.store).await;
        t.finish().await;
    }
}

#[tokio::test]
async fn console_on_sqlite() {
    let t = common::sqlite().await;
    console_story(&t.store).await;
    t.finish().await;
}

#[tokio::test]
async fn console_on_postgres() {
    if let Some(t) = common::postgres("console").await {
        console_story(&t.store).await;
        t.finish().await;
    }
}
