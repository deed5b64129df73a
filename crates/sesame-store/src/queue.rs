//! The durable queue: a message (signed bytes, stored once) and one delivery row per recipient.
//! `Store::enqueue` (in `intake`, which group-commits concurrent messages) writes both in one
//! transaction, so an acknowledged message is on disk with every recipient. Workers claim due
//! rows by setting a lease (owner + expiry) in one statement (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several processes can share the work), deliver with no transaction open,
//! and record the outcomes of a connection in one short transaction that only the lease owner
//! can make. A lease that expires (crashed worker) makes the row due again. `enqueue` and
//! `record_attempts` also queue the events they cause and bump the statistics counters in
//! their own transactions (see `events`).

use std::collections::{BTreeMap, HashMap};

use sesame_core::event::EventKind;
use sqlx::FromRow;

use crate::bulk::placeholders;
use crate::events::{
    StatDelta, StatKey, bump_stats_many, callback_urls, domain_of, event_of, insert_event,
};
use crate::inbound::{DeliveryInfo, INFO_SELECT};
use crate::{Backend, Result, Store, on_pool, on_pool_write};

/// Delivery status as the API shows it (`DeliverStatus`).
pub mod deliver_status {
    pub const QUEUED: i64 = 0;
    pub const DELIVERED: i64 = 1;
    pub const DROPPED: i64 = 2;
    pub const BOUNCED: i64 = 3;
    pub const DEFERRED: i64 = 8;
}

/// A message to store.
pub struct NewMessage<'a> {
    pub account_id: i64,
    pub message_id: &'a str,
    pub header_message_id: &'a str,
    pub from_address: &'a str,
    pub domain_id: i64,
    pub subject: &'a str,
    pub template_id: Option<i64>,
    pub trigger_type: i64,
    pub body: &'a [u8],
    /// The bodies (this one and the deliveries' own copies) are stored unsigned: the
    /// delivery worker signs each attempt's copy with the sender domain's key(s).
    pub sign_pending: bool,
    /// Start of the day (API time zone) whose send counters the accepted recipients count in.
    pub day: i64,
    /// Daily caps checked atomically with the counters: the account's and the sender domain's
    /// (`None` = no cap). The enqueue fails with `StoreError::QuotaExceeded` rather than go over.
    pub account_cap: Option<i64>,
    pub domain_cap: Option<i64>,
}

/// One recipient of a new message. A refused recipient (`send_status` ≠ 0) is stored already
/// final (dropped) so that its status can be queried.
pub struct NewDelivery<'a> {
    pub recipient: &'a str,
    pub recipient_domain: &'a str,
    pub send_status: i64,
    pub deliver_message: &'a str,
    /// This recipient's own signed copy (its tracking and unsubscribe links), when the message
    /// is personalised; `None` sends the message's body.
    pub body: Option<&'a [u8]>,
}

/// A delivery claimed by a worker.
#[derive(Debug, Clone, FromRow)]
pub struct LeasedDelivery {
    pub id: i64,
    pub message_row: i64,
    pub account_id: i64,
    pub recipient: String,
    pub recipient_domain: String,
    pub n_attempts: i64,
    pub created_at: i64,
    /// The delivery has its own copy of the message (`delivery_bodies`).
    pub own_body: bool,
    /// The message (a batch task's recipient copy) is still to be rendered and signed from
    /// its task's snapshot (`pending_renders`, then `store_rendered`).
    pub to_render: bool,
    /// The sender domain whose key(s) sign the copy at each attempt, when the message was
    /// stored unsigned (`NewMessage::sign_pending`).
    pub sign_domain: Option<i64>,
    /// The API MessageId, for log lines an operator can follow.
    pub message_id: String,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    Delivered {
        reply: String,
    },
    /// Try again at `retry_at`.
    Deferred {
        reason: String,
        retry_at: i64,
    },
    /// Never sent: the message could not be built at its first attempt (a batch task's copy
    /// whose domain or DKIM key is gone). Final: the status shows dropped (2), the event is
    /// `dropped`, and it counts as bounced (not delivered).
    Unsendable {
        reason: String,
    },
    /// Final refusal by the remote side (5xx); `hard` when the address is bad.
    Bounced {
        reason: String,
        hard: bool,
    },
    /// Deferred past the queue lifetime: given up. The status shows bounced (3) and counts as
    /// bounced; the event is `dropped` (Tencent's "not sent").
    Expired {
        reason: String,
    },
}

