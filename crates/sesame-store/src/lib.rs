//! One `Store` over SQLite (the embedded default) or PostgreSQL, chosen by the URL scheme.
//! Every query is written once in SQL both dialects accept (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`) and run on whichever pool is open; only the migrations differ per
//! backend. Secrets (API secret keys, DKIM private keys) are sealed with the server key
//! before they reach a table. This crate knows nothing of HTTP, SMTP or DNS.

pub mod accounts;
pub mod bulk;
pub mod console;
pub mod context;
pub mod crypto;
pub mod domains;
pub mod events;
pub mod inbound;
mod intake;
pub mod ip_pools;
pub mod ops;
pub mod queue;
pub mod senders;
pub mod suppression;
pub mod templates;
pub mod tracking;
mod wal;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use sesame_core::config::SqliteSynchronous;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

pub use crypto::ServerKey;
pub use wal::WalKeeper;

/// Runs `$body` with `$pool` bound to whichever backend pool `$store` has open. The body is
/// compiled once per backend, so one query text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// `on_pool!` for a write outside `begin_write!` (one statement in autocommit, or a
/// transaction of its own): on SQLite it holds the store's write gate meanwhile, so it
/// queues with the other writers of this process instead of meeting SQLite's lock, whose
/// busy handler sleeps in milliseconds while the writers queued behind the gate wait too.
/// The body must not take the gate again.
macro_rules! on_pool_write {
    ($store:expr, $pool:ident => $body:expr) => {{
        let _gate = $store
            .write_gate(concat!(module_path!(), ":", line!()))
            .await;
        match &$store.backend {
            $crate::Backend::Sqlite(_) => {
                let $pool = $store.sqlite_writer();
                $body
            }
            $crate::Backend::Postgres($pool) => $body,
        }
    }};
}
pub(crate) use on_pool_write;

/// Opens a write transaction on `$pool` (from `on_pool!`) for `$store`: `(gate, tx)`. On
/// SQLite it first takes the store's write gate and begins IMMEDIATE, so writers of this
/// process queue in turn instead of meeting SQLite's lock (whose busy handler sleeps in
/// milliseconds, and whose deferred transactions can fail to upgrade). Keep the gate alive
/// until the transaction ends.
macro_rules! begin_write {
    ($store:expr, $pool:ident) => {{
        let gate = $store
            .write_gate(concat!(module_path!(), ":", line!()))
            .await;
        let tx = $crate::WritePool::begin_write($pool, &$store).await?;
        (gate, tx)
    }};
}
pub(crate) use begin_write;

/// How each backend begins a write transaction (see `begin_write!`).
pub(crate) trait WritePool {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
        store: &Store,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send;
}

/// On the store's writer connection (`Store::sqlite_writer`), whichever pool `on_pool!` gave.
impl WritePool for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(
        &self,
        store: &Store,
    ) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        store.sqlite_writer().begin_with("BEGIN IMMEDIATE").await
    }
}

impl WritePool for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(
        &self,
        _store: &Store,
    ) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists.
    #[error("already exists")]
    Conflict,
    /// The sealed secret could not be opened: the server key is not the one it was sealed with.
    #[error("cannot open a stored secret: is this the server key the data was written with?")]
    Sealed,
    /// `enqueue` found that the message would take the account's or the sender domain's
    /// accepted count for the day over the cap it was given (`"account"` or `"domain"`).
    #[error("the daily sending quota of the {0} is used up")]
    QuotaExceeded(&'static str),
    #[error("storage: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("opening storage: {0}")]
    Open(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A turn at the SQLite write gate. Every writer behind it waits as long as it is held, so
/// a long one is logged (debug, `sesame_store`) with the line that took it.
pub(crate) struct Turn<'a> {
    _guard: tokio::sync::MutexGuard<'a, ()>,
    since: std::time::Instant,
    site: &'static str,
}

/// How long an SQLite statement waits for a lock another connection holds (a writer of
/// another process, or a checkpoint's readers) before it fails busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A turn held longer than this is logged.
const LONG_TURN: Duration = Duration::from_millis(20);

/// The SQLite pool's size: all opened at start (see `Store::open_with`).
const SQLITE_CONNECTIONS: u32 = 8;

/// The writer connection's page cache (`PRAGMA cache_size`, negative: KiB), 16 MiB.
const WRITER_CACHE_KIB: &str = "-16384";

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let held = self.since.elapsed();
        if held > LONG_TURN {
            tracing::debug!(
                held_ms = held.as_millis() as u64,
                site = self.site,
                "long turn at the SQLite write gate"
            );
        }
    }
}

/// The storage of one deployment. Cheap to clone (pools are shared).
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    pub(crate) key: ServerKey,
    /// SQLite has one writer at a time: this process's writers take turns here first.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// New messages waiting for their group commit (`intake`).
    intake: std::sync::Arc<intake::Intake>,
    /// The SQLite database file and its log (`wal`); `None` on PostgreSQL and in memory.
    files: Option<std::sync::Arc<wal::SqliteFiles>>,
    /// SQLite: the one connection every writer behind the gate uses (`sqlite_writer`).
    writer: Option<SqlitePool>,
}

