//! SQLite's write-ahead log, kept short without a commit ever paying for it.
//!
//! Commits append to the log; a checkpoint copies the log back into the database file. Once
//! a checkpoint has copied all of it, SQLite lets the next writer start the log over from its
//! beginning, and that writer syncs the log's new header (`syncHeader` in SQLite's wal.c, so
//! that a power loss cannot mix old and new frames). The sync writes out every unsynced
//! frame and waits for the disk's cache flush: under load, 45-115 ms measured, while the
//! writer holds the write gate. Left to SQLite, that writer is whichever commit comes first
//! after a complete checkpoint, usually a SendEmail group commit, every ~2 s.
//!
//! `WalKeeper` decides instead when the log starts over, and does it itself:
//! - It *pins* the log: one connection holds a read transaction open. A checkpoint copies
//!   no frame newer than the oldest reader's snapshot, so no checkpoint is complete while
//!   commits come in, and no writer starts the log over.
//! - Each round (`serve`: every second) it moves the pin to the log's head and copies the log
//!   up to it (PASSIVE: beside the writers), then syncs the database file, all off the write
//!   gate. An incomplete checkpoint does not sync the database file itself: syncing it here
//!   keeps what the final copy must sync small.
//! - Once the log holds `RESTART_AFTER_FRAMES`, it starts the log over under the write gate:
//!   it lets go of the pin, copies the frames written since (RESTART: it waits for readers
//!   still on an older snapshot, 10 ms at most, else tries again next round), commits one
//!   row to `wal_restarts` (that commit starts the log over and syncs the header, with little
//!   left to write), and pins the new log before the gate opens again.
//!
//! A pin taken while the whole log is copied (an idle store, or a start-over that a reader
//! held up) holds nothing: SQLite's readers then read the database file alone. Until the next
//! round a commit may start the log over itself, as before; with that little written, its
//! sync is short.
//!
//! The log's frames stay in it until the database file holding their copies is synced
//! (SQLite's own rule: it syncs the database file before a complete checkpoint counts), so
//! nothing here changes what a crash or power loss can take.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::{Backend, Result, Store};

/// The log's length, in frames (pages), from which a round starts it over: 64 MiB of 4 KiB
/// pages, ~2 s of a SendEmail load that saturates this 2-core machine. Below it the round
/// only copies. Each start-over holds the write gate for ~10-20 ms, so the fewer the better,
/// within a bounded log.
const RESTART_AFTER_FRAMES: i64 = 16_384;

/// How long the start-over waits for readers still on an older snapshot of the log.
const RESTART_WAIT: Duration = Duration::from_millis(10);

/// A step slower than this is logged (debug).
const SLOW_STEP: Duration = Duration::from_millis(20);

/// The SQLite database file and its write-ahead log.
#[derive(Debug)]
pub(crate) struct SqliteFiles {
    pub(crate) db: PathBuf,
    pub(crate) wal: PathBuf,
    /// The database file, opened once for `sync_db` and never closed (see `sync_db_file`).
    db_file: std::sync::OnceLock<std::mem::ManuallyDrop<std::fs::File>>,
}

impl SqliteFiles {
    pub(crate) fn of(db: &str) -> SqliteFiles {
        SqliteFiles {
            db: PathBuf::from(db),
            wal: PathBuf::from(format!("{db}-wal")),
            db_file: std::sync::OnceLock::new(),
        }
    }

