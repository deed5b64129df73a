//! Sender addresses and their SMTP password hashes.

use sqlx::FromRow;

use crate::{Result, Store, on_pool, on_pool_write};

/// One sender address.
#[derive(Debug, Clone, FromRow)]
pub struct Sender {
    pub id: i64,
    pub account_id: i64,
    pub domain_id: i64,
    /// `local@domain`, the domain normalised.
    pub address: String,
    /// Display name; empty when none.
    pub alias: String,
    /// Argon2 PHC string; `None` = no SMTP password set.
    pub smtp_password: Option<String>,
    pub created_at: i64,
}

pub(crate) const SENDER_COLUMNS: &str =
    "id, account_id, domain_id, address, alias, smtp_password, created_at";

impl Store {
    /// Inserts a sender; `Conflict` when the address exists.
    pub async fn create_sender(
        &self,
        account_id: i64,
        domain_id: i64,
        address: &str,
        alias: &str,
        now: i64,
    ) -> Result<Sender> {
        let row = on_pool_write!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO senders (account_id, domain_id, address, alias, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {SENDER_COLUMNS}"
            )))
            .bind(account_id)
            .bind(domain_id)
            .bind(address)
            .bind(alias)
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(row)
    }

    /// The caller's sender with this address; another account's is `None`.
    pub async fn sender(&self, account_id: i64, address: &str) -> Result<Option<Sender>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SENDER_COLUMNS} FROM senders WHERE account_id = $1 AND address = $2"
            )))
            .bind(account_id)
            .bind(address)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// The sender with this address, whichever account owns it (addresses are unique):
    /// SMTP finds the account from the sender a client authenticates as or sends from.
    pub async fn sender_by_address(&self, address: &str) -> Result<Option<Sender>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SENDER_COLUMNS} FROM senders WHERE address = $1"
            )))
            .bind(address)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// The caller's senders, oldest first.
    pub async fn list_senders(&self, account_id: i64) -> Result<Vec<Sender>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SENDER_COLUMNS} FROM senders WHERE account_id = $1 ORDER BY id"
            )))
            .bind(account_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    pub async fn count_senders(&self, domain_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM senders WHERE domain_id = $1")
                .bind(domain_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// Deletes the caller's sender; false when there was none.
    pub async fn delete_sender(&self, account_id: i64, address: &str) -> Result<bool> {
        let done = on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM senders WHERE account_id = $1 AND address = $2")
                .bind(account_id)
                .bind(address)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Stores a new SMTP password hash for a sender.
    pub async fn set_smtp_password(&self, sender_id: i64, hash: &str) -> Result<()> {
        on_pool_write!(self, pool => {
            sqlx::query("UPDATE senders SET smtp_password = $1 WHERE id = $2")
                .bind(hash)
                .bind(sender_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
