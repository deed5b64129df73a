//! The web console's users and sessions. A user signs in with an e-mail and a password (only
//! its argon2 hash is stored, computed by the caller); a session is known by the SHA-256 of the
//! cookie's token (the caller hashes it, so the table alone signs nobody in) and carries the
//! per-session CSRF token and the account it acts on. This module hashes nothing and knows
//! no HTTP.

use sqlx::FromRow;

use crate::{Result, Store, on_pool};

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
        let (id,): (i64,) = on_pool!(self, pool => {
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
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        on_pool!(self, pool => {
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
        on_pool!(self, pool => {
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
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Every account, by AppId, with its settings and counts, for operators (at most `limit`).
    pub async fn account_summaries(&self, limit: i64) -> Result<Vec<AccountSummary>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT a.id, a.name, a.daily_quota, a.template_review, a.custom_content, a.tracking, \
                 (SELECT COUNT(*) FROM domains d WHERE d.account_id = a.id) AS n_domains, \
                 (SELECT COUNT(*) FROM domains d WHERE d.account_id = a.id AND d.verified) AS n_verified, \
                 (SELECT COUNT(*) FROM templates t WHERE t.account_id = a.id AND t.status = 1) AS n_pending \
                 FROM accounts a ORDER BY a.id LIMIT $1",
            )
                .bind(limit)
                .fetch_all(pool)
                .await
        })?)
    }
}