/// One row of GetSendEmailStatus.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryStatus {
    pub message_id: String,
    pub recipient: String,
    pub from_address: String,
    pub send_status: i64,
    pub deliver_status: i64,
    pub deliver_message: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// 1 once the recipient complained (an ARF report).
    pub complained: i64,
    /// Opens and clicks seen, and 1 once unsubscribed.
    pub opened: i64,
    pub clicked: i64,
    pub unsubscribed: i64,
}

/// One day of a sender domain's traffic.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct DomainDayCounts {
    pub accepted: i64,
    pub delivered: i64,
    pub bounced: i64,
}

/// Filters of a status query.
pub struct StatusQuery<'a> {
    pub account_id: i64,
    pub from: i64,
    pub until: i64,
    pub message_id: Option<&'a str>,
    pub recipient: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
}

const LEASE_COLUMNS: &str = "id, message_row, account_id, recipient, recipient_domain, \
     n_attempts, created_at, body IS NOT NULL AS own_body, \
     (SELECT m.render_id IS NOT NULL FROM messages m WHERE m.id = message_row) AS to_render, \
     (SELECT CASE WHEN m.sign_pending = 1 THEN m.domain_id END FROM messages m WHERE m.id = message_row) AS sign_domain, \
     (SELECT m.message_id FROM messages m WHERE m.id = message_row) AS message_id";

/// A message still to be rendered: what its row says (`Store::pending_renders`).
#[derive(Debug, Clone, FromRow)]
pub struct PendingRender {
    pub message_row: i64,
    pub message_id: String,
    pub header_message_id: String,
    /// The `task_snapshots` row to render from.
    pub render_id: i64,
    /// The recipient's merged TemplateData.
    pub render_data: String,
    /// When it was fanned out: the message's Date.
    pub created_at: i64,
}

/// Messages whose bodies are stored per multi-row UPDATE (2 parameters each; few, as binding
/// SQLite parameters costs the square of their count, see `bulk::ROWS_PER_INSERT`).
const BODIES_PER_UPDATE: usize = 100;

/// Deliveries updated per multi-row UPDATE (5 parameters each).
const ATTEMPTS_PER_UPDATE: usize = 50;

/// Rows read per `IN (...)` look-up.
const ROWS_PER_LOOKUP: usize = 100;

/// A delivery's new status, message (at most 1 000 characters), due time and delivery time
/// for `attempt`.
fn attempt_columns(attempt: &Attempt, now: i64) -> (i64, String, Option<i64>, Option<i64>) {
    let (status, message, due_at, delivered_at) = match attempt {
        Attempt::Delivered { reply } => {
            (deliver_status::DELIVERED, reply.as_str(), None, Some(now))
        }
        Attempt::Deferred { reason, retry_at } => (
            deliver_status::DEFERRED,
            reason.as_str(),
            Some(*retry_at),
            None,
        ),
        Attempt::Bounced { reason, .. } | Attempt::Expired { reason } => {
            (deliver_status::BOUNCED, reason.as_str(), None, None)
        }
        Attempt::Unsendable { reason } => (deliver_status::DROPPED, reason.as_str(), None, None),
    };
    (
        status,
        message.chars().take(1000).collect(),
        due_at,
        delivered_at,
    )
}

