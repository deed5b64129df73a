//! The console's users and sessions in the store: unique e-mails whatever their case, sessions
//! found only by their token's hash and only until they expire, an operator's pick, sign-out,
//! and a deleted account taking its users and sessions with it. Runs on SQLite always, and on
//! PostgreSQL too when `SESAME_TEST_DATABASE_URL` names a server.

mod common;

use sesame_store::console::{ROLE_MEMBER, ROLE_OPERATOR};
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
    let accounts = store.account_summaries(10).await.unwrap();
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
