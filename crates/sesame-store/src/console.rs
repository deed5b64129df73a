//! The web console's users and sessions. A user signs in with an e-mail and a password (only
//! its argon2 hash is stored, computed by the caller); a session is known by the SHA-256 of the
//! cookie's token (the caller hashes it, so the table alone signs nobody in) and carries the
//! per-session CSRF token and the account it acts on. This module hashes nothing and knows
//! no HTTP. It also holds the console's read-only views that no SES action answers: the
//! operators' account summaries and one message's per-recipient history.

use sqlx::FromRow;

use crate::{Result, Store, on_pool, on_pool_write};

/// A console user's role.
pub const ROLE_OPERATOR: &str = "operator";
pub const ROLE_MEMBER: &str = "member";

/// One console user.
#[derive(Debug, Clone, FromRow)]
pub struct ConsoleUser {
    pub id: i64,
    /// Lower case.
    pub email: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// `ROLE_OPERATOR` or `ROLE_MEMBER`.
    pub role: String,
    /// A member's account; an operator's first pick.
    pub account_id: i64,
}

/// A live session with its user.
#[derive(Debug, Clone, FromRow)]
pub struct ConsoleSession {
    pub user_id: i64,
    pub email: String,
    pub role: String,
    /// The user's own account (a member may act on no other).
    pub user_account_id: i64,
    /// The account the session acts on.
    pub account_id: i64,
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An account as the operator's Accounts page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct AccountSummary {
    pub id: i64,
    pub name: String,
    /// Operator override of the daily cap; `None` = reputation caps only.
    pub daily_quota: Option<i64>,
    pub template_review: bool,
    pub custom_content: bool,
    pub tracking: bool,
    /// Its sender domains, and how many of them are verified.
    pub n_domains: i64,
    pub n_verified: i64,
    /// Its templates waiting for review (status 1).
    pub n_pending: i64,
    /// The highest reputation level of its verified domains (a verified domain is at least
    /// level 1); 0 when none is verified.
    pub max_level: i64,
    /// Recipients it had accepted on the day asked for (the daily quota's counter).
    pub sent_today: i64,
}

/// A message as its history shows it: what was sent, and each recipient's delivery.
#[derive(Debug, Clone)]
pub struct MessageHistory {
    pub message: HistoryMessage,
    /// One per recipient, in the order they were given.
    pub deliveries: Vec<DeliveryHistory>,
}

/// The message row of a history.
#[derive(Debug, Clone, FromRow)]
pub struct HistoryMessage {
    pub message_id: String,
    pub from_address: String,
    pub subject: String,
    pub template_id: Option<i64>,
    /// 1 = transactional, 0 = bulk.
    pub trigger_type: i64,
    /// The batch task it was fanned out for, while the task's snapshot is kept.
    pub task_id: Option<i64>,
    /// When it was requested, Unix seconds.
    pub created_at: i64,
}

/// What the store keeps of one recipient's delivery. There is no row per attempt: the count
/// of attempts, the last reply and the times of the last change are what remains.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryHistory {
    pub recipient: String,
    /// 0 accepted, else the refusal code.
    pub send_status: i64,
    /// 0 queued, 1 delivered, 2 dropped, 3 bounced, 8 deferred.
    pub deliver_status: i64,
    /// The last reply (or the reason it was refused, dropped, deferred or bounced).
    pub deliver_message: String,
    pub n_attempts: i64,
    pub created_at: i64,
    /// The last change of its row: an attempt's outcome, a late bounce, a complaint.
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
    /// The next attempt (queued or deferred); `None` once final.
    pub due_at: Option<i64>,
    /// Opens and clicks seen (repeats count).
    pub opened: i64,
    pub clicked: i64,
    /// When the recipient unsubscribed from the sender domain, if it did through this mail.
    pub unsubscribed_at: Option<i64>,
    /// When the recipient complained about this mail (an ARF report), if it did.
    pub complained_at: Option<i64>,
    /// Whether it complained (the time may be gone with the complaint's row).
    pub complained: i64,
    pub unsubscribed: i64,
}

#[derive(FromRow)]
struct MessageRowWithId {
    id: i64,
    #[sqlx(flatten)]
    message: HistoryMessage,
}

