//! Events and what follows them: callback addresses and each account's signing secret, the
//! durable outbox of callbacks, and the daily statistics counters.
//!
//! An event is queued in the transaction of the state change it reports (`enqueue`,
//! `record_attempt`, `record_late_bounce`, `record_complaint` call `queue_event!` and
//! `bump_stats!`), so a crash loses none and a rolled-back change reports nothing. It is
//! queued only when the account, or the sender, has a callback at that moment; the body is
//! fixed then. The webhook worker leases outbox rows like the delivery queue leases
//! deliveries (owner + expiry, `FOR UPDATE SKIP LOCKED` on PostgreSQL), posts them with no
//! transaction open, and deletes a row once it was accepted.
//!
//! Statistics are counters per (account, day of the request, sender domain, recipient
//! domain), bumped beside the status they count: a report reads a few rows per day and never
//! scans the deliveries.

use rand::distr::{Alphanumeric, SampleString};
use sesame_core::event::{Event, EventKind};
use sqlx::FromRow;

use crate::inbound::DeliveryInfo;
use crate::{Backend, Result, Store, StoreError, on_pool, on_pool_write};

/// Changes to one counter row; fields are deltas (a late bounce moves one from `delivered`
/// to `bounced`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StatDelta {
    pub requests: i64,
    pub accepted: i64,
    pub delivered: i64,
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub unsubscribed: i64,
}

/// One day's figures (GetStatisticsReport's Volume).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub struct DayStats {
    /// Unix second the day starts (API time zone).
    pub day: i64,
    pub requests: i64,
    pub accepted: i64,
    pub delivered: i64,
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub unsubscribed: i64,
}

/// Filters of a statistics query; empty strings match everything.
#[derive(Debug, Clone, Default)]
pub struct StatsQuery<'a> {
    pub account_id: i64,
    /// First day's start, inclusive.
    pub from_day: i64,
    /// Start of the day after the last, exclusive.
    pub until: i64,
    pub from_domain: &'a str,
    pub rcpt_domain: &'a str,
}

/// A callback address of an account.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CallbackAddress {
    /// The sender address; empty for the account-level callback.
    pub sender: String,
    pub url: String,
}

/// An outbox row claimed by a webhook worker.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEvent {
    pub id: i64,
    pub account_id: i64,
    pub url: String,
    /// The JSON body, posted as is.
    pub body: String,
    /// Failed tries so far.
    pub n_attempts: i64,
    /// When the event happened (queued), Unix seconds.
    pub created_at: i64,
}

const OUTBOX_COLUMNS: &str = "id, account_id, url, body, n_attempts, created_at";

/// The callback for mail of `$sender` in `$account` (see `Callbacks::url`), read in the open
/// transaction `$tx`.
macro_rules! callback_url {
    ($tx:expr, $account:expr, $sender:expr) => {{
        let account: i64 = $account;
        $crate::events::callback_urls!($tx, std::iter::once(account))
            .url(account, $sender)
            .map(str::to_owned)
    }};
}
pub(crate) use callback_url;

/// The callback addresses of some accounts, read at once (`callback_urls!`).
pub(crate) struct Callbacks(pub(crate) Vec<(i64, String, String)>);

impl Callbacks {
    /// The URL events of `account` about mail from `sender` go to: the sender's own callback
    /// first, else the account's.
    pub(crate) fn url(&self, account: i64, sender: &str) -> Option<&str> {
        let mut found = None;
        for (a, s, url) in &self.0 {
            if *a != account {
                continue;
            }
            if s == sender {
                return Some(url);
            }
            if s.is_empty() {
                found = Some(url.as_str());
            }
        }
        found
    }
}

/// Reads the callback addresses of the accounts `$accounts` (an iterator of ids, repeats
/// allowed) in the open transaction `$tx`: one statement instead of one per sender.
macro_rules! callback_urls {
    ($tx:expr, $accounts:expr) => {{
        let mut accounts: Vec<i64> = $accounts.collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut found = Vec::new();
        if !accounts.is_empty() {
            let mut query = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(format!(
                "SELECT account_id, sender, url FROM callback_addresses WHERE account_id IN ({})",
                $crate::bulk::placeholders(1, accounts.len())
            )));
            for account in &accounts {
                query = query.bind(*account);
            }
            found = query.fetch_all(&mut *$tx).await?;
        }
        $crate::events::Callbacks(found)
    }};
}
pub(crate) use callback_urls;

/// Queues `$event` (a `sesame_core::event::Event`) in the open transaction `$tx` when its
/// account or sender has a callback now.
macro_rules! queue_event {
    ($tx:expr, $event:expr, $now:expr) => {{
        let event: &sesame_core::event::Event<'_> = $event;
        if let Some(url) = $crate::events::callback_url!($tx, event.account_id, event.from) {
            $crate::events::insert_event!($tx, &url, event, $now);
        }
    }};
}
pub(crate) use queue_event;

