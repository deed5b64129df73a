//! Accounts (tenants, identified by their AppId) and their API keys.

use rand::distr::{Alphanumeric, SampleString};
use sqlx::FromRow;

use crate::{Result, Store, StoreError, on_pool, on_pool_write};

/// One tenant.
#[derive(Debug, Clone, FromRow)]
pub struct Account {
    /// The AppId.
    pub id: i64,
    pub name: String,
    /// Operator override of the daily sending cap; `None` = reputation caps only.
    pub daily_quota: Option<i64>,
    /// New and updated templates wait for an operator's review.
    pub template_review: bool,
    /// May send Simple (non-template) content.
    pub custom_content: bool,
    /// Open and click tracking of HTML mail (on by default).
    pub tracking: bool,
    pub created_at: i64,
}

/// A freshly made API key pair, shown once.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub account_id: i64,
    pub secret_id: String,
    pub secret_key: String,
}

/// What `account update` may change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    /// `Some(None)` clears the override.
    pub daily_quota: Option<Option<i64>>,
    pub template_review: Option<bool>,
    pub custom_content: Option<bool>,
    pub tracking: Option<bool>,
}

/// An API key as the signature check needs it.
#[derive(Clone)]
pub struct ApiKey {
    pub account_id: i64,
    pub secret_key: String,
    pub enabled: bool,
}

#[derive(FromRow)]
struct ApiKeyRow {
    account_id: i64,
    secret_key_enc: Vec<u8>,
    enabled: bool,
}

/// The columns of an `Account`.
pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, name, daily_quota, template_review, custom_content, tracking, created_at";

/// First AppId handed out.
const FIRST_APP_ID: i64 = 1_000_001;

impl Store {
    /// Creates an account with its first API key.
    pub async fn create_account(&self, name: &str, now: i64) -> Result<NewApiKey> {
        // Two processes may race for the next AppId; the loser retries.
        for _ in 0..5 {
            let inserted: Result<(i64,), _> = on_pool_write!(self, pool => {
                sqlx::query_as(
                    "INSERT INTO accounts (id, name, created_at) \
                     SELECT COALESCE(MAX(id) + 1, $1), $2, $3 FROM accounts RETURNING id",
                )
                .bind(FIRST_APP_ID)
                .bind(name)
                .bind(now)
                .fetch_one(pool)
                .await
            });
            match inserted.map_err(StoreError::from) {
                Ok((account_id,)) => return self.create_api_key(account_id, now).await,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Adds an API key to an account.
    pub async fn create_api_key(&self, account_id: i64, now: i64) -> Result<NewApiKey> {
        let mut rng = rand::rng();
        let secret_id = format!("AKID{}", Alphanumeric.sample_string(&mut rng, 32));
        let secret_key = Alphanumeric.sample_string(&mut rng, 32);
        let sealed = self.key.seal(secret_key.as_bytes());
        on_pool_write!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (secret_id, account_id, secret_key_enc, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&secret_id)
            .bind(account_id)
            .bind(&sealed)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(NewApiKey {
            account_id,
            secret_id,
            secret_key,
        })
    }

    /// The key with this SecretId, unsealed.
    pub async fn api_key(&self, secret_id: &str) -> Result<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT account_id, secret_key_enc, enabled FROM api_keys WHERE secret_id = $1",
            )
            .bind(secret_id)
            .fetch_optional(pool)
            .await
        })?;
        let Some(row) = row else { return Ok(None) };
        let plain = self.key.open(&row.secret_key_enc)?;
        let secret_key = String::from_utf8(plain).map_err(|_| StoreError::Sealed)?;
        Ok(Some(ApiKey {
            account_id: row.account_id,
            secret_key,
            enabled: row.enabled,
        }))
    }

    pub async fn account(&self, id: i64) -> Result<Option<Account>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Applies `changes`; returns the account as it is now, or `None` when it does not exist.
    pub async fn update_account(
        &self,
        id: i64,
        changes: &AccountChanges,
    ) -> Result<Option<Account>> {
        if let Some(quota) = changes.daily_quota {
            on_pool_write!(self, pool => {
                sqlx::query("UPDATE accounts SET daily_quota = $1 WHERE id = $2")
                    .bind(quota)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        if let Some(review) = changes.template_review {
            on_pool_write!(self, pool => {
                sqlx::query("UPDATE accounts SET template_review = $1 WHERE id = $2")
                    .bind(review)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        if let Some(custom) = changes.custom_content {
            on_pool_write!(self, pool => {
                sqlx::query("UPDATE accounts SET custom_content = $1 WHERE id = $2")
                    .bind(custom)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        if let Some(tracking) = changes.tracking {
            on_pool_write!(self, pool => {
                sqlx::query("UPDATE accounts SET tracking = $1 WHERE id = $2")
                    .bind(tracking)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        self.account(id).await
    }
}
