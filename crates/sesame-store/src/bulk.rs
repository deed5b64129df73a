//! Bulk sending's tables: recipient lists (`receivers`) with their addresses
//! (`receiver_details`, appended in one transaction of multi-row INSERTs), and batch tasks
//! (`send_tasks`) with the state the scheduler keeps: status, when it runs next, and the
//! cursor (the last list row fanned out) that makes a run resumable. Only the lease owner
//! writes a task's progress. A chunk's messages are stored without bodies, pointing at the
//! task's frozen snapshot (`task_snapshots`) and carrying the recipient's data; the delivery
//! worker renders them (`queue`). Knows nothing of rendering or sending.

use std::collections::{HashMap, HashSet};

use sqlx::FromRow;

use crate::events::{StatDelta, StatKey, bump_stats_many, domain_of};
use crate::{Result, Store, on_pool, on_pool_write};

/// Where a mail's recipients stand (`Store::recipient_standing`).
#[derive(Debug, Default)]
pub struct Standing {
    /// On the black list or the custom black list.
    pub suppressed: HashSet<String>,
    /// Unsubscribed from the sender domain (lowercased).
    pub unsubscribed: HashSet<String>,
    /// Mails sent to each since the time asked; absent means none.
    pub sent: HashMap<String, i64>,
}

/// Receiver (list) statuses: ReceiversStatus.
pub mod receiver_status {
    pub const AWAITING_UPLOAD: i64 = 1;
    pub const UPLOADING: i64 = 2;
    pub const COMPLETE: i64 = 3;
}

/// Task statuses: TaskStatus.
pub mod task_status {
    pub const WAITING: i64 = 1;
    pub const SENDING: i64 = 5;
    pub const PAUSED: i64 = 6;
    pub const ERROR: i64 = 7;
    pub const FINISHED: i64 = 10;
}

/// Rows bound per INSERT statement (6 parameters each). Statements stay at a few hundred
/// parameters: sqlx binds SQLite's `$N` parameters by name, and SQLite finds each name by
/// scanning the statement's parameter list, so binding costs the square of the parameter
/// count (5 500 parameters spent most of a 500-message chunk's commit there).
const ROWS_PER_INSERT: usize = 100;

/// What `stop_cycles` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCycles {
    /// No further run starts; `run_in_progress` tells whether the current run completes.
    Stopped {
        run_in_progress: bool,
    },
    NotFound,
    /// Not a cyclic task (TaskType 1 or 2): it has no cycles to stop.
    NotCyclic,
    /// Its cycles were already ended (TermCycle, an earlier stop, an error).
    AlreadyOver,
    /// A run is being started this very moment: try again in a few seconds.
    Busy,
}

/// A recipient list with its counts.
#[derive(Debug, Clone, FromRow)]
pub struct Receiver {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub status: i64,
    /// Sorted TemplateData keys of its rows as a JSON array; `None` until a row has data.
    pub data_keys: Option<String>,
    pub created_at: i64,
    /// Rows (valid and invalid).
    pub n_rows: i64,
    pub n_invalid: i64,
}

/// One address of a list.
#[derive(Debug, Clone, FromRow)]
pub struct ReceiverDetail {
    pub id: i64,
    pub email: String,
    pub template_data: Option<String>,
    /// 1 valid, 2 invalid.
    pub status: i64,
    pub reason: String,
    pub created_at: i64,
}

/// An address to append.
#[derive(Debug, Clone)]
pub struct NewDetail {
    pub email: String,
    pub template_data: Option<String>,
    /// 1 valid, 2 invalid (then `reason` says why).
    pub status: i64,
    pub reason: String,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    Done,
    /// No such list in the account.
    NotFound,
    /// The list would hold more than the limit; it holds `existing` rows.
    OverLimit {
        existing: i64,
    },
    /// Earlier rows' TemplateData used other keys (given as their JSON array).
    KeysDiffer {
        expected: String,
    },
}

