//! Suppression: each account's black list of hard-bounced addresses (14 days, written by
//! delivery) and its custom black list (written through the API, optional expiry).

use sqlx::FromRow;

use crate::{Result, Store, on_pool, on_pool_write};

/// A black-listed address.
#[derive(Debug, Clone, FromRow)]
pub struct BlackListed {
    pub address: String,
    pub reason: String,
    pub bounced_at: i64,
    pub expires_at: i64,
}

/// An entry of the custom black list.
#[derive(Debug, Clone, FromRow)]
pub struct CustomBlackListed {
    pub id: i64,
    pub address: String,
    /// `None` = permanent.
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

/// Filters of ListCustomBlacklist.
pub struct CustomQuery<'a> {
    pub account_id: i64,
    pub now: i64,
    /// 0 = expired, 1 = active, 2 = all.
    pub status: i64,
    pub address: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
}

impl Store {
    /// Puts an address on an account's black list (or refreshes it).
    pub async fn add_black(
        &self,
        account_id: i64,
        address: &str,
        reason: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let reason: String = reason.chars().take(1000).collect();
        on_pool_write!(self, pool => {
            sqlx::query(
                "INSERT INTO black_list (account_id, address, reason, bounced_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, address) DO UPDATE \
                 SET reason = excluded.reason, bounced_at = excluded.bounced_at, expires_at = excluded.expires_at",
            )
            .bind(account_id)
            .bind(address)
            .bind(&reason)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Whether an address is on the account's black list or active custom black list.
    pub async fn is_suppressed(&self, account_id: i64, address: &str, now: i64) -> Result<bool> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM black_list WHERE account_id = $1 AND address = $2 AND expires_at > $3) \
                 + (SELECT COUNT(*) FROM custom_black_list WHERE account_id = $1 AND address = $2 \
                    AND (expires_at IS NULL OR expires_at > $3))",
            )
            .bind(account_id)
            .bind(address)
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(n > 0)
    }

    /// A page of the black list bounced in `[from, until)`, newest first, and the total.
    #[allow(clippy::too_many_arguments)]
    pub async fn list_black(
        &self,
        account_id: i64,
        from: i64,
        until: i64,
        address: Option<&str>,
        now: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<BlackListed>, i64)> {
        let address = address.unwrap_or("");
        let rows = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT address, reason, bounced_at, expires_at FROM black_list \
                 WHERE account_id = $1 AND bounced_at >= $2 AND bounced_at < $3 AND expires_at > $4 \
                 AND ($5 = '' OR address = $5) ORDER BY bounced_at DESC, address LIMIT $6 OFFSET $7",
            )
            .bind(account_id)
            .bind(from)
            .bind(until)
            .bind(now)
            .bind(address)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
        })?;
        let (total,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM black_list WHERE account_id = $1 AND bounced_at >= $2 AND bounced_at < $3 \
                 AND expires_at > $4 AND ($5 = '' OR address = $5)",
            )
            .bind(account_id)
            .bind(from)
            .bind(until)
            .bind(now)
            .bind(address)
            .fetch_one(pool)
            .await
        })?;
        Ok((rows, total))
    }

    /// Removes addresses from the account's black list; returns how many were there.
    pub async fn delete_black(&self, account_id: i64, addresses: &[String]) -> Result<u64> {
        let mut n = 0;
        for address in addresses {
            n += on_pool_write!(self, pool => {
                sqlx::query("DELETE FROM black_list WHERE account_id = $1 AND address = $2")
                    .bind(account_id)
                    .bind(address)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(n)
    }

    /// Adds addresses to the custom black list (an existing entry gets the new expiry).
    pub async fn add_custom_black(
        &self,
        account_id: i64,
        addresses: &[String],
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            for address in addresses {
                sqlx::query(
                    "INSERT INTO custom_black_list (account_id, address, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, address) DO UPDATE SET expires_at = excluded.expires_at",
                )
                .bind(account_id)
                .bind(address)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// A page of the custom black list, newest first, and the total.
    pub async fn list_custom_black(
        &self,
        query: &CustomQuery<'_>,
    ) -> Result<(Vec<CustomBlackListed>, i64)> {
        // status 0 = expired, 1 = active, 2 = all.
        let condition = "account_id = $1 AND ($2 = 2 \
             OR ($2 = 1 AND (expires_at IS NULL OR expires_at > $3)) \
             OR ($2 = 0 AND expires_at IS NOT NULL AND expires_at <= $3)) AND ($4 = '' OR address = $4)";
        let address = query.address.unwrap_or("");
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, address, expires_at, created_at FROM custom_black_list WHERE {condition} \
                 ORDER BY id DESC LIMIT $5 OFFSET $6"
            )))
            .bind(query.account_id)
            .bind(query.status)
            .bind(query.now)
            .bind(address)
            .bind(query.limit)
            .bind(query.offset)
            .fetch_all(pool)
            .await
        })?;
        let (total,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM custom_black_list WHERE {condition}")))
                .bind(query.account_id)
                .bind(query.status)
                .bind(query.now)
                .bind(address)
                .fetch_one(pool)
                .await
        })?;
        Ok((rows, total))
    }

    /// Changes one custom entry's address and expiry; false when the account has no such id.
    pub async fn update_custom_black(
        &self,
        account_id: i64,
        id: i64,
        address: &str,
        expires_at: Option<i64>,
    ) -> Result<bool> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("UPDATE custom_black_list SET address = $1, expires_at = $2 WHERE id = $3 AND account_id = $4")
                .bind(address)
                .bind(expires_at)
                .bind(id)
                .bind(account_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Removes addresses from the custom black list; returns how many were there.
    pub async fn delete_custom_black(&self, account_id: i64, addresses: &[String]) -> Result<u64> {
        let mut n = 0;
        for address in addresses {
            n += on_pool_write!(self, pool => {
                sqlx::query("DELETE FROM custom_black_list WHERE account_id = $1 AND address = $2")
                    .bind(account_id)
                    .bind(address)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(n)
    }
}