impl Store {
    /// Claims up to `limit` due deliveries for `owner` until `lease_until`, transactional
    /// mail first, then the longest waiting.
    ///
    /// One priority at a time, highest first, each in due order on `deliveries_next`: a lease
    /// reads the rows it takes (and those leased already), never every due row, and deferred
    /// rows (due later) cost nothing. Priorities are trigger types (0, 1); the next one down
    /// is found through the same index, so no value is ever skipped.
    pub async fn lease_due(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<LeasedDelivery>> {
        // Rows another worker holds are skipped on PostgreSQL; SQLite has one writer at a
        // time, so the sub-select and the update cannot interleave.
        let lock = match self.backend {
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite(_) => "",
        };
        let take = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (\
             SELECT id FROM deliveries WHERE priority = $3 AND due_at <= $4 \
             AND (lease_until IS NULL OR lease_until < $4) ORDER BY due_at LIMIT $5{lock}) \
             RETURNING {LEASE_COLUMNS}"
        );
        let rows = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let mut leased: Vec<LeasedDelivery> = Vec::new();
            let mut below = i64::MAX;
            while (leased.len() as i64) < limit {
                let (next,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MAX(priority) FROM deliveries WHERE due_at IS NOT NULL AND priority < $1",
                )
                .bind(below)
                .fetch_one(&mut *tx)
                .await?;
                let Some(priority) = next else { break };
                let rows: Vec<LeasedDelivery> = sqlx::query_as(sqlx::AssertSqlSafe(take.clone()))
                    .bind(owner)
                    .bind(lease_until)
                    .bind(priority)
                    .bind(now)
                    .bind(limit - leased.len() as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                leased.extend(rows);
                below = priority;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(leased)
        })?;
        Ok(rows)
    }

