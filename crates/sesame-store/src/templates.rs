//! Templates: HTML and text bodies with `{{variables}}`, and their review status.

use sqlx::FromRow;

use crate::{Result, Store, on_pool, on_pool_write};

/// Template review status as the API shows it.
pub mod status {
    pub const APPROVED: i64 = 0;
    pub const PENDING: i64 = 1;
    pub const REJECTED: i64 = 2;
}

/// One template.
#[derive(Debug, Clone, FromRow)]
pub struct Template {
    /// The TemplateID, unique across the deployment.
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    /// Decoded HTML body; empty when none.
    pub html: String,
    /// Decoded text body; empty when none.
    pub text: String,
    /// See [`status`].
    pub status: i64,
    /// The operator's reason for a rejection; empty otherwise.
    pub review_reason: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const TEMPLATE_COLUMNS: &str =
    "id, account_id, name, html, text, status, review_reason, created_at, updated_at";

impl Store {
    pub async fn create_template(
        &self,
        account_id: i64,
        name: &str,
        html: &str,
        text: &str,
        status: i64,
        now: i64,
    ) -> Result<Template> {
        let row = on_pool_write!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO templates (account_id, name, html, text, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {TEMPLATE_COLUMNS}"
            )))
            .bind(account_id)
            .bind(name)
            .bind(html)
            .bind(text)
            .bind(status)
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(row)
    }

    /// Replaces a template's name and bodies; `None` when the caller has no such template.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_template(
        &self,
        account_id: i64,
        id: i64,
        name: &str,
        html: &str,
        text: &str,
        status: i64,
        now: i64,
    ) -> Result<Option<Template>> {
        let row = on_pool_write!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE templates SET name = $1, html = $2, text = $3, status = $4, \
                 review_reason = '', updated_at = $5 \
                 WHERE id = $6 AND account_id = $7 RETURNING {TEMPLATE_COLUMNS}"
            )))
            .bind(name)
            .bind(html)
            .bind(text)
            .bind(status)
            .bind(now)
            .bind(id)
            .bind(account_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// The caller's template; another account's is `None`.
    pub async fn template(&self, account_id: i64, id: i64) -> Result<Option<Template>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $1 AND account_id = $2"
            )))
            .bind(id)
            .bind(account_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// A page of the caller's templates, newest first, and the total count.
    pub async fn list_templates(
        &self,
        account_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Template>, i64)> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE account_id = $1 \
                 ORDER BY id DESC LIMIT $2 OFFSET $3"
            )))
            .bind(account_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
        })?;
        let total = self.count_templates(account_id).await?;
        Ok((rows, total))
    }

    pub async fn count_templates(&self, account_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM templates WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// Deletes the caller's template; false when there was none.
    pub async fn delete_template(&self, account_id: i64, id: i64) -> Result<bool> {
        let done = on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM templates WHERE id = $1 AND account_id = $2")
                .bind(id)
                .bind(account_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// An operator's review decision; `None` when no template has this id.
    pub async fn review_template(
        &self,
        id: i64,
        status: i64,
        reason: &str,
    ) -> Result<Option<Template>> {
        let row = on_pool_write!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE templates SET status = $1, review_reason = $2 WHERE id = $3 \
                 RETURNING {TEMPLATE_COLUMNS}"
            )))
            .bind(status)
            .bind(reason)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }
}
