//! Shared by the store's integration tests: a fresh store on SQLite (in a temporary folder),
//! and on PostgreSQL (in a database of its own) when `SESAME_TEST_DATABASE_URL` names a server.
#![allow(dead_code)] // each test file uses its own part

use sesame_store::{ServerKey, Store};

/// The key every test store is sealed with.
pub fn key() -> ServerKey {
    ServerKey::from_bytes(&[1; 32])
}

/// A store under test; `finish` closes it and drops its PostgreSQL database.
pub struct TestStore {
    pub store: Store,
    /// Scratch space beside the store (the SQLite file lives here too).
    pub dir: tempfile::TempDir,
    database: Option<(sqlx::PgPool, String)>,
}

/// A fresh SQLite store.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sesame.db", dir.path().display());
    let store = Store::open(&url, key()).await.unwrap();
    TestStore {
        store,
        dir,
        database: None,
    }
}

/// A fresh PostgreSQL store in database `sesame_<label>_<pid>`, or `None` (with a note on
/// stderr) when `SESAME_TEST_DATABASE_URL` is not set.
pub async fn postgres(label: &str) -> Option<TestStore> {
    let Ok(base) = std::env::var("SESAME_TEST_DATABASE_URL") else {
        eprintln!("SESAME_TEST_DATABASE_URL not set: the PostgreSQL {label} test is skipped");
        return None;
    };
    let name = format!("sesame_{label}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    let (server, _) = base
        .rsplit_once('/')
        .expect("SESAME_TEST_DATABASE_URL has a database part");
    let store = Store::open(&format!("{server}/{name}"), key())
        .await
        .unwrap();
    Some(TestStore {
        store,
        dir: tempfile::tempdir().unwrap(),
        database: Some((admin, name)),
    })
}

impl TestStore {
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.database {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
}

/// A new account `name` and its sender domain `<name>.example.test` (no DKIM key): their ids.
pub async fn account_with_domain(store: &Store, name: &str, now: i64) -> (i64, i64) {
    let account = store.create_account(name, now).await.unwrap().account_id;
    let domain = store
        .create_domain(account, &format!("{name}.example.test"), 0, "[]", &[], now)
        .await
        .unwrap()
        .id;
    (account, domain)
}