    /// The stored (signed) bytes of a message.
    pub async fn message_body(&self, message_row: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .message_bodies(&[message_row])
            .await?
            .remove(&message_row))
    }

    /// The stored bytes of each of `message_rows` that has them, by row (one statement per
    /// 100 rows).
    pub async fn message_bodies(&self, message_rows: &[i64]) -> Result<HashMap<i64, Vec<u8>>> {
        self.bodies_of("messages", message_rows).await
    }

    /// The own copy of each of `delivery_ids` that has one (a personalised message), by id.
    pub async fn delivery_bodies(&self, delivery_ids: &[i64]) -> Result<HashMap<i64, Vec<u8>>> {
        self.bodies_of("deliveries", delivery_ids).await
    }

    async fn bodies_of(&self, table: &'static str, ids: &[i64]) -> Result<HashMap<i64, Vec<u8>>> {
        let select = format!("SELECT id, body FROM {table} WHERE body IS NOT NULL AND id IN");
        let rows: Vec<(i64, Vec<u8>)> = self.by_ids(&select, ids).await?;
        Ok(rows.into_iter().collect())
    }

    /// Of `message_rows`, those still to be rendered, with what rendering them needs. A row
    /// rendered meanwhile (by an earlier lease that stored its bytes) is not returned: its
    /// stored body is sent.
    pub async fn pending_renders(&self, message_rows: &[i64]) -> Result<Vec<PendingRender>> {
        self.by_ids(
            "SELECT id AS message_row, message_id, header_message_id, render_id, \
             COALESCE(render_data, '') AS render_data, created_at \
             FROM messages WHERE render_id IS NOT NULL AND id IN",
            message_rows,
        )
        .await
    }

    /// The rows `select` (a query ending in `... id IN`) finds for `ids`, one statement per
    /// `ROWS_PER_LOOKUP` of them.
    pub(crate) async fn by_ids<T>(&self, select: &str, ids: &[i64]) -> Result<Vec<T>>
    where
        T: Send
            + Unpin
            + for<'r> FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> FromRow<'r, sqlx::postgres::PgRow>,
    {
        let mut found = Vec::with_capacity(ids.len());
        for part in ids.chunks(ROWS_PER_LOOKUP) {
            let sql = format!("{select} ({})", placeholders(1, part.len()));
            let rows: Vec<T> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in part {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await
            })?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// A batch task's frozen snapshot (`task_snapshots.snapshot`), if it still exists.
    pub async fn task_snapshot(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT snapshot FROM task_snapshots WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(s,)| s))
    }

    /// Stores rendered, signed bodies of messages still to be rendered and marks them
    /// rendered, in one statement per 200 messages (`UPDATE .. FROM (VALUES ..)`). Returns
    /// the rows it stored; a row missing from the answer was rendered and stored by someone
    /// else first, and its stored body (`message_body`) is the one to send.
    pub async fn store_rendered(&self, bodies: &[(i64, Vec<u8>)]) -> Result<Vec<i64>> {
        let mut stored = Vec::with_capacity(bodies.len());
        for part in bodies.chunks(BODIES_PER_UPDATE) {
            let values = (0..part.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE messages SET body = v.column2, render_id = NULL FROM (VALUES {values}) AS v \
                 WHERE messages.id = v.column1 AND messages.render_id IS NOT NULL RETURNING messages.id"
            );
            let rows: Vec<(i64,)> = on_pool_write!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for (id, body) in part {
                    query = query.bind(*id).bind(body.as_slice());
                }
                query.fetch_all(pool).await
            })?;
            stored.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(stored)
    }

    /// Records an attempt of a delivery leased by `owner`, with its event and statistics, in
    /// one transaction. Returns false when the lease was lost (expired and taken by another
    /// worker, or a DSN bounced the delivery meanwhile): the outcome is then not recorded.
    pub async fn record_attempt(
        &self,
        delivery_id: i64,
        owner: &str,
        attempt: &Attempt,
        now: i64,
    ) -> Result<bool> {
        let kept = self
            .record_attempts(owner, &[(delivery_id, attempt)], now)
            .await?;
        Ok(kept.first().copied().unwrap_or(false))
    }

    /// Records the attempts of several deliveries leased by `owner` (those of one
    /// connection), with their events and statistics, in ONE transaction: the facts of all of
    /// them in one look-up, the counters summed per row, each callback looked up once.
    /// Returns, per attempt, whether it was recorded (false: the lease was lost, as for
    /// `record_attempt`).
    pub async fn record_attempts(
        &self,
        owner: &str,
        attempts: &[(i64, &Attempt)],
        now: i64,
    ) -> Result<Vec<bool>> {
        let mut kept = vec![false; attempts.len()];
        if attempts.is_empty() {
            return Ok(kept);
        }
        let columns: Vec<_> = attempts
            .iter()
            .map(|(_, attempt)| attempt_columns(attempt, now))
            .collect();
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            // Every row in one statement per part; a row whose lease was lost is not returned.
            let mut updated: std::collections::HashSet<i64> = std::collections::HashSet::new();
            let rows: Vec<_> = attempts.iter().zip(&columns).collect();
            for part in rows.chunks(ATTEMPTS_PER_UPDATE) {
                let values = crate::bulk::value_rows(part.len(), 5, 3, "");
                let mut query = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET deliver_status = v.column2, deliver_message = v.column3, \
                     due_at = v.column4, delivered_at = v.column5, n_attempts = n_attempts + 1, \
                     lease_owner = NULL, lease_until = NULL, updated_at = $1 \
                     FROM (VALUES {values}) AS v \
                     WHERE deliveries.id = v.column1 AND deliveries.lease_owner = $2 RETURNING deliveries.id"
                )))
                .bind(now)
                .bind(owner);
                for ((delivery_id, _), (status, message, due_at, delivered_at)) in part {
                    query = query
                        .bind(*delivery_id)
                        .bind(*status)
                        .bind(message)
                        .bind(*due_at)
                        .bind(*delivered_at);
                }
                updated.extend(query.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id));
            }
            for (i, (delivery_id, _)) in attempts.iter().enumerate() {
                kept[i] = updated.contains(delivery_id);
            }
            let ids: Vec<i64> = attempts
                .iter()
                .zip(&kept)
                .filter(|(_, kept)| **kept)
                .map(|((id, _), _)| *id)
                .collect();
            let mut infos: HashMap<i64, DeliveryInfo> = HashMap::with_capacity(ids.len());
            for part in ids.chunks(ROWS_PER_LOOKUP) {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{INFO_SELECT} WHERE d.id IN ({})",
                    placeholders(1, part.len())
                )));
                for id in part {
                    query = query.bind(*id);
                }
                let rows: Vec<DeliveryInfo> = query.fetch_all(&mut *tx).await?;
                infos.extend(rows.into_iter().map(|info| (info.id, info)));
            }
            // A leased delivery is queued or deferred (final rows have no due time and are
            // never leased), so its outcome is its first count.
            let mut stats: BTreeMap<StatKey<'_>, StatDelta> = BTreeMap::new();
            let callbacks = callback_urls!(tx, infos.values().map(|info| info.account_id));
            for (i, (delivery_id, attempt)) in attempts.iter().enumerate() {
                let Some(info) = kept[i].then(|| infos.get(delivery_id)).flatten() else {
                    continue;
                };
                let (kind, delta) = match attempt {
                    Attempt::Delivered { .. } => (
                        EventKind::Delivered,
                        StatDelta { delivered: 1, ..StatDelta::default() },
                    ),
                    Attempt::Deferred { .. } => (EventKind::Deferred, StatDelta::default()),
                    Attempt::Bounced { .. } => (
                        EventKind::Bounce,
                        StatDelta { bounced: 1, ..StatDelta::default() },
                    ),
                    Attempt::Expired { .. } | Attempt::Unsendable { .. } => (
                        EventKind::Dropped,
                        StatDelta { bounced: 1, ..StatDelta::default() },
                    ),
                };
                if delta.delivered != 0 || delta.bounced != 0 {
                    let sum = stats
                        .entry((
                            info.account_id,
                            info.stat_day,
                            domain_of(&info.from_address),
                            info.recipient_domain.as_str(),
                        ))
                        .or_default();
                    sum.delivered += delta.delivered;
                    sum.bounced += delta.bounced;
                }
                let mut event = event_of(info, kind, now);
                if !matches!(attempt, Attempt::Delivered { .. }) {
                    event.reason = Some(&columns[i].1);
                }
                if let Attempt::Bounced { hard, .. } = attempt {
                    event.hard_bounce = Some(*hard);
                }
                if let Some(url) = callbacks.url(info.account_id, &info.from_address) {
                    insert_event!(tx, url, &event, now);
                }
            }
            bump_stats_many!(tx, &stats);
            tx.commit().await?;
        });
        Ok(kept)
    }

    /// Hands back every lease of `owner` (graceful shutdown): the rows are due again at once.
    pub async fn release_leases(&self, owner: &str) -> Result<u64> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1")
                .bind(owner)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Extends `owner`'s leases of `ids` to `lease_until` (a worker's heartbeat while it
    /// delivers them), by id: no look through the table. Returns how many it still held.
    pub async fn renew_leases(&self, owner: &str, ids: &[i64], lease_until: i64) -> Result<u64> {
        let mut n = 0;
        for part in ids.chunks(ROWS_PER_LOOKUP) {
            let sql = format!(
                "UPDATE deliveries SET lease_until = $1 WHERE lease_owner = $2 AND id IN ({})",
                placeholders(3, part.len())
            );
            n += on_pool_write!(self, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(lease_until)
                    .bind(owner);
                for id in part {
                    query = query.bind(*id);
                }
                query.execute(pool).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(n)
    }

    /// Clears every lease, whoever holds it. Only for a store that one process serves (an
    /// SQLite file): at start, the leases left are those of a process that died.
    pub async fn release_all_leases(&self) -> Result<u64> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Recipients an account had accepted on the day starting at `day` (daily quota).
    pub async fn count_accepted_by_account(&self, account_id: i64, day: i64) -> Result<i64> {
        self.day_counter("account", account_id, day).await
    }

    /// Recipients a sender domain had accepted on the day starting at `day` (reputation quota).
    pub async fn count_accepted_by_domain(&self, domain_id: i64, day: i64) -> Result<i64> {
        self.day_counter("domain", domain_id, day).await
    }

    async fn day_counter(&self, scope: &str, scope_id: i64, day: i64) -> Result<i64> {
        let row: Option<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT accepted FROM send_counters WHERE scope = $1 AND scope_id = $2 AND day = $3")
                .bind(scope)
                .bind(scope_id)
                .bind(day)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map_or(0, |(n,)| n))
    }

    /// Today's figures of a sender domain since `since`: accepted recipients, delivered ones,
    /// and bounced ones (the reputation rules' inputs).
    pub async fn domain_day_counts(&self, domain_id: i64, since: i64) -> Result<DomainDayCounts> {
        let row: DomainDayCounts = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) AS accepted, \
                 COALESCE(SUM(CASE WHEN deliver_status = 1 THEN 1 ELSE 0 END), 0) AS delivered, \
                 COALESCE(SUM(CASE WHEN deliver_status = 3 THEN 1 ELSE 0 END), 0) AS bounced \
                 FROM deliveries WHERE domain_id = $1 AND created_at >= $2 AND send_status = 0",
            )
            .bind(domain_id)
            .bind(since)
            .fetch_one(pool)
            .await
        })?;
        Ok(row)
    }

    /// Mails an account sent to one recipient since `since` (per-recipient frequency).
    pub async fn count_sent_to(&self, account_id: i64, recipient: &str, since: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM deliveries WHERE account_id = $1 AND recipient = $2 \
                 AND created_at >= $3 AND send_status = 0",
            )
            .bind(account_id)
            .bind(recipient)
            .bind(since)
            .fetch_one(pool)
            .await
        })?;
        Ok(n)
    }

    /// One page of an account's delivery statuses, by request time then recipient. Only the
    /// filters given reach the SQL, so a MessageId goes through its unique index and a
    /// recipient through `deliveries_recipient` rather than a scan of the account's day.
    pub async fn delivery_statuses(&self, query: &StatusQuery<'_>) -> Result<Vec<DeliveryStatus>> {
        let message_id = query.message_id.filter(|m| !m.is_empty());
        let recipient = query.recipient.filter(|r| !r.is_empty());
        // The unary `+` steers SQLite's planner (PostgreSQL's ignores it) off
        // `deliveries_account`, a scan of the whole day: with a MessageId the message's own
        // rows come through `deliveries_message`, with a recipient through
        // `deliveries_recipient`.
        let (plus, time_plus) = match (message_id, recipient) {
            (Some(_), _) => ("+", "+"),
            (None, Some(_)) => ("", "+"),
            (None, None) => ("", ""),
        };
        let mut sql = format!(
            "SELECT m.message_id, d.recipient, m.from_address, d.send_status, d.deliver_status, \
             d.deliver_message, d.created_at, d.delivered_at, d.complained, d.opened, d.clicked, \
             d.unsubscribed \
             FROM deliveries d JOIN messages m ON m.id = d.message_row \
             WHERE {plus}d.account_id = $1 AND {time_plus}d.created_at >= $2 AND {time_plus}d.created_at < $3",
        );
        let mut n = 3;
        for (present, condition) in [
            (message_id.is_some(), "m.message_id"),
            (recipient.is_some(), "d.recipient"),
        ] {
            if present {
                n += 1;
                sql.push_str(&format!(" AND {condition} = ${n}"));
            }
        }
        sql.push_str(&format!(
            " ORDER BY d.created_at, d.id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ));
        let rows = on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(query.account_id)
                .bind(query.from)
                .bind(query.until);
            if let Some(message_id) = message_id {
                q = q.bind(message_id);
            }
            if let Some(recipient) = recipient {
                q = q.bind(recipient);
            }
            q.bind(query.limit).bind(query.offset).fetch_all(pool).await
        })?;
        Ok(rows)
    }
}