    /// fdatasync on the database file, through a descriptor this process never closes.
    ///
    /// SQLite's locks are POSIX record locks, which belong to the process: closing ANY
    /// descriptor of a file drops every lock the process holds on it. A sync through a file
    /// opened and closed each time (as `sync_file` does) dropped SQLite's shared lock on the
    /// database; another process closing its last connection (a `sesame` command, a backup,
    /// the `sqlite3` shell) could then take the exclusive lock, copy the log and delete it and
    /// its index, while this process went on with its own unlinked copies: neither saw the
    /// other's commits again, and this process's would be lost. The log itself carries no
    /// lock, so `sync_file` on it is safe.
    fn sync_db_file(&self) -> std::io::Result<bool> {
        let file = match self.db_file.get() {
            Some(file) => file,
            // Never dropped, even when another caller's descriptor wins the race.
            None => match std::fs::File::open(&self.db).map(std::mem::ManuallyDrop::new) {
                Ok(file) => self.db_file.get_or_init(|| file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            },
        };
        file.sync_data().map(|()| true)
    }
}

/// fdatasync on `path`; `Ok(false)` when the file does not exist. Only for a file SQLite
/// takes no lock on (the log): closing it would drop the process's locks on that file.
fn sync_file(path: &std::path::Path) -> std::io::Result<bool> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data().map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

async fn set_busy_timeout(
    conn: &mut sqlx::pool::PoolConnection<Sqlite>,
    wait: Duration,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {}",
        wait.as_millis()
    )))
    .execute(&mut **conn)
    .await?;
    Ok(())
}

/// SQLite's answer to a checkpoint: whether it was blocked, the frames in the log, and how
/// many of them are now in the database file.
#[derive(Clone, Copy, Debug)]
struct Checkpoint {
    busy: bool,
    frames: i64,
    copied: i64,
}

impl Checkpoint {
    /// Every frame is in the database file (and the file synced, by SQLite).
    fn complete(&self) -> bool {
        !self.busy && self.frames >= 0 && self.copied == self.frames
    }
}

async fn checkpoint<'e>(
    conn: impl sqlx::SqliteExecutor<'e>,
    mode: &'static str,
) -> Result<Checkpoint> {
    let started = Instant::now();
    let (busy, frames, copied): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "PRAGMA wal_checkpoint({mode})"
    )))
    .fetch_one(conn)
    .await?;
    let elapsed = started.elapsed();
    let ms = elapsed.as_millis() as u64;
    // The log's length over a load (`sesame_store=trace`), and slow copies (debug).
    tracing::trace!(mode, busy, frames, copied, ms, "WAL checkpoint");
    if elapsed > SLOW_STEP {
        tracing::debug!(mode, busy, frames, copied, ms, "long WAL checkpoint");
    }
    Ok(Checkpoint {
        busy: busy != 0,
        frames,
        copied,
    })
}

/// Keeps the SQLite log short (see the module). One per process: `Store::wal_keeper`.
pub struct WalKeeper {
    store: Store,
    pool: SqlitePool,
    /// The read transaction that pins the log, while held.
    pin: Option<Transaction<'static, Sqlite>>,
    /// `RESTART_AFTER_FRAMES` (tests use less).
    restart_after: i64,
}

impl Store {
    /// The keeper of this store's SQLite log; `None` on PostgreSQL.
    pub fn wal_keeper(&self) -> Option<WalKeeper> {
        match &self.backend {
            Backend::Sqlite(pool) => Some(WalKeeper {
                store: self.clone(),
                pool: pool.clone(),
                pin: None,
                restart_after: RESTART_AFTER_FRAMES,
            }),
            Backend::Postgres(_) => None,
        }
    }

    /// Writes what the SQLite write-ahead log holds to the disk (fdatasync on the log's file,
    /// beside SQLite: no lock taken, nothing waits for it). `serve` calls it every 50 ms on
    /// the default `sqlite_synchronous = "normal"`: an OS crash or power loss can then take
    /// only the last ~50 ms of commits, not up to a second, and no sync of SQLite's own finds
    /// a second of frames to write out. Blocking; `Ok(false)` when there is no log to sync
    /// (PostgreSQL, or not created yet).
    pub fn sync_wal(&self) -> std::io::Result<bool> {
        match &self.files {
            Some(files) => sync_file(&files.wal),
            None => Ok(false),
        }
    }
}