impl Store {
    /// Opens the database at `url`, creating an SQLite file (and its folder) when missing,
    /// and runs the pending migrations.
    pub async fn open(url: &str, key: ServerKey) -> Result<Store> {
        Store::open_with(url, key, SqliteSynchronous::Normal).await
    }

    /// `open`, with SQLite commits synced as `sync` says (`[storage] sqlite_synchronous`;
    /// PostgreSQL ignores it: its commits are its server's to sync).
    pub async fn open_with(url: &str, key: ServerKey, sync: SqliteSynchronous) -> Result<Store> {
        let file = sqlite_path(url);
        let files = file.map(|p| wal::SqliteFiles::of(p).into());
        let mut writer = None;
        let backend = if url.starts_with("sqlite:") {
            if let Some(parent) = file.and_then(|p| Path::new(p).parent().map(Path::to_owned))
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&parent)
                    .map_err(|e| StoreError::Open(format!("creating {}: {e}", parent.display())))?;
            }
            // WAL lets readers run beside the writer; NORMAL sync in WAL mode keeps every
            // committed transaction across a process crash (only an OS crash or power loss
            // can drop the newest ones); FULL syncs the WAL at every commit, so a commit
            // survives those too.
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Open(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match sync {
                    SqliteSynchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
                    SqliteSynchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
                })
                .busy_timeout(BUSY_TIMEOUT)
                .foreign_keys(true)
                // Committers do not copy the WAL back into the database: `WalKeeper`, run in
                // the background every second, does (and starts the log over itself).
                // This bound (160 MiB of WAL) only applies if that job falls behind.
                .pragma("wal_autocheckpoint", "40000");
            // Every connection is opened now, by this thread (`open_sqlite_pool`).
            let pool = open_sqlite_pool(options.clone(), SQLITE_CONNECTIONS).await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            // The writers' own connection: its page cache stays warm, as no other connection
            // writes (a connection's cache is dropped whenever another one has written since
            // its last transaction), and it is bigger, for the index pages every write walks.
            if file.is_some() {
                writer = Some(
                    open_sqlite_pool(options.pragma("cache_size", WRITER_CACHE_KIB), 1).await?,
                );
            }
            Backend::Sqlite(pool)
        } else {
            let options =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Open(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Open(e.to_string()))?;
            // The migrator takes an advisory lock, so several processes may start at once.
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Backend::Postgres(pool)
        };
        Ok(Store {
            backend,
            key,
            gate: Default::default(),
            intake: Default::default(),
            files,
            writer,
        })
    }

    /// The SQLite pool writers use: the writer connection, or the pool itself for a database
    /// in memory. Only for writers holding the gate (`on_pool_write!`, `begin_write!`).
    pub(crate) fn sqlite_writer(&self) -> &SqlitePool {
        match (&self.writer, &self.backend) {
            (Some(writer), _) => writer,
            (None, Backend::Sqlite(pool)) => pool,
            (None, Backend::Postgres(_)) => unreachable!("the SQLite writer of a PostgreSQL store"),
        }
    }

    /// A sub-key of the server key for `label` (see `ServerKey::derive`).
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        self.key.derive(label)
    }

    /// Which backend is open: "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The write gate's turn on SQLite (`None` on PostgreSQL, whose writers run side by side)
    /// for the writer at `site` (its source line).
    pub(crate) async fn write_gate(&self, site: &'static str) -> Option<Turn<'_>> {
        match &self.backend {
            Backend::Sqlite(_) => Some(Turn {
                _guard: self.gate.lock().await,
                since: std::time::Instant::now(),
                site,
            }),
            Backend::Postgres(_) => None,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        on_pool!(self, pool => pool.close().await)
    }
}

/// Opens an SQLite pool of `n` connections, every one now, by the calling thread, each kept
/// for the process's life. sqlx runs each SQLite connection on a thread of its own, spawned
/// by whichever thread opens it, and a spawned thread inherits its parent's priority: a
/// connection opened lazily by a background task (`engine::cpu`, nice 10) would run intake's
/// statements at background priority, behind the DKIM signing (measured: 3 of 8 worker
/// threads at nice 10, 2.4 s of run-queue wait in 8 s). No liveness ping before each use
/// either: a local file does not hang up, and the ping is a round trip to the worker thread
/// per statement.
async fn open_sqlite_pool(options: SqliteConnectOptions, n: u32) -> Result<SqlitePool> {
    let pool = SqlitePoolOptions::new()
        .max_connections(n)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Open(e.to_string()))?;
    // One after another: a new file's first connections would race for its WAL switch.
    let mut opened = Vec::with_capacity(n as usize);
    for _ in 0..n {
        opened.push(pool.acquire().await?);
    }
    for mut conn in opened {
        // Back in the pool now, not by a task spawned on drop.
        conn.return_to_pool().await;
    }
    Ok(pool)
}