/// Filters of ListReceiverDetails.
pub struct DetailQuery<'a> {
    pub account_id: i64,
    pub receiver_id: i64,
    /// Substring of the address; empty = any.
    pub email: &'a str,
    pub created_from: Option<i64>,
    pub created_until: Option<i64>,
    /// 0 = any, 1 valid, 2 invalid.
    pub status: i64,
    pub offset: i64,
    pub limit: i64,
}

/// A page of ListReceiverDetails with its counts.
pub struct DetailPage {
    pub rows: Vec<ReceiverDetail>,
    pub total: i64,
    pub n_valid: i64,
    pub n_invalid: i64,
}

/// A batch task as stored. The scheduler changes the fields after `next_run_at` and writes
/// them back with `save_task`.
#[derive(Debug, Clone, FromRow)]
pub struct Task {
    pub id: i64,
    pub account_id: i64,
    pub from_address: String,
    pub receiver_id: i64,
    pub receivers_name: String,
    pub subject: String,
    pub template_id: Option<i64>,
    pub template_data: String,
    pub reply_to: Option<String>,
    pub unsubscribe: Option<i64>,
    pub ad_location: i64,
    /// 1 now, 2 timed, 3 cyclic.
    pub task_type: i64,
    pub begin_at: Option<i64>,
    pub interval_hours: i64,
    pub term_cycle: i64,
    pub created_at: i64,
    pub status: i64,
    /// When the scheduler takes the task up next; `None` = never again.
    pub next_run_at: Option<i64>,
    /// Whether a run (one pass over the list) is in progress.
    pub run_started: bool,
    /// The last `receiver_details.id` of this run already fanned out.
    pub cursor_id: i64,
    pub n_cycles: i64,
    pub request_count: i64,
    pub send_count: i64,
    pub cache_count: i64,
    pub n_suppressed: i64,
    pub n_limited: i64,
    pub n_failed: i64,
    pub err_msg: String,
    pub updated_at: i64,
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub account_id: i64,
    pub from_address: &'a str,
    pub receiver_id: i64,
    pub receivers_name: &'a str,
    pub subject: &'a str,
    pub template_id: Option<i64>,
    pub template_data: &'a str,
    pub reply_to: Option<&'a str>,
    pub unsubscribe: Option<i64>,
    pub ad_location: i64,
    pub task_type: i64,
    pub begin_at: Option<i64>,
    pub interval_hours: i64,
    pub term_cycle: i64,
    /// When it first runs.
    pub next_run_at: i64,
}

/// Filters of ListSendTasks (0 = any).
pub struct TaskQuery {
    pub account_id: i64,
    pub status: i64,
    pub receiver_id: i64,
    pub task_type: i64,
    pub offset: i64,
    pub limit: i64,
}

const TASK_COLUMNS: &str = "id, account_id, from_address, receiver_id, receivers_name, subject, template_id, \
     template_data, reply_to, unsubscribe, ad_location, task_type, begin_at, interval_hours, term_cycle, \
     created_at, status, next_run_at, (run_started <> 0) AS run_started, cursor_id, n_cycles, request_count, \
     send_count, cache_count, n_suppressed, n_limited, n_failed, err_msg, updated_at";

const RECEIVER_COLUMNS: &str = "r.id, r.name, r.description, r.status, r.data_keys, r.created_at, \
     (SELECT COUNT(*) FROM receiver_details d WHERE d.receiver_id = r.id) AS n_rows, \
     (SELECT COUNT(*) FROM receiver_details d WHERE d.receiver_id = r.id AND d.status = 2) AS n_invalid";

/// The UPDATE that writes a task's scheduler state back; bound by `bind_task_save!`.
const SAVE_TASK: &str = "UPDATE send_tasks SET status = $1, next_run_at = $2, run_started = $3, cursor_id = $4, \
     n_cycles = $5, request_count = $6, send_count = $7, cache_count = $8, n_suppressed = $9, \
     n_limited = $10, n_failed = $11, err_msg = $12, updated_at = $13, \
     lease_owner = CASE WHEN $14 IS NULL THEN NULL ELSE lease_owner END, lease_until = $14 \
     WHERE id = $15 AND lease_owner = $16";