impl WalKeeper {
    /// One round: copies the log up to its head, and starts it over once it is long (see the
    /// module). On an error the log is left unpinned: SQLite then starts it over itself.
    pub async fn round(&mut self) -> Result<()> {
        let copy = self.copy().await?;
        if copy.busy || copy.frames < self.restart_after {
            return Ok(());
        }
        // Again, for what came in meanwhile: the copy under the gate is then of a few
        // milliseconds of commits.
        self.copy().await?;
        let started = Instant::now();
        let store = self.store.clone();
        let turn = store.write_gate("wal::restart").await;
        self.unpin().await;
        let last = self.start_over().await;
        let pinned = self.pin().await;
        drop(turn);
        let (last, ()) = (last?, pinned?);
        let ms = started.elapsed().as_millis() as u64;
        if last.complete() {
            tracing::trace!(ms, frames = last.frames, "WAL started over");
        } else {
            tracing::debug!(
                ms,
                busy = last.busy,
                frames = last.frames,
                copied = last.copied,
                "WAL not started over: a reader is on an older snapshot; next round"
            );
        }
        Ok(())
    }

    /// Under the gate, unpinned: the last copy, then the commit that starts the log over, on
    /// the writers' connection like every write behind the gate (its cache then stays valid).
    /// That connection waits `RESTART_WAIT` at most for readers on an older snapshot, not the
    /// store's busy timeout: a long reader (a backup's, a big console query's) then costs a
    /// round, not seconds of the write gate.
    async fn start_over(&self) -> Result<Checkpoint> {
        let mut conn = self.store.sqlite_writer().acquire().await?;
        set_busy_timeout(&mut conn, RESTART_WAIT).await?;
        let last = async {
            let last = checkpoint(&mut *conn, "RESTART").await?;
            if last.complete() {
                // The log is copied and no reader is on it: this commit starts it over.
                sqlx::query(
                    "INSERT INTO wal_restarts (id, n) VALUES (1, 1) \
                     ON CONFLICT (id) DO UPDATE SET n = wal_restarts.n + 1",
                )
                .execute(&mut *conn)
                .await?;
            }
            Ok::<_, crate::StoreError>(last)
        }
        .await;
        if let Err(e) = set_busy_timeout(&mut conn, crate::BUSY_TIMEOUT).await {
            // Not back in the pool with the short wait.
            conn.close_on_drop();
            return Err(e);
        }
        last
    }

    /// Moves the pin to the log's head and copies the log up to it, off the gate.
    async fn copy(&mut self) -> Result<Checkpoint> {
        self.unpin().await;
        self.pin().await?;
        let copy = checkpoint(&self.pool, "PASSIVE").await?;
        self.sync_db().await?;
        Ok(copy)
    }

    /// Ends the pin, so that the store can close.
    pub async fn close(mut self) {
        self.unpin().await;
    }

    async fn pin(&mut self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // A read transaction starts at its first read, on the log's newest snapshot.
        sqlx::query("SELECT count(*) FROM wal_restarts")
            .execute(&mut *tx)
            .await?;
        self.pin = Some(tx);
        Ok(())
    }

    async fn unpin(&mut self) {
        if let Some(tx) = self.pin.take()
            && let Err(e) = tx.rollback().await
        {
            tracing::warn!(error = %e, "ending the WAL pin");
        }
    }

