//! What recipients do with their mail: opens, clicks and unsubscribes, each recorded with its
//! event and statistics in one transaction; the unsubscribe list (per account and sender
//! domain) that later sends consult; and the default unsubscribe footer per sender address.

use sesame_core::event::EventKind;
use sqlx::FromRow;

use crate::events::{StatDelta, bump_stats, domain_of, event_of, queue_event};
use crate::inbound::{DeliveryInfo, INFO_SELECT};
use crate::{Result, Store, on_pool, on_pool_write};

/// What a recipient did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engagement {
    Open,
    Click,
    Unsubscribe,
}

/// A sender address's default unsubscribe footer.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct UnsubscribeConfig {
    pub address: String,
    /// The API's language code as sent ("0".."12").
    pub language: String,
    /// 1 = on, 0 = off.
    pub status: i64,
}

impl Store {
    /// The accepted delivery of API message `message_id` to `recipient`.
    pub async fn delivery_of_message(
        &self,
        message_id: &str,
        recipient: &str,
    ) -> Result<Option<DeliveryInfo>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{INFO_SELECT} WHERE m.message_id = $1 AND d.recipient = $2 AND d.send_status = 0"
            )))
            .bind(message_id)
            .bind(recipient)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Records an open, a click (of `link`) or an unsubscribe of `d`, with its event
    /// (`user_agent` and `link` in the body) and statistics. Opens and clicks count every time;
    /// an unsubscribe once per delivery, and it also puts the recipient on the account's
    /// unsubscribe list for the sender domain. Returns whether anything was recorded.
    pub async fn record_engagement(
        &self,
        d: &DeliveryInfo,
        what: Engagement,
        link: &str,
        user_agent: &str,
        now: i64,
    ) -> Result<bool> {
        let user_agent: String = user_agent.chars().take(512).collect();
        let link: String = link.chars().take(2048).collect();
        let (update, kind, delta) = match what {
            Engagement::Open => (
                "UPDATE deliveries SET opened = opened + 1 WHERE id = $1",
                EventKind::Open,
                StatDelta {
                    opened: 1,
                    ..StatDelta::default()
                },
            ),
            Engagement::Click => (
                "UPDATE deliveries SET clicked = clicked + 1 WHERE id = $1",
                EventKind::Click,
                StatDelta {
                    clicked: 1,
                    ..StatDelta::default()
                },
            ),
            Engagement::Unsubscribe => (
                "UPDATE deliveries SET unsubscribed = 1 WHERE id = $1 AND unsubscribed = 0",
                EventKind::Unsubscribe,
                StatDelta {
                    unsubscribed: 1,
                    ..StatDelta::default()
                },
            ),
        };
        let from_domain = domain_of(&d.from_address).to_string();
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let changed = sqlx::query(update)
                .bind(d.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            if what == Engagement::Unsubscribe {
                sqlx::query(
                    "INSERT INTO unsubscribes (account_id, from_domain, recipient, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, from_domain, recipient) DO NOTHING",
                )
                .bind(d.account_id)
                .bind(&from_domain)
                .bind(d.recipient.to_ascii_lowercase())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            bump_stats!(tx, d.account_id, d.stat_day, &from_domain, &d.recipient_domain, &delta);
            let mut event = event_of(d, kind, now);
            event.user_agent = (what != Engagement::Unsubscribe).then_some(user_agent.as_str());
            event.link = (what == Engagement::Click).then_some(link.as_str());
            queue_event!(tx, &event, now);
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Whether `recipient` unsubscribed from mail of `from_domain` in this account.
    pub async fn is_unsubscribed(
        &self,
        account_id: i64,
        from_domain: &str,
        recipient: &str,
    ) -> Result<bool> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM unsubscribes WHERE account_id = $1 AND from_domain = $2 \
                 AND recipient = $3",
            )
            .bind(account_id)
            .bind(from_domain)
            .bind(recipient.to_ascii_lowercase())
            .fetch_one(pool)
            .await
        })?;
        Ok(n > 0)
    }

    /// The sender's default unsubscribe footer, if one is set.
    pub async fn unsubscribe_config(
        &self,
        account_id: i64,
        address: &str,
    ) -> Result<Option<UnsubscribeConfig>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT address, language, status FROM unsubscribe_configs \
                 WHERE account_id = $1 AND address = $2",
            )
            .bind(account_id)
            .bind(address)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Sets a sender's default footer; with `must_exist` only an existing one is changed.
    /// Returns false when `must_exist` and there was none.
    pub async fn set_unsubscribe_config(
        &self,
        account_id: i64,
        config: &UnsubscribeConfig,
        must_exist: bool,
        now: i64,
    ) -> Result<bool> {
        let sql = if must_exist {
            "UPDATE unsubscribe_configs SET language = $3, status = $4 \
             WHERE account_id = $1 AND address = $2"
        } else {
            "INSERT INTO unsubscribe_configs (account_id, address, language, status, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, address) DO UPDATE \
             SET language = excluded.language, status = excluded.status"
        };
        let n = on_pool_write!(self, pool => {
            sqlx::query(sql)
                .bind(account_id)
                .bind(&config.address)
                .bind(&config.language)
                .bind(config.status)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Removes a sender's default footer; false when there was none.
    pub async fn delete_unsubscribe_config(&self, account_id: i64, address: &str) -> Result<bool> {
        let n = on_pool_write!(self, pool => {
            sqlx::query("DELETE FROM unsubscribe_configs WHERE account_id = $1 AND address = $2")
                .bind(account_id)
                .bind(address)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// One page of the account's footers, oldest first, and how many there are.
    pub async fn list_unsubscribe_configs(
        &self,
        account_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<UnsubscribeConfig>, i64)> {
        let (rows, (total,)) = on_pool!(self, pool => {
            let rows: Vec<UnsubscribeConfig> = sqlx::query_as(
                "SELECT address, language, status FROM unsubscribe_configs WHERE account_id = $1 \
                 ORDER BY created_at, address LIMIT $2 OFFSET $3",
            )
            .bind(account_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total: (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM unsubscribe_configs WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_one(pool)
                    .await?;
            (rows, total)
        });
        Ok((rows, total))
    }
}