macro_rules! bind_task_save {
    ($task:expr, $owner:expr, $lease_until:expr, $now:expr) => {{
        let task: &Task = $task;
        sqlx::query(SAVE_TASK)
            .bind(task.status)
            .bind(task.next_run_at)
            .bind(i64::from(task.run_started))
            .bind(task.cursor_id)
            .bind(task.n_cycles)
            .bind(task.request_count)
            .bind(task.send_count)
            .bind(task.cache_count)
            .bind(task.n_suppressed)
            .bind(task.n_limited)
            .bind(task.n_failed)
            .bind(&task.err_msg)
            .bind($now)
            .bind($lease_until)
            .bind(task.id)
            .bind($owner)
    }};
}

impl Store {
    /// Creates an empty list; `Conflict` when the account has one of that name.
    pub async fn create_receiver(
        &self,
        account_id: i64,
        name: &str,
        description: &str,
        now: i64,
    ) -> Result<i64> {
        let (id,): (i64,) = on_pool_write!(self, pool => {
            sqlx::query_as(
                "INSERT INTO receivers (account_id, name, description, status, created_at) \
                 VALUES ($1, $2, $3, 1, $4) RETURNING id",
            )
            .bind(account_id)
            .bind(name)
            .bind(description)
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(id)
    }

    /// How many lists the account has.
    pub async fn count_receivers(&self, account_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM receivers WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// The account's list `id`.
    pub async fn receiver(&self, account_id: i64, id: i64) -> Result<Option<Receiver>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RECEIVER_COLUMNS} FROM receivers r WHERE r.account_id = $1 AND r.id = $2"
            )))
            .bind(account_id)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// A page of the account's lists, newest first, filtered by status (0 = any) and a
    /// substring of the name, and the total.
    pub async fn list_receivers(
        &self,
        account_id: i64,
        status: i64,
        keyword: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Receiver>, i64)> {
        let condition = "r.account_id = $1 AND ($2 = 0 OR r.status = $2) \
             AND ($3 = '' OR r.name LIKE '%' || $3 || '%')";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RECEIVER_COLUMNS} FROM receivers r WHERE {condition} \
                 ORDER BY r.id DESC LIMIT $4 OFFSET $5"
            )))
            .bind(account_id)
            .bind(status)
            .bind(keyword)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
        })?;
        let (total,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM receivers r WHERE {condition}"
            )))
            .bind(account_id)
            .bind(status)
            .bind(keyword)
            .fetch_one(pool)
            .await
        })?;
        Ok((rows, total))
    }

    /// Deletes a list and its addresses; false when the account has no such list.
    pub async fn delete_receiver(&self, account_id: i64, id: i64) -> Result<bool> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM receivers WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Appends `rows` to a list in one transaction (multi-row INSERTs), unless the list would
    /// then hold more than `max_rows` or, when `keys` is given, earlier rows' TemplateData
    /// used other keys. The list is marked complete (3) in the same transaction, so readers
    /// never see a half-appended list. Concurrent appends to one list run one after the other
    /// (the first statement updates the list's row).
    pub async fn append_receiver_details(
        &self,
        account_id: i64,
        receiver_id: i64,
        rows: &[NewDetail],
        keys: Option<&str>,
        max_rows: i64,
        now: i64,
    ) -> Result<Appended> {
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let found: Option<(Option<String>,)> = sqlx::query_as(
                "UPDATE receivers SET status = 2 WHERE account_id = $1 AND id = $2 RETURNING data_keys",
            )
            .bind(account_id)
            .bind(receiver_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((stored_keys,)) = found else {
                return Ok(Appended::NotFound);
            };
            if let (Some(keys), Some(stored)) = (keys, &stored_keys)
                && keys != stored
            {
                return Ok(Appended::KeysDiffer { expected: stored.clone() });
            }
            let (existing,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM receiver_details WHERE receiver_id = $1")
                    .bind(receiver_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if existing + rows.len() as i64 > max_rows {
                return Ok(Appended::OverLimit { existing });
            }
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let sql = format!(
                    "INSERT INTO receiver_details (receiver_id, email, template_data, status, reason, created_at) VALUES {}",
                    value_rows(chunk.len(), 6, 1, "")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in chunk {
                    query = query
                        .bind(receiver_id)
                        .bind(&row.email)
                        .bind(&row.template_data)
                        .bind(row.status)
                        .bind(&row.reason)
                        .bind(now);
                }
                query.execute(&mut *tx).await?;
            }
            let keys = keys.map(str::to_string).or(stored_keys);
            sqlx::query("UPDATE receivers SET status = 3, data_keys = $1 WHERE id = $2")
                .bind(keys)
                .bind(receiver_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, crate::StoreError>(Appended::Done)
        })
    }

    /// A page of a list's addresses in upload order, and its counts; `None` when the account
    /// has no such list.
    pub async fn list_receiver_details(
        &self,
        query: &DetailQuery<'_>,
    ) -> Result<Option<DetailPage>> {
        if self
            .receiver(query.account_id, query.receiver_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let condition = "receiver_id = $1 AND ($2 = '' OR email LIKE '%' || $2 || '%') \
             AND created_at >= $3 AND created_at < $4";
        let from = query.created_from.unwrap_or(i64::MIN);
        let until = query.created_until.unwrap_or(i64::MAX);
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, email, template_data, status, reason, created_at FROM receiver_details \
                 WHERE {condition} AND ($5 = 0 OR status = $5) ORDER BY id LIMIT $6 OFFSET $7"
            )))
            .bind(query.receiver_id)
            .bind(query.email)
            .bind(from)
            .bind(until)
            .bind(query.status)
            .bind(query.limit)
            .bind(query.offset)
            .fetch_all(pool)
            .await
        })?;
        let (n_valid, n_invalid): (i64, i64) = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COALESCE(SUM(CASE WHEN status = 1 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN status = 2 THEN 1 ELSE 0 END), 0) \
                 FROM receiver_details WHERE {condition}"
            )))
            .bind(query.receiver_id)
            .bind(query.email)
            .bind(from)
            .bind(until)
            .fetch_one(pool)
            .await
        })?;
        let total = match query.status {
            1 => n_valid,
            2 => n_invalid,
            _ => n_valid + n_invalid,
        };
        Ok(Some(DetailPage {
            rows,
            total,
            n_valid,
            n_invalid,
        }))
    }

    /// The next valid addresses of a list after row `after_id`, in upload order.
    pub async fn receiver_details_after(
        &self,
        receiver_id: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ReceiverDetail>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, email, template_data, status, reason, created_at FROM receiver_details \
                 WHERE receiver_id = $1 AND id > $2 AND status = 1 ORDER BY id LIMIT $3",
            )
            .bind(receiver_id)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Valid addresses of a list after row `after_id`.
    pub async fn count_receiver_details_after(
        &self,
        receiver_id: i64,
        after_id: i64,
    ) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM receiver_details WHERE receiver_id = $1 AND id > $2 AND status = 1",
            )
            .bind(receiver_id)
            .bind(after_id)
            .fetch_one(pool)
            .await
        })?;
        Ok(n)
    }

    /// Creates a task waiting for `next_run_at`; returns its TaskId.
    pub async fn create_task(&self, task: &NewTask<'_>, now: i64) -> Result<i64> {
        let (id,): (i64,) = on_pool_write!(self, pool => {
            sqlx::query_as(
                "INSERT INTO send_tasks (account_id, from_address, receiver_id, receivers_name, subject, \
                 template_id, template_data, reply_to, unsubscribe, ad_location, task_type, begin_at, \
                 interval_hours, term_cycle, status, next_run_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $16, $16) RETURNING id",
            )
            .bind(task.account_id)
            .bind(task.from_address)
            .bind(task.receiver_id)
            .bind(task.receivers_name)
            .bind(task.subject)
            .bind(task.template_id)
            .bind(task.template_data)
            .bind(task.reply_to)
            .bind(task.unsubscribe)
            .bind(task.ad_location)
            .bind(task.task_type)
            .bind(task.begin_at)
            .bind(task.interval_hours)
            .bind(task.term_cycle)
            .bind(task.next_run_at)
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(id)
    }

    /// A page of the account's tasks, newest first, and the total.
    pub async fn list_tasks(&self, query: &TaskQuery) -> Result<(Vec<Task>, i64)> {
        let condition = "account_id = $1 AND ($2 = 0 OR status = $2) AND ($3 = 0 OR receiver_id = $3) \
             AND ($4 = 0 OR task_type = $4)";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TASK_COLUMNS} FROM send_tasks WHERE {condition} ORDER BY id DESC LIMIT $5 OFFSET $6"
            )))
            .bind(query.account_id)
            .bind(query.status)
            .bind(query.receiver_id)
            .bind(query.task_type)
            .bind(query.limit)
            .bind(query.offset)
            .fetch_all(pool)
            .await
        })?;
        let (total,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM send_tasks WHERE {condition}"
            )))
            .bind(query.account_id)
            .bind(query.status)
            .bind(query.receiver_id)
            .bind(query.task_type)
            .fetch_one(pool)
            .await
        })?;
        Ok((rows, total))
    }

    /// Tasks due at `now` (waiting, sending or paused) that nobody holds, earliest first.
    pub async fn due_tasks(&self, now: i64, limit: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id FROM send_tasks WHERE next_run_at IS NOT NULL AND next_run_at <= $1 \
                 AND status IN (1, 5, 6) AND (lease_until IS NULL OR lease_until < $1) \
                 ORDER BY next_run_at, id LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Takes the lease of a due task for `owner` until `lease_until`; `None` when it is not
    /// due any more or someone else holds it.
    pub async fn claim_task(
        &self,
        id: i64,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Task>> {
        let row = on_pool_write!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE send_tasks SET lease_owner = $1, lease_until = $2 WHERE id = $3 \
                 AND next_run_at IS NOT NULL AND next_run_at <= $4 AND status IN (1, 5, 6) \
                 AND (lease_until IS NULL OR lease_until < $4) RETURNING {TASK_COLUMNS}"
            )))
            .bind(owner)
            .bind(lease_until)
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Writes the scheduler's state of `task` back and renews (or, with `lease_until`
    /// `None`, releases) the lease; false when `owner` no longer holds it.
    pub async fn save_task(
        &self,
        task: &Task,
        owner: &str,
        lease_until: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let n = on_pool_write!(self, pool => {
            bind_task_save!(task, owner, lease_until, now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Ends a cyclic task's cycles (what TermCycle does at creation): no further run starts.
    /// A task between runs is finished at once; a run in progress (or paused for the quota)
    /// completes. Only `account_id`'s task.
    pub async fn stop_cycles(&self, account_id: i64, task_id: i64, now: i64) -> Result<StopCycles> {
        let stopped: Option<(i64,)> = on_pool_write!(self, pool => sqlx::query_as(
            "UPDATE send_tasks SET term_cycle = 1, \
             status = CASE WHEN run_started = 0 THEN $4 ELSE status END, \
             next_run_at = CASE WHEN run_started = 0 THEN NULL ELSE next_run_at END, \
             updated_at = $3 \
             WHERE id = $1 AND account_id = $2 AND task_type = 3 AND term_cycle = 0 \
             AND status IN (1, 5, 6) AND (run_started = 1 OR lease_until IS NULL OR lease_until < $3) \
             RETURNING run_started",
        )
        .bind(task_id)
        .bind(account_id)
        .bind(now)
        .bind(task_status::FINISHED)
        .fetch_optional(pool)
        .await)?;
        if let Some((run_started,)) = stopped {
            return Ok(StopCycles::Stopped {
                run_in_progress: run_started != 0,
            });
        }
        let found: Option<(i64, i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT task_type, term_cycle, status FROM send_tasks WHERE id = $1 AND account_id = $2",
        )
        .bind(task_id)
        .bind(account_id)
        .fetch_optional(pool)
        .await)?;
        Ok(match found {
            None => StopCycles::NotFound,
            Some((task_type, _, _)) if task_type != 3 => StopCycles::NotCyclic,
            Some((_, term_cycle, status))
                if term_cycle != 0
                    || status == task_status::ERROR
                    || status == task_status::FINISHED =>
            {
                StopCycles::AlreadyOver
            }
            Some(_) => StopCycles::Busy,
        })
    }

    /// Drops every task lease (SQLite, at start: one `sesame serve` per database file, so
    /// leases left by a crashed process are stale).
    pub async fn release_task_leases(&self) -> Result<()> {
        on_pool_write!(self, pool => {
            sqlx::query("UPDATE send_tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}

/// One message of a batch task's chunk: a single accepted recipient, stored without a body
/// ("to render"): the delivery worker renders, signs and stores it at its first attempt
/// (`Store::pending_renders`, `Store::store_rendered`).
#[derive(Debug, Clone)]
pub struct ChunkMessage<'a> {
    /// The API MessageId.
    pub message_id: &'a str,
    /// The RFC 5322 Message-ID the rendered message will carry, fixed now.
    pub header_message_id: &'a str,
    /// The rendered subject (statuses and events show it).
    pub subject: &'a str,
    pub recipient: &'a str,
    pub recipient_domain: &'a str,
    /// The recipient's TemplateData (the task's, overridden by its own), kept with the message
    /// so that deleting the list later changes nothing.
    pub render_data: &'a str,
}

/// A chunk of one task's messages, in list order, sharing the sender, the day and the caps.
#[derive(Debug, Clone)]
pub struct NewChunk<'a> {
    pub task_id: i64,
    /// What rendering needs, frozen (opaque to the store): stored once per task while it
    /// stays the same, and a new row when it changed (a template edited between chunks).
    pub snapshot: &'a str,
    pub account_id: i64,
    pub domain_id: i64,
    pub from_address: &'a str,
    pub template_id: Option<i64>,
    pub trigger_type: i64,
    /// Start of the day whose send counters the messages count in.
    pub day: i64,
    /// Daily caps of the account and the sender domain (`None` = no cap), applied exactly.
    pub account_cap: Option<i64>,
    pub domain_cap: Option<i64>,
    pub messages: Vec<ChunkMessage<'a>>,
}

/// What `enqueue_task_chunk` committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkCommit {
    /// The first `n_queued` messages and the task's progress are committed. `short_of` names
    /// the quota (`"account"` or `"domain"`) that stopped the rest, if one did.
    Committed {
        n_queued: usize,
        short_of: Option<&'static str>,
    },
    /// The caller no longer holds the task's lease: nothing was written.
    LeaseLost,
}

/// Messages bound per multi-row INSERT (11 parameters each for a message, 2 shared; see
/// `ROWS_PER_INSERT` for why statements stay small).
const MESSAGES_PER_INSERT: usize = 50;
/// Addresses bound per look-up statement.
const ADDRESSES_PER_LOOKUP: usize = 200;

/// `$first, $first+1, ...` for `n` parameters.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of a multi-row `VALUES` list: `n` rows of `width` parameters each, numbered on
/// from `$first`, every row ended by `tail` (constant columns or parameters all rows share).
pub(crate) fn value_rows(n: usize, width: usize, first: usize, tail: &str) -> String {
    (0..n)
        .map(|i| format!("({}{tail})", placeholders(first + i * width, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Commits a chunk of a task's messages and the task's progress in ONE transaction, so
    /// that a crash either keeps both or neither: a resumed task starts exactly after the
    /// last committed chunk. The daily caps hold exactly: when the quota cannot take the
    /// whole chunk, the first messages that fit are committed (`short_of` says which quota
    /// stopped the rest). `progress(n)` gives the task's state to save once `n` messages
    /// are committed (its cursor after the recipients those settle). Nothing is written
    /// unless `owner` holds the task's lease.
    pub async fn enqueue_task_chunk(
        &self,
        chunk: &NewChunk<'_>,
        owner: &str,
        lease_until: Option<i64>,
        progress: impl FnOnce(usize) -> Task,
        now: i64,
    ) -> Result<ChunkCommit> {
        let commit = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            // A write first: it takes SQLite's write lock and PostgreSQL's row lock on the
            // task, so the lease check holds until the commit.
            let held = sqlx::query("UPDATE send_tasks SET updated_at = $1 WHERE id = $2 AND lease_owner = $3")
                .bind(now)
                .bind(chunk.task_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if held == 0 {
                tx.rollback().await?;
                return Ok(ChunkCommit::LeaseLost);
            }
            // The room left under each cap, read with the counter row locked (PostgreSQL:
            // the upsert's row lock; SQLite: the write lock taken above).
            let mut n_queued = chunk.messages.len();
            let mut short_of = None;
            let scopes = [
                ("account", chunk.account_id, chunk.account_cap),
                ("domain", chunk.domain_id, chunk.domain_cap),
            ];
            // Both rows are locked now, capped or not: SendEmail's enqueue takes them in this
            // order too, before any statistics row, so neither waits on the other in a circle.
            for (scope, scope_id, cap) in scopes {
                let (accepted,): (i64,) = sqlx::query_as(
                    "INSERT INTO send_counters (scope, scope_id, day, accepted) VALUES ($1, $2, $3, 0) \
                     ON CONFLICT (scope, scope_id, day) DO UPDATE SET accepted = send_counters.accepted \
                     RETURNING accepted",
                )
                .bind(scope)
                .bind(scope_id)
                .bind(chunk.day)
                .fetch_one(&mut *tx)
                .await?;
                let Some(cap) = cap else { continue };
                let room = usize::try_from((cap - accepted).max(0)).unwrap_or(usize::MAX);
                if room < n_queued {
                    n_queued = room;
                    short_of = Some(scope);
                }
            }
            let messages = &chunk.messages[..n_queued];
            // The task's snapshot: the latest row when it is the same, else a new one.
            let snapshot_id = if messages.is_empty() {
                0
            } else {
                let found: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM task_snapshots WHERE task_id = $1 AND snapshot = $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(chunk.task_id)
                .bind(chunk.snapshot)
                .fetch_optional(&mut *tx)
                .await?;
                match found {
                    Some((id,)) => id,
                    None => {
                        let (id,): (i64,) = sqlx::query_as(
                            "INSERT INTO task_snapshots (task_id, account_id, snapshot, created_at) \
                             VALUES ($1, $2, $3, $4) RETURNING id",
                        )
                        .bind(chunk.task_id)
                        .bind(chunk.account_id)
                        .bind(chunk.snapshot)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        id
                    }
                }
            };
            let mut rows: std::collections::HashMap<String, i64> =
                std::collections::HashMap::with_capacity(messages.len());
            for part in messages.chunks(MESSAGES_PER_INSERT) {
                // An empty body and the snapshot to render from.
                let values = value_rows(part.len(), 11, 3, ", $1, $2");
                let sql = format!(
                    "INSERT INTO messages (account_id, message_id, header_message_id, from_address, domain_id, \
                     subject, template_id, trigger_type, render_data, created_at, stat_day, body, render_id) \
                     VALUES {values} RETURNING id, message_id"
                );
                let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql))
                    .bind(Vec::<u8>::new())
                    .bind(snapshot_id);
                for m in part {
                    query = query
                        .bind(chunk.account_id)
                        .bind(m.message_id)
                        .bind(m.header_message_id)
                        .bind(chunk.from_address)
                        .bind(chunk.domain_id)
                        .bind(m.subject)
                        .bind(chunk.template_id)
                        .bind(chunk.trigger_type)
                        .bind(m.render_data)
                        .bind(now)
                        .bind(chunk.day);
                }
                rows.extend(query.fetch_all(&mut *tx).await?.into_iter().map(|(id, mid)| (mid, id)));
            }
            for part in messages.chunks(MESSAGES_PER_INSERT) {
                // Queued (0), no message, the task's priority, due now.
                let values = value_rows(part.len(), 5, 3, ", 0, 0, '', $1, $2, $2, $2, NULL");
                let sql = format!(
                    "INSERT INTO deliveries (message_row, account_id, domain_id, recipient, recipient_domain, \
                     send_status, deliver_status, deliver_message, priority, due_at, created_at, updated_at, body) \
                     VALUES {values}"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(chunk.trigger_type)
                    .bind(now);
                for m in part {
                    let row = rows.get(m.message_id).copied().ok_or_else(|| {
                        sqlx::Error::Protocol(format!("message {} not returned by its insert", m.message_id))
                    })?;
                    query = query
                        .bind(row)
                        .bind(chunk.account_id)
                        .bind(chunk.domain_id)
                        .bind(m.recipient)
                        .bind(m.recipient_domain);
                }
                query.execute(&mut *tx).await?;
            }
            if n_queued > 0 {
                let from_domain = domain_of(chunk.from_address);
                let mut stats: std::collections::BTreeMap<StatKey<'_>, StatDelta> = Default::default();
                for m in messages {
                    let delta = stats
                        .entry((chunk.account_id, chunk.day, from_domain, m.recipient_domain))
                        .or_default();
                    delta.requests += 1;
                    delta.accepted += 1;
                }
                bump_stats_many!(tx, &stats);
                for (scope, scope_id) in [("account", chunk.account_id), ("domain", chunk.domain_id)] {
                    sqlx::query(
                        "INSERT INTO send_counters (scope, scope_id, day, accepted) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (scope, scope_id, day) DO UPDATE SET accepted = send_counters.accepted + excluded.accepted",
                    )
                    .bind(scope)
                    .bind(scope_id)
                    .bind(chunk.day)
                    .bind(n_queued as i64)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let task = progress(n_queued);
            let saved = bind_task_save!(&task, owner, lease_until, now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if saved == 0 {
                tx.rollback().await?;
                return Ok(ChunkCommit::LeaseLost);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ChunkCommit::Committed { n_queued, short_of })
        })?;
        Ok(commit)
    }

    /// Where each of `addresses` stands for a mail of the account from `from_domain` at `now`:
    /// on the black list or custom black list, unsubscribed from the domain (compared
    /// lowercased), and how many mails the account sent it since `since` (the frequency
    /// limit). One statement per 200 addresses, so a SendEmail asks once.
    pub async fn recipient_standing(
        &self,
        account_id: i64,
        from_domain: &str,
        addresses: &[&str],
        now: i64,
        since: i64,
    ) -> Result<Standing> {
        let mut standing = Standing::default();
        for part in addresses.chunks(ADDRESSES_PER_LOOKUP) {
            let list = placeholders(5, part.len());
            let lowered = placeholders(5 + part.len(), part.len());
            let sql = format!(
                "SELECT CAST(1 AS BIGINT), address, CAST(0 AS BIGINT) FROM black_list \
                 WHERE account_id = $1 AND expires_at > $2 AND address IN ({list}) \
                 UNION ALL SELECT CAST(1 AS BIGINT), address, CAST(0 AS BIGINT) FROM custom_black_list \
                 WHERE account_id = $1 AND (expires_at IS NULL OR expires_at > $2) AND address IN ({list}) \
                 UNION ALL SELECT CAST(2 AS BIGINT), recipient, CAST(0 AS BIGINT) FROM unsubscribes \
                 WHERE account_id = $1 AND from_domain = $3 AND recipient IN ({lowered}) \
                 UNION ALL SELECT CAST(3 AS BIGINT), recipient, COUNT(*) FROM deliveries \
                 WHERE account_id = $1 AND created_at >= $4 AND send_status = 0 AND recipient IN ({list}) \
                 GROUP BY recipient"
            );
            let rows: Vec<(i64, String, i64)> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(account_id)
                    .bind(now)
                    .bind(from_domain)
                    .bind(since);
                for address in part {
                    query = query.bind(*address);
                }
                for address in part {
                    query = query.bind(address.to_ascii_lowercase());
                }
                query.fetch_all(pool).await
            })?;
            for (kind, address, n) in rows {
                match kind {
                    1 => {
                        standing.suppressed.insert(address);
                    }
                    2 => {
                        standing.unsubscribed.insert(address);
                    }
                    _ => {
                        standing.sent.insert(address, n);
                    }
                }
            }
        }
        Ok(standing)
    }
}