    /// Syncs the database file, to which the round's copy wrote.
    async fn sync_db(&self) -> Result<()> {
        let Some(files) = self.store.files.clone() else {
            return Ok(());
        };
        let started = Instant::now();
        tokio::task::spawn_blocking(move || files.sync_db_file())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|synced| synced)
            .map_err(|e| crate::StoreError::Database(sqlx::Error::Io(e)))?;
        let elapsed = started.elapsed();
        if elapsed > SLOW_STEP {
            tracing::debug!(
                ms = elapsed.as_millis() as u64,
                "long sync of the database file"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::SqlitePool;

    use super::{Checkpoint, WalKeeper, checkpoint};
    use crate::{Backend, Store};

    fn sqlite(store: &Store) -> &SqlitePool {
        let Backend::Sqlite(pool) = &store.backend else {
            unreachable!("the tests open SQLite stores")
        };
        pool
    }

    /// A PASSIVE checkpoint from any connection (it copies as much as the readers allow).
    async fn log_state(store: &Store) -> Checkpoint {
        let pool = sqlite(store);
        checkpoint(pool, "PASSIVE").await.unwrap()
    }

    async fn restarts(store: &Store) -> i64 {
        let pool = sqlite(store);
        let (n,): (i64,) = sqlx::query_as("SELECT coalesce(max(n), 0) FROM wal_restarts")
            .fetch_one(pool)
            .await
            .unwrap();
        n
    }

    async fn write_pages(store: &Store, rows: usize) {
        let pool = sqlite(store);
        for _ in 0..rows {
            sqlx::query("INSERT INTO filler (x) VALUES (randomblob(3000))")
                .execute(pool)
                .await
                .unwrap();
        }
    }

    /// `sync_wal` syncs the log of an SQLite store once it exists, and says when there is
    /// none.
    #[tokio::test]
    async fn sync_wal_finds_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::open_sqlite_in(&dir, "w.db").await;
        assert!(
            dir.path().join("w.db-wal").exists(),
            "WAL mode makes the log"
        );
        assert!(store.sync_wal().unwrap());
        store.close().await;
        std::fs::remove_file(dir.path().join("w.db-wal")).ok();
        assert!(!store.sync_wal().unwrap(), "no log, nothing to sync");
    }

    /// A new store in `dir` with a `filler` table, and its keeper, which starts the log over
    /// from 100 frames, after a first round (the migrations' frames may make it start the log
    /// over already); with the start-overs counted so far.
    async fn store_and_keeper(dir: &tempfile::TempDir) -> (Store, WalKeeper, i64) {
        let store = crate::open_sqlite_in(dir, "k.db").await;
        let pool = sqlite(&store);
        sqlx::query("CREATE TABLE filler (x BLOB)")
            .execute(pool)
            .await
            .unwrap();
        let mut keeper = store.wal_keeper().expect("SQLite has a log to keep");
        keeper.restart_after = 100;
        keeper.round().await.unwrap();
        let before = restarts(&store).await;
        (store, keeper, before)
    }

    /// While the keeper pins the log, no checkpoint copies all of it and no commit starts it
    /// over; the keeper's round does, once the log is long, and every row stays.
    #[tokio::test]
    async fn only_the_keeper_starts_the_log_over() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut keeper, before) = store_and_keeper(&dir).await;
        let pool = sqlite(&store);
        let pinned_at = log_state(&store).await.frames;

        write_pages(&store, 60).await;
        let first = log_state(&store).await;
        assert!(!first.complete(), "the pin holds the copy back: {first:?}");
        write_pages(&store, 60).await;
        let second = log_state(&store).await;
        assert!(
            second.frames > first.frames && first.frames > pinned_at,
            "commits append, none starts the log over: {pinned_at}, {first:?}, {second:?}"
        );
        assert!(second.frames >= 100, "{second:?}");

        keeper.round().await.unwrap();
        assert_eq!(
            restarts(&store).await,
            before + 1,
            "the round started the log over"
        );
        let after = log_state(&store).await;
        assert!(
            after.frames < 10,
            "the log holds only the keeper's commit: {after:?}"
        );
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM filler")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(rows, 120);

        // A short log is copied, not started over.
        write_pages(&store, 5).await;
        keeper.round().await.unwrap();
        assert_eq!(restarts(&store).await, before + 1);

        keeper.close().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), store.close())
            .await
            .expect("with the pin ended, the store closes");
    }

    /// A reader on an old snapshot (a backup's, say) keeps the log from starting over, but the
    /// round waits for it only briefly, not the store's busy timeout, and the next round after
    /// it ends starts the log over.
    #[tokio::test]
    async fn a_long_reader_costs_a_round_not_the_gate() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut keeper, before) = store_and_keeper(&dir).await;
        let pool = sqlite(&store);

        let mut reader = pool.begin().await.unwrap();
        sqlx::query("SELECT count(*) FROM filler")
            .execute(&mut *reader)
            .await
            .unwrap();
        write_pages(&store, 150).await;
        let started = std::time::Instant::now();
        keeper.round().await.unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "the round did not wait out the busy timeout: {:?}",
            started.elapsed()
        );
        assert_eq!(restarts(&store).await, before, "the reader held the log");

        reader.rollback().await.unwrap();
        keeper.round().await.unwrap();
        assert_eq!(restarts(&store).await, before + 1);
        keeper.close().await;
        store.close().await;
    }
}
