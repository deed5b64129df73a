//! Sender domains, their DKIM keys and the result of their last DNS check.

use sqlx::FromRow;

use crate::{Result, Store, StoreError, on_pool, on_pool_write};

/// One sender domain.
#[derive(Debug, Clone, FromRow)]
pub struct Domain {
    pub id: i64,
    pub account_id: i64,
    /// Normalised name (lower case, punycode, no trailing dot).
    pub name: String,
    /// 0 = RSA-1024, 1 = RSA-2048, 2 = both.
    pub dkim_option: i64,
    /// JSON `[{"TagKey", "TagValue"}]`, as given at creation.
    pub tags: String,
    pub verified: bool,
    /// 0 until first verified, then 1..=20.
    pub reputation_level: i64,
    /// JSON written by the verifier: the current value and status of each record.
    pub last_check: String,
    pub checked_at: Option<i64>,
    pub verified_at: Option<i64>,
    pub created_at: i64,
}

/// A DKIM key pair of a domain, the private half unsealed.
#[derive(Clone)]
pub struct DkimKey {
    pub bits: i64,
    /// PKCS#1 DER.
    pub private_key: Vec<u8>,
    /// Base64 DER, as published in the p= tag.
    pub public_key: String,
}

/// A key to store with a new domain.
pub struct NewDkimKey<'a> {
    pub bits: i64,
    pub private_key: &'a [u8],
    pub public_key: &'a str,
}

#[derive(FromRow)]
struct DkimKeyRow {
    bits: i64,
    private_key_enc: Vec<u8>,
    public_key: String,
}

pub(crate) const DOMAIN_COLUMNS: &str = "id, account_id, name, dkim_option, tags, verified, reputation_level, \
     last_check, checked_at, verified_at, created_at";

impl Store {
    /// Inserts a domain and its keys in one transaction. `Conflict` when the name is taken
    /// (by anyone: a domain has one owner).
    pub async fn create_domain(
        &self,
        account_id: i64,
        name: &str,
        dkim_option: i64,
        tags: &str,
        keys: &[NewDkimKey<'_>],
        now: i64,
    ) -> Result<Domain> {
        let sealed: Vec<Vec<u8>> = keys.iter().map(|k| self.key.seal(k.private_key)).collect();
        let domain: Domain = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let domain: Domain = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO domains (account_id, name, dkim_option, tags, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {DOMAIN_COLUMNS}"
            )))
            .bind(account_id)
            .bind(name)
            .bind(dkim_option)
            .bind(tags)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for (key, sealed) in keys.iter().zip(&sealed) {
                sqlx::query(
                    "INSERT INTO dkim_keys (domain_id, bits, private_key_enc, public_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(domain.id)
                .bind(key.bits)
                .bind(sealed)
                .bind(key.public_key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(domain)
        })?;
        Ok(domain)
    }

    /// The domain called `name`, whoever owns it.
    pub async fn domain_by_name(&self, name: &str) -> Result<Option<Domain>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE name = $1")))
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row)
    }

    /// The domains of `ids` that still exist, whoever owns them (the delivery worker's look-up
    /// of the sender domains that sign a pass's messages).
    pub async fn domains_by_ids(&self, ids: &[i64]) -> Result<Vec<Domain>> {
        self.by_ids(
            &format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE id IN"),
            ids,
        )
        .await
    }

    /// The caller's domain called `name`; another account's domain is `None`.
    pub async fn domain(&self, account_id: i64, name: &str) -> Result<Option<Domain>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM domains WHERE account_id = $1 AND name = $2"
            )))
            .bind(account_id)
            .bind(name)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Every domain of an account, by name.
    pub async fn list_domains(&self, account_id: i64) -> Result<Vec<Domain>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM domains WHERE account_id = $1 ORDER BY name"
            )))
            .bind(account_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    pub async fn count_domains(&self, account_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM domains WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// Deletes the caller's domain and its keys; false when there was none.
    pub async fn delete_domain(&self, account_id: i64, name: &str) -> Result<bool> {
        let done = on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM domains WHERE account_id = $1 AND name = $2")
                .bind(account_id)
                .bind(name)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// The domain's DKIM keys, smallest first, unsealed.
    pub async fn dkim_keys(&self, domain_id: i64) -> Result<Vec<DkimKey>> {
        let rows: Vec<DkimKeyRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT bits, private_key_enc, public_key FROM dkim_keys \
                 WHERE domain_id = $1 ORDER BY bits",
            )
            .bind(domain_id)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(DkimKey {
                    bits: row.bits,
                    private_key: self.key.open(&row.private_key_enc)?,
                    public_key: row.public_key,
                })
            })
            .collect()
    }

    /// Adds a key of a size the domain did not have yet (when its DKIMOption changes).
    pub async fn add_dkim_key(&self, domain_id: i64, key: &NewDkimKey<'_>, now: i64) -> Result<()> {
        let sealed = self.key.seal(key.private_key);
        let done = on_pool_write!(self, pool => {
            sqlx::query(
                "INSERT INTO dkim_keys (domain_id, bits, private_key_enc, public_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain_id, bits) DO NOTHING",
            )
            .bind(domain_id)
            .bind(key.bits)
            .bind(&sealed)
            .bind(key.public_key)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        done.map(|_| ()).map_err(StoreError::from)
    }

    pub async fn set_dkim_option(&self, domain_id: i64, dkim_option: i64) -> Result<()> {
        on_pool_write!(self, pool => {
            sqlx::query("UPDATE domains SET dkim_option = $1 WHERE id = $2")
                .bind(dkim_option)
                .bind(domain_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Records a DNS check. A domain verified for the first time starts at reputation
    /// level 1; one that fails keeps its level for when it passes again.
    pub async fn save_domain_check(
        &self,
        domain_id: i64,
        verified: bool,
        last_check: &str,
        now: i64,
    ) -> Result<Option<Domain>> {
        let row = on_pool_write!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE domains SET verified = $1, last_check = $2, checked_at = $3, \
                 verified_at = CASE WHEN $1 AND verified_at IS NULL THEN $3 ELSE verified_at END, \
                 reputation_level = CASE WHEN $1 AND reputation_level = 0 THEN 1 ELSE reputation_level END \
                 WHERE id = $4 RETURNING {DOMAIN_COLUMNS}"
            )))
            .bind(verified)
            .bind(last_check)
            .bind(now)
            .bind(domain_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Sets a domain's reputation level (promotion by the sending rules).
    pub async fn set_reputation_level(&self, domain_id: i64, level: i64) -> Result<()> {
        on_pool_write!(self, pool => {
            sqlx::query("UPDATE domains SET reputation_level = $1 WHERE id = $2")
                .bind(level)
                .bind(domain_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Verified domains whose last check is older than `checked_before`, oldest first.
    pub async fn domains_to_recheck(&self, checked_before: i64, limit: i64) -> Result<Vec<Domain>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM domains \
                 WHERE verified = $1 AND (checked_at IS NULL OR checked_at < $2) \
                 ORDER BY checked_at LIMIT $3"
            )))
            .bind(true)
            .bind(checked_before)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}
