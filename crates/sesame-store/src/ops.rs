//! Operations: the readiness probe, queue statistics for `/metrics`, the retention purges
//! and the online SQLite backup. Purges work in batches of at most `limit` rows per
//! statement, each its own short transaction, so live traffic is never held up for long.

use sqlx::FromRow;

use crate::{Backend, Result, Store, StoreError, on_pool, on_pool_write};

/// What the queue holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Deliveries not final yet (due now, deferred or leased).
    pub depth: i64,
    /// `created_at` of the oldest of them.
    pub oldest_created_at: Option<i64>,
    /// The largest destination domains by depth, then `("other", rest)` if any remain.
    pub by_domain: Vec<(String, i64)>,
}

#[derive(FromRow)]
struct DepthRow {
    depth: i64,
    oldest: Option<i64>,
}

impl Store {
    /// A trivial query: the store answers.
    pub async fn probe(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Depth, oldest age and per-domain depth of the queue, the domains cut to `shown`.
    pub async fn queue_stats(&self, shown: usize) -> Result<QueueStats> {
        let row: DepthRow = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM deliveries WHERE due_at IS NOT NULL",
        )
        .fetch_one(pool)
        .await)?;
        let mut by_domain: Vec<(String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT recipient_domain, COUNT(*) AS n FROM deliveries WHERE due_at IS NOT NULL \
             GROUP BY recipient_domain ORDER BY n DESC, recipient_domain LIMIT $1",
        )
        .bind(shown as i64)
        .fetch_all(pool)
        .await)?;
        let listed: i64 = by_domain.iter().map(|(_, n)| n).sum();
        if row.depth > listed {
            by_domain.push(("other".into(), row.depth - listed));
        }
        Ok(QueueStats {
            depth: row.depth,
            oldest_created_at: row.oldest,
            by_domain,
        })
    }

    /// Empties the signed bodies (the message's and the per-recipient copies) of up to
    /// `limit` finished messages created before `before`; returns how many.
    pub async fn purge_bodies(&self, before: i64, limit: u32) -> Result<u64> {
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let ids: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(finished_before("AND length(body) > 0")))
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            let list = id_list(&ids);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE deliveries SET body = NULL WHERE message_row IN ({list}) AND body IS NOT NULL"
            )))
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE messages SET body = $1 WHERE id IN ({list})"
            )))
            .bind(Vec::<u8>::new())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Deletes up to `limit` finished messages created before `before`, with their
    /// per-recipient statuses; returns how many messages.
    pub async fn purge_messages(&self, before: i64, limit: u32) -> Result<u64> {
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let ids: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(finished_before("")))
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            let list = id_list(&ids);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE complaints SET delivery_id = NULL WHERE delivery_id IN \
                 (SELECT id FROM deliveries WHERE message_row IN ({list}))"
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM deliveries WHERE message_row IN ({list})"
            )))
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM messages WHERE id IN ({list})"
            )))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Deletes up to `limit` complaint reports received before `before`, and up to `limit`
    /// callback events created before it that were never accepted; returns how many rows.
    pub async fn purge_events(&self, before: i64, limit: u32) -> Result<u64> {
        let complaints = on_pool_write!(self, pool => sqlx::query(
            "DELETE FROM complaints WHERE id IN \
             (SELECT id FROM complaints WHERE complain_time < $1 ORDER BY complain_time LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(pool)
        .await?
        .rows_affected());
        let outbox = on_pool_write!(self, pool => sqlx::query(
            "DELETE FROM event_outbox WHERE id IN \
             (SELECT id FROM event_outbox WHERE created_at < $1 AND lease_owner IS NULL ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(complaints + outbox)
    }

    /// Deletes up to `limit` daily statistics rows of days starting before `before`, and
    /// the per-day send counters as old; returns how many statistics rows.
    pub async fn purge_statistics(&self, before: i64, limit: u32) -> Result<u64> {
        let n = on_pool_write!(self, pool => sqlx::query(
            "DELETE FROM daily_stats WHERE (account_id, day, from_domain, rcpt_domain) IN \
             (SELECT account_id, day, from_domain, rcpt_domain FROM daily_stats WHERE day < $1 ORDER BY day LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(pool)
        .await?
        .rows_affected());
        on_pool_write!(self, pool => sqlx::query("DELETE FROM send_counters WHERE day < $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(n)
    }

    /// Deletes up to `limit` frozen batch-task snapshots made before `before` that nothing
    /// needs any more: no message still renders from them and their task is over (finished
    /// or stopped with an error) or gone. A running or cyclic task keeps its snapshot, which
    /// its next chunk may reuse.
    pub async fn purge_snapshots(&self, before: i64, limit: u32) -> Result<u64> {
        let n = on_pool_write!(self, pool => sqlx::query(
            "DELETE FROM task_snapshots WHERE id IN (SELECT s.id FROM task_snapshots s \
             WHERE s.created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.render_id = s.id) \
             AND NOT EXISTS (SELECT 1 FROM send_tasks t WHERE t.id = s.task_id AND t.status NOT IN ($2, $3)) \
             ORDER BY s.id LIMIT $4)",
        )
        .bind(before)
        .bind(crate::bulk::task_status::ERROR)
        .bind(crate::bulk::task_status::FINISHED)
        .bind(i64::from(limit))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n)
    }

    /// Deletes black-list entries that expired before `now` (they no longer refuse mail).
    pub async fn purge_expired_black_list(&self, now: i64, limit: u32) -> Result<u64> {
        let n = on_pool_write!(self, pool => sqlx::query(
            "DELETE FROM black_list WHERE (account_id, address) IN \
             (SELECT account_id, address FROM black_list WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(now)
        .bind(i64::from(limit))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n)
    }

    /// Writes a consistent copy of a SQLite store to `path` while it is in use
    /// (`VACUUM INTO`: one read transaction, so the copy is a snapshot). The file must not
    /// exist. PostgreSQL stores are backed up with `pg_dump`.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<()> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Err(StoreError::Open(
                "`sesame backup` copies SQLite stores; back up PostgreSQL with pg_dump (see docs/operations.md)".into(),
            ));
        };
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Open(format!("{} is not a UTF-8 path", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// `PRAGMA integrity_check` of a SQLite store: `ok` or the problems found.
    pub async fn integrity_check(&self) -> Result<String> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Ok("ok".into());
        };
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(line,)| line)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// The query of up to `$2` finished messages (no delivery left in the queue) created before
/// `$1`, oldest first, with `extra` (a constant condition) added.
fn finished_before(extra: &str) -> String {
    format!(
        "SELECT id FROM messages m WHERE created_at < $1 {extra} \
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_row = m.id AND d.due_at IS NOT NULL) \
         ORDER BY created_at LIMIT $2"
    )
}

/// `1,2,3` from row ids (integers: nothing a caller controls reaches the SQL text).
fn id_list(ids: &[(i64,)]) -> String {
    ids.iter()
        .map(|(id,)| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