impl Store {
    /// Adds a console user; `StoreError::Conflict` if the e-mail is taken.
    pub async fn create_console_user(
        &self,
        email: &str,
        password_hash: &str,
        role: &str,
        account_id: i64,
        now: i64,
    ) -> Result<i64> {
        let (id,): (i64,) = on_pool_write!(self, pool => {
            sqlx::query_as(
                "INSERT INTO console_users (email, password_hash, role, account_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(email.to_ascii_lowercase())
            .bind(password_hash)
            .bind(role)
            .bind(account_id)
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(id)
    }

    /// The user with this e-mail (case-insensitive).
    pub async fn console_user(&self, email: &str) -> Result<Option<ConsoleUser>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, email, password_hash, role, account_id FROM console_users \
                 WHERE email = $1",
            )
            .bind(email.to_ascii_lowercase())
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Opens a session; also drops every expired one.
    pub async fn create_console_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        account_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        on_pool_write!(self, pool => {
            sqlx::query(
                "INSERT INTO console_sessions \
                 (token_hash, user_id, csrf_token, account_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(csrf_token)
            .bind(account_id)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The unexpired session whose token hashes to `token_hash`.
    pub async fn console_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<ConsoleSession>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT s.user_id, u.email, u.role, u.account_id AS user_account_id, \
                 s.account_id, s.csrf_token, s.expires_at \
                 FROM console_sessions s JOIN console_users u ON u.id = s.user_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Points a session at another account (the caller checks the user may).
    pub async fn set_console_session_account(
        &self,
        token_hash: &str,
        account_id: i64,
    ) -> Result<()> {
        on_pool_write!(self, pool => {
            sqlx::query("UPDATE console_sessions SET account_id = $1 WHERE token_hash = $2")
                .bind(account_id)
                .bind(token_hash)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Ends a session (signing out).
    pub async fn delete_console_session(&self, token_hash: &str) -> Result<()> {
        on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Every account, by AppId, with its settings and counts, for operators (at most `limit`);
    /// `sent_today` is the count of the day starting at `day` (Unix second, API time zone).
    pub async fn account_summaries(&self, limit: i64, day: i64) -> Result<Vec<AccountSummary>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT a.id, a.name, a.daily_quota, a.template_review, a.custom_content, a.tracking, \
                 (SELECT COUNT(*) FROM domains d WHERE d.account_id = a.id) AS n_domains, \
                 (SELECT COUNT(*) FROM domains d WHERE d.account_id = a.id AND d.verified) AS n_verified, \
                 (SELECT COUNT(*) FROM templates t WHERE t.account_id = a.id AND t.status = 1) AS n_pending, \
                 COALESCE((SELECT MAX(CASE WHEN d.reputation_level > 1 THEN d.reputation_level ELSE 1 END) \
                   FROM domains d WHERE d.account_id = a.id AND d.verified), 0) AS max_level, \
                 COALESCE((SELECT c.accepted FROM send_counters c \
                   WHERE c.scope = 'account' AND c.scope_id = a.id AND c.day = $2), 0) AS sent_today \
                 FROM accounts a ORDER BY a.id LIMIT $1",
            )
                .bind(limit)
                .bind(day)
                .fetch_all(pool)
                .await
        })?)
    }

    /// The message `message_id` of account `account_id` with each recipient's delivery, or
    /// `None` when that account has no such message (another account's looks the same).
    pub async fn message_history(
        &self,
        account_id: i64,
        message_id: &str,
    ) -> Result<Option<MessageHistory>> {
        let found: Option<(i64, HistoryMessage)> = on_pool!(self, pool => {
            sqlx::query_as::<_, MessageRowWithId>(
                "SELECT m.id, m.message_id, m.from_address, m.subject, m.template_id, m.trigger_type, \
                 (SELECT s.task_id FROM task_snapshots s WHERE s.id = m.render_id) AS task_id, \
                 m.created_at FROM messages m WHERE m.message_id = $1 AND m.account_id = $2",
            )
            .bind(message_id)
            .bind(account_id)
            .fetch_optional(pool)
            .await
        })?
        .map(|r| (r.id, r.message));
        let Some((row, message)) = found else {
            return Ok(None);
        };
        let from_domain = message
            .from_address
            .rsplit_once('@')
            .map_or("", |(_, d)| d)
            .to_ascii_lowercase();
        let deliveries = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT d.recipient, d.send_status, d.deliver_status, d.deliver_message, d.n_attempts, \
                 d.created_at, d.updated_at, d.delivered_at, d.due_at, d.opened, d.clicked, \
                 d.complained, d.unsubscribed, \
                 CASE WHEN d.unsubscribed <> 0 THEN (SELECT u.created_at FROM unsubscribes u \
                   WHERE u.account_id = d.account_id AND u.from_domain = $2 \
                   AND u.recipient = LOWER(d.recipient)) END AS unsubscribed_at, \
                 CASE WHEN d.complained <> 0 THEN (SELECT MIN(c.complain_time) FROM complaints c \
                   WHERE c.account_id = d.account_id AND c.delivery_id = d.id) END AS complained_at \
                 FROM deliveries d WHERE d.message_row = $1 ORDER BY d.id",
            )
            .bind(row)
            .bind(&from_domain)
            .fetch_all(pool)
            .await
        })?;
        Ok(Some(MessageHistory {
            message,
            deliveries,
        }))
    }

    /// Replaces a user's password hash and ends its sessions but `keep` (the one that changed
    /// it, if any), in one transaction. Returns the number of sessions ended, or `None` when
    /// there is no such user.
    pub async fn set_console_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<Option<u64>> {
        let ended = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let n = sqlx::query("UPDATE console_users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let ended = sqlx::query(
                "DELETE FROM console_sessions WHERE user_id = $1 AND token_hash <> $2",
            )
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            ended
        });
        Ok(Some(ended))
    }
}