/// The file path of a `sqlite:` URL (`None` for other schemes and in-memory databases).
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// A store on a new SQLite file `file` in `dir`, for the unit tests.
#[cfg(test)]
pub(crate) async fn open_sqlite_in(dir: &tempfile::TempDir, file: &str) -> Store {
    let url = format!("sqlite://{}/{file}", dir.path().display());
    Store::open(&url, ServerKey::from_bytes(&[1; 32]))
        .await
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::{Backend, SQLITE_CONNECTIONS, ServerKey, SqliteSynchronous, Store};

    /// The nice value of every sqlx SQLite worker thread of this process (Linux).
    fn sqlite_thread_nices() -> Vec<i32> {
        let mut nices = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("sqlx-sqlite") {
                continue;
            }
            let tid: i32 = task.file_name().to_string_lossy().parse().unwrap();
            let tid = rustix::process::Pid::from_raw(tid).unwrap();
            if let Ok(nice) = rustix::process::getpriority_process(Some(tid)) {
                nices.push(nice);
            }
        }
        nices
    }

    /// Every SQLite connection is opened by `open_with`, so its worker thread has the opening
    /// thread's priority; work from a background-priority thread (nice 10) opens none, even
    /// when it holds every connection at once.
    #[test]
    fn sqlite_connections_are_opened_at_start_by_the_opening_thread() {
        let own_nice = rustix::process::getpriority_process(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.db", dir.path().display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = rt.block_on(async {
            Store::open_with(
                &url,
                ServerKey::from_bytes(&[1; 32]),
                SqliteSynchronous::Normal,
            )
            .await
            .unwrap()
        });
        let Backend::Sqlite(pool) = &store.backend else {
            panic!("an SQLite URL opens SQLite")
        };
        assert_eq!(pool.size(), SQLITE_CONNECTIONS);
        assert_eq!(pool.num_idle(), SQLITE_CONNECTIONS as usize);

        let background = pool.clone();
        std::thread::spawn(move || {
            let tid = rustix::thread::gettid();
            rustix::process::setpriority_process(Some(tid), own_nice + 10).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut held = Vec::new();
                for _ in 0..SQLITE_CONNECTIONS {
                    let mut conn = background.acquire().await.unwrap();
                    sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
                    held.push(conn);
                }
                for mut conn in held {
                    conn.return_to_pool().await;
                }
            });
        })
        .join()
        .unwrap();

        assert_eq!(
            pool.size(),
            SQLITE_CONNECTIONS,
            "no connection was replaced"
        );
        let nices = sqlite_thread_nices();
        assert!(nices.len() >= SQLITE_CONNECTIONS as usize, "{nices:?}");
        assert!(
            nices.iter().all(|&n| n == own_nice),
            "every SQLite worker thread at nice {own_nice}: {nices:?}"
        );
        rt.block_on(store.close());
    }

    /// `[storage] sqlite_synchronous` reaches every connection of the pool: 1 = NORMAL,
    /// 2 = FULL.
    #[tokio::test]
    async fn sqlite_synchronous_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        for (sync, expected) in [(SqliteSynchronous::Normal, 1), (SqliteSynchronous::Full, 2)] {
            let url = format!("sqlite://{}/s{expected}.db", dir.path().display());
            let store = Store::open_with(&url, ServerKey::from_bytes(&[1; 32]), sync)
                .await
                .unwrap();
            let Backend::Sqlite(pool) = &store.backend else {
                panic!("an SQLite URL opens SQLite")
            };
            for pool in [pool, store.sqlite_writer()] {
                let (value,): (i64,) = sqlx::query_as("PRAGMA synchronous")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                assert_eq!(value, expected, "{sync:?}");
            }
            store.close().await;
        }
    }

    /// Writers use the store's own writer connection (with its bigger cache), and `close`
    /// closes it with the others: the last connection to close copies the log back and
    /// removes it.
    #[tokio::test]
    async fn writers_have_a_connection_of_their_own_and_close_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::open_sqlite_in(&dir, "w.db").await;
        let cache = on_pool_write!(store, pool => {
            sqlx::query_as::<_, (i64,)>("PRAGMA cache_size").fetch_one(pool).await
        })
        .unwrap();
        assert_eq!(cache.0.to_string(), super::WRITER_CACHE_KIB);
        store.create_account("w", 1_800_000_000).await.unwrap();
        assert!(dir.path().join("w.db-wal").exists());
        store.close().await;
        assert!(
            !dir.path().join("w.db-wal").exists(),
            "every connection closed, the last one removed the log"
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            super::sqlite_path("sqlite://./data/s.db"),
            Some("./data/s.db")
        );
        assert_eq!(
            super::sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some("/tmp/x.db")
        );
        assert_eq!(super::sqlite_path("sqlite::memory:"), None);
    }
}