/// Queues `$event` for the callback `$url` in the open transaction `$tx`.
macro_rules! insert_event {
    ($tx:expr, $url:expr, $event:expr, $now:expr) => {{
        let event: &sesame_core::event::Event<'_> = $event;
        sqlx::query(
            "INSERT INTO event_outbox (account_id, url, body, due_at, created_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(event.account_id)
        .bind($url)
        .bind(event.to_json())
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use insert_event;

/// Adds `$delta` to the counter row of (`$account`, `$day`, `$from_domain`, `$rcpt_domain`)
/// in the open transaction `$tx`.
macro_rules! bump_stats {
    ($tx:expr, $account:expr, $day:expr, $from_domain:expr, $rcpt_domain:expr, $delta:expr) => {{
        let delta: &$crate::events::StatDelta = $delta;
        let key: $crate::events::StatKey<'_> = ($account, $day, $from_domain, $rcpt_domain);
        let one = std::collections::BTreeMap::from([(key, *delta)]);
        $crate::events::bump_stats_many!($tx, &one);
    }};
}
pub(crate) use bump_stats;

/// The key of a `daily_stats` row: account, day, sender domain, recipient domain.
pub(crate) type StatKey<'a> = (i64, i64, &'a str, &'a str);

/// Rows per multi-row statistics upsert (11 parameters each).
pub(crate) const STATS_PER_UPSERT_ROWS: usize = 50;

/// The upsert of `n` statistics rows at once: each row's figures are added to the stored ones.
pub(crate) fn stats_upsert(n: usize) -> String {
    let values = crate::bulk::value_rows(n, 11, 1, "");
    format!(
        "INSERT INTO daily_stats (account_id, day, from_domain, rcpt_domain, requests, accepted, \
         delivered, opened, clicked, bounced, unsubscribed) VALUES {values} \
         ON CONFLICT (account_id, day, from_domain, rcpt_domain) DO UPDATE SET \
         requests = daily_stats.requests + excluded.requests, \
         accepted = daily_stats.accepted + excluded.accepted, \
         delivered = daily_stats.delivered + excluded.delivered, \
         opened = daily_stats.opened + excluded.opened, \
         clicked = daily_stats.clicked + excluded.clicked, \
         bounced = daily_stats.bounced + excluded.bounced, \
         unsubscribed = daily_stats.unsubscribed + excluded.unsubscribed"
    )
}

/// Adds every delta of `$stats` (a `BTreeMap<StatKey, StatDelta>`, so each row once and in
/// key order: the lock order of ARCHITECTURE.md) to its counter row in the open transaction
/// `$tx`, many rows per statement.
macro_rules! bump_stats_many {
    ($tx:expr, $stats:expr) => {{
        let stats: &std::collections::BTreeMap<
            $crate::events::StatKey<'_>,
            $crate::events::StatDelta,
        > = $stats;
        let rows: Vec<_> = stats.iter().collect();
        for part in rows.chunks($crate::events::STATS_PER_UPSERT_ROWS) {
            let mut query = sqlx::query(sqlx::AssertSqlSafe($crate::events::stats_upsert(
                part.len(),
            )));
            for ((account, day, from_domain, rcpt_domain), delta) in part {
                query = query
                    .bind(*account)
                    .bind(*day)
                    .bind(*from_domain)
                    .bind(*rcpt_domain)
                    .bind(delta.requests)
                    .bind(delta.accepted)
                    .bind(delta.delivered)
                    .bind(delta.opened)
                    .bind(delta.clicked)
                    .bind(delta.bounced)
                    .bind(delta.unsubscribed);
            }
            query.execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use bump_stats_many;

/// The domain of an address (`from_domain` of counters and events).
pub(crate) fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// An event about delivery `d`, without the kind-specific fields.
pub(crate) fn event_of(d: &DeliveryInfo, kind: EventKind, now: i64) -> Event<'_> {
    Event {
        kind,
        email: &d.recipient,
        bulk_id: &d.message_id,
        header_message_id: &d.header_message_id,
        timestamp: now,
        sent_timestamp: d.sent_at,
        account_id: d.account_id,
        from: &d.from_address,
        subject: &d.subject,
        template_id: d.template_id,
        task_id: None,
        reason: None,
        hard_bounce: None,
        link: None,
        user_agent: None,
    }
}

/// A fresh signing secret: 40 letters and digits (~238 bits).
fn new_secret() -> String {
    format!("whsec_{}", Alphanumeric.sample_string(&mut rand::rng(), 40))
}

impl Store {
    /// Sets the callback of `account_id` for `sender` ('' = account-level), replacing the one
    /// there was. The first callback of an account also makes its signing secret, returned
    /// here (and never again); later calls return `None`.
    pub async fn set_callback_address(
        &self,
        account_id: i64,
        sender: &str,
        url: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let secret = new_secret();
        let sealed = self.key.seal(secret.as_bytes());
        let made = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            sqlx::query(
                "INSERT INTO callback_addresses (account_id, sender, url, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account_id, sender) DO UPDATE SET url = excluded.url, created_at = excluded.created_at",
            )
            .bind(account_id)
            .bind(sender)
            .bind(url)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let made = sqlx::query(
                "INSERT INTO callback_secrets (account_id, secret_enc, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id) DO NOTHING",
            )
            .bind(account_id)
            .bind(&sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            made
        });
        Ok((made > 0).then_some(secret))
    }

    /// Replaces the signing secret of `account_id` and returns the new one.
    pub async fn rotate_callback_secret(&self, account_id: i64, now: i64) -> Result<String> {
        let secret = new_secret();
        let sealed = self.key.seal(secret.as_bytes());
        on_pool_write!(self, pool => {
            sqlx::query(
                "INSERT INTO callback_secrets (account_id, secret_enc, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id) DO UPDATE SET secret_enc = excluded.secret_enc, created_at = excluded.created_at",
            )
            .bind(account_id)
            .bind(&sealed)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(secret)
    }

    /// The signing secret of `account_id`, unsealed; `None` before its first callback.
    pub async fn callback_secret(&self, account_id: i64) -> Result<Option<String>> {
        let row: Option<(Vec<u8>,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT secret_enc FROM callback_secrets WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(pool)
                .await
        })?;
        let Some((sealed,)) = row else {
            return Ok(None);
        };
        let plain = self.key.open(&sealed)?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| StoreError::Sealed)
    }

    /// The callbacks of `account_id`, the account-level one first.
    pub async fn callback_addresses(&self, account_id: i64) -> Result<Vec<CallbackAddress>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT sender, url FROM callback_addresses WHERE account_id = $1 ORDER BY sender",
            )
            .bind(account_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Removes the callback of `account_id` for `sender` ('' = account-level); returns
    /// whether there was one. Events already queued are still posted.
    pub async fn delete_callback_address(&self, account_id: i64, sender: &str) -> Result<bool> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM callback_addresses WHERE account_id = $1 AND sender = $2")
                .bind(account_id)
                .bind(sender)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Claims up to `limit` due outbox rows for `owner` until `lease_until`, oldest first.
    pub async fn lease_events(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>> {
        // PostgreSQL: SKIP LOCKED lets several processes share the outbox. SQLite runs one
        // writer at a time, so the sub-select and the update cannot interleave.
        let lock = match self.backend {
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite(_) => "",
        };
        // Mostly there is nothing due: a read says so without queueing for the write gate.
        let due: Option<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id FROM event_outbox WHERE due_at <= $1 \
                 AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
            )
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let rows = on_pool_write!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE event_outbox SET lease_owner = $1, lease_until = $2 WHERE id IN (\
                 SELECT id FROM event_outbox WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                 ORDER BY due_at, id LIMIT $4{lock}) RETURNING {OUTBOX_COLUMNS}"
            )))
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The receiver took event `id` (leased by `owner`): it leaves the outbox. Returns false
    /// when the lease was lost meanwhile.
    pub async fn event_sent(&self, id: i64, owner: &str) -> Result<bool> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM event_outbox WHERE id = $1 AND lease_owner = $2")
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// A try of event `id` failed with `error`: it is due again at `retry_at`, or, with
    /// `None`, given up and removed.
    pub async fn event_failed(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool> {
        let error: String = error.chars().take(500).collect();
        let n = match retry_at {
            Some(at) => on_pool_write!(self, pool => {
                sqlx::query(
                    "UPDATE event_outbox SET n_attempts = n_attempts + 1, due_at = $1, last_error = $2, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4",
                )
                .bind(at)
                .bind(&error)
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
            })?,
            None => self.event_sent(id, owner).await? as u64,
        };
        Ok(n > 0)
    }

    /// Hands back every outbox lease of `owner` (graceful stop).
    pub async fn release_event_leases(&self, owner: &str) -> Result<u64> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("UPDATE event_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1")
                .bind(owner)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Clears every outbox lease (one `sesame serve` per SQLite file: at start, the leases
    /// left are a dead process's).
    pub async fn release_all_event_leases(&self) -> Result<u64> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("UPDATE event_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Outbox rows of `account_id` still waiting (tests and operators).
    pub async fn pending_events(&self, account_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM event_outbox WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// The counters of each day in the query's range that has any, summed over the domains
    /// the filters let through, by day.
    pub async fn statistics(&self, query: &StatsQuery<'_>) -> Result<Vec<DayStats>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT day, CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(accepted) AS BIGINT) AS accepted, \
                 CAST(SUM(delivered) AS BIGINT) AS delivered, CAST(SUM(opened) AS BIGINT) AS opened, \
                 CAST(SUM(clicked) AS BIGINT) AS clicked, CAST(SUM(bounced) AS BIGINT) AS bounced, \
                 CAST(SUM(unsubscribed) AS BIGINT) AS unsubscribed FROM daily_stats \
                 WHERE account_id = $1 AND day >= $2 AND day < $3 \
                 AND ($4 = '' OR from_domain = $4) AND ($5 = '' OR rcpt_domain = $5) \
                 GROUP BY day ORDER BY day",
            )
            .bind(query.account_id)
            .bind(query.from_day)
            .bind(query.until)
            .bind(query.from_domain)
            .bind(query.rcpt_domain)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}
