//! What a SendEmail reads of the control plane, in one round trip: the account, the sender
//! address and its domain, the template and the sender's unsubscribe footer setting.
//!
//! On SQLite the five SELECTs go to the connection as one multi-statement query (the rows
//! of each come back after those of the one before, each statement closed by its result),
//! so the per-statement hop to sqlx's worker thread is paid once. PostgreSQL's extended
//! protocol takes one statement at a time: there the five run side by side on the pool.

use futures_util::TryStreamExt;
use sqlx::{Either, FromRow};

use crate::accounts::{ACCOUNT_COLUMNS, Account};
use crate::domains::{DOMAIN_COLUMNS, Domain};
use crate::senders::{SENDER_COLUMNS, Sender};
use crate::templates::{TEMPLATE_COLUMNS, Template};
use crate::tracking::UnsubscribeConfig;
use crate::{Backend, Result, Store};

/// The rows a SendEmail checks, each `None` when missing.
#[derive(Debug, Default)]
pub struct SendContext {
    pub account: Option<Account>,
    /// The sender row of the address (in this account).
    pub sender: Option<Sender>,
    /// The domain of that name (in this account), verified or not.
    pub domain: Option<Domain>,
    /// The template asked for (in this account), whatever its review status.
    pub template: Option<Template>,
    /// The sender's default unsubscribe footer.
    pub unsubscribe: Option<UnsubscribeConfig>,
}

impl Store {
    /// Reads the `SendContext` of a mail from `address` (at `domain`) of `account_id`, with
    /// template `template_id` if any.
    pub async fn send_context(
        &self,
        account_id: i64,
        address: &str,
        domain: &str,
        template_id: Option<i64>,
    ) -> Result<SendContext> {
        let pool = match &self.backend {
            Backend::Sqlite(pool) => pool,
            Backend::Postgres(_) => {
                let (account, sender, domain, template, unsubscribe) = tokio::try_join!(
                    self.account(account_id),
                    self.sender(account_id, address),
                    self.domain(account_id, domain),
                    async {
                        match template_id {
                            Some(id) => self.template(account_id, id).await,
                            None => Ok(None),
                        }
                    },
                    self.unsubscribe_config(account_id, address),
                )?;
                return Ok(SendContext {
                    account,
                    sender,
                    domain,
                    template,
                    unsubscribe,
                });
            }
        };
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1; \
             SELECT {SENDER_COLUMNS} FROM senders WHERE account_id = $1 AND address = $2; \
             SELECT {DOMAIN_COLUMNS} FROM domains WHERE account_id = $1 AND name = $3; \
             SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $4 AND account_id = $1; \
             SELECT address, language, status FROM unsubscribe_configs \
             WHERE account_id = $1 AND address = $2"
        );
        // sqlx 0.9 deprecates multi-statement queries with parameters (only its SQLite driver
        // has them); `raw_sql` takes no parameters, and binding is what keeps the caller's
        // text out of the SQL.
        #[allow(deprecated)]
        let mut results = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(address)
            .bind(domain)
            .bind(template_id)
            .fetch_many(pool);
        let mut context = SendContext::default();
        // Which statement the next row comes from.
        let mut statement = 0;
        while let Some(item) = results.try_next().await? {
            let row = match item {
                Either::Left(_) => {
                    statement += 1;
                    continue;
                }
                Either::Right(row) => row,
            };
            match statement {
                0 => context.account = Some(Account::from_row(&row)?),
                1 => context.sender = Some(Sender::from_row(&row)?),
                2 => context.domain = Some(Domain::from_row(&row)?),
                3 => context.template = Some(Template::from_row(&row)?),
                _ => context.unsubscribe = Some(UnsubscribeConfig::from_row(&row)?),
            }
        }
        Ok(context)
    }
}
