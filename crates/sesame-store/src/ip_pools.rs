//! Dedicated sending IPs: the source addresses the operator gives an account (its pool) or one
//! of its sender domains (the domain's pool, which overrides the account's). An address belongs
//! to at most one account in the whole deployment: `ip_owners` holds that ownership under a
//! primary key, so two accounts can never both hold an address, even when two commands race.
//! An owner row whose address sits in no pool any more (its domain was deleted) is free: the
//! next account to add the address takes it over.
//!
//! Addresses are stored in their canonical text form (`IpAddr`'s `Display`); this module does
//! not parse them, bind them or know which are local.

use sqlx::FromRow;

use crate::{Result, Store, on_pool};

/// One address in one pool.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PoolMember {
    /// Canonical text form, e.g. `192.0.2.7`.
    pub ip: String,
    pub account_id: i64,
    /// The sender domain whose pool this is; `None` for the account's pool.
    pub domain_id: Option<i64>,
    /// That domain's name (`None` for the account's pool).
    pub domain: Option<String>,
}

/// Whose pool a delivery's source addresses come from: the key of its round-robin turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolScope {
    /// The account's own pool (AppId).
    Account(i64),
    /// A sender domain's pool (the domain's row id).
    Domain(i64),
}

/// The pool mail from `domain_id` (a sender domain of the account the `members` belong to)
/// leaves from: the domain's pool when it has one, else the account's, else `None` (shared
/// addresses). Addresses come in the order they were added, the round-robin order.
pub fn pool_of_domain(members: &[PoolMember], domain_id: i64) -> Option<(PoolScope, Vec<&str>)> {
    let in_domain: Vec<&str> = members
        .iter()
        .filter(|m| m.domain_id == Some(domain_id))
        .map(|m| m.ip.as_str())
        .collect();
    if !in_domain.is_empty() {
        return Some((PoolScope::Domain(domain_id), in_domain));
    }
    let account_id = members.first()?.account_id;
    let in_account: Vec<&str> = members
        .iter()
        .filter(|m| m.domain_id.is_none())
        .map(|m| m.ip.as_str())
        .collect();
    (!in_account.is_empty()).then_some((PoolScope::Account(account_id), in_account))
}

/// What adding an address to a pool did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddIp {
    Added,
    /// The address was in that pool already.
    AlreadyInPool,
    /// Another account (this AppId) owns the address: nothing changed.
    OwnedByOther(i64),
}

/// What removing an address from a pool did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveIp {
    /// The address was in that pool and is not any more.
    pub removed: bool,
    /// The address is in none of the account's pools any more, so another account may take it.
    pub released: bool,
}

const MEMBER_SELECT: &str = "SELECT m.ip, m.account_id, m.domain_id, d.name AS domain \
     FROM ip_pool_members m LEFT JOIN domains d ON d.id = m.domain_id";

impl Store {
    /// Adds `ip` to the pool of `account_id` (`domain_id` `None`) or of its sender domain
    /// `domain_id` (the caller checks the domain is the account's). Refuses, changing nothing,
    /// when another account owns the address.
    pub async fn add_pool_ip(
        &self,
        account_id: i64,
        domain_id: Option<i64>,
        ip: &str,
        now: i64,
    ) -> Result<AddIp> {
        let outcome = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            // An address another account owns but uses in no pool is free (see the module doc).
            sqlx::query(
                "DELETE FROM ip_owners WHERE ip = $1 AND account_id <> $2 \
                 AND NOT EXISTS (SELECT 1 FROM ip_pool_members WHERE ip = $1)",
            )
            .bind(ip)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO ip_owners (ip, account_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (ip) DO NOTHING",
            )
            .bind(ip)
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let (owner,): (i64,) = sqlx::query_as("SELECT account_id FROM ip_owners WHERE ip = $1")
                .bind(ip)
                .fetch_one(&mut *tx)
                .await?;
            if owner != account_id {
                tx.rollback().await?;
                AddIp::OwnedByOther(owner)
            } else {
                let n = sqlx::query(
                    "INSERT INTO ip_pool_members (ip, account_id, domain_id, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(ip)
                .bind(account_id)
                .bind(domain_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                if n > 0 { AddIp::Added } else { AddIp::AlreadyInPool }
            }
        });
        Ok(outcome)
    }

    /// Removes `ip` from the pool of `account_id` (`domain_id` `None`) or of its sender domain
    /// `domain_id`, and gives up the account's ownership of it once it is in none of its pools.
    pub async fn remove_pool_ip(
        &self,
        account_id: i64,
        domain_id: Option<i64>,
        ip: &str,
    ) -> Result<RemoveIp> {
        let outcome = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let removed = match domain_id {
                Some(domain_id) => sqlx::query(
                    "DELETE FROM ip_pool_members WHERE ip = $1 AND account_id = $2 AND domain_id = $3",
                )
                .bind(ip)
                .bind(account_id)
                .bind(domain_id)
                .execute(&mut *tx)
                .await?,
                None => sqlx::query(
                    "DELETE FROM ip_pool_members WHERE ip = $1 AND account_id = $2 AND domain_id IS NULL",
                )
                .bind(ip)
                .bind(account_id)
                .execute(&mut *tx)
                .await?,
            }
            .rows_affected();
            let released = sqlx::query(
                "DELETE FROM ip_owners WHERE ip = $1 AND account_id = $2 \
                 AND NOT EXISTS (SELECT 1 FROM ip_pool_members WHERE ip = $1)",
            )
            .bind(ip)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            RemoveIp { removed: removed > 0, released: released > 0 }
        });
        Ok(outcome)
    }

    /// The account that owns `ip` through one of its pools, if any.
    pub async fn ip_owner(&self, ip: &str) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT account_id FROM ip_owners WHERE ip = $1 \
                 AND EXISTS (SELECT 1 FROM ip_pool_members WHERE ip = $1)",
            )
            .bind(ip)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(id,)| id))
    }

    /// Every pool address of an account (its pool and its domains'), in round-robin order
    /// within each pool. Empty when the account sends from the shared addresses only.
    pub async fn pool_members_of_account(&self, account_id: i64) -> Result<Vec<PoolMember>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{MEMBER_SELECT} WHERE m.account_id = $1 ORDER BY m.id"
            )))
            .bind(account_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The sender domain (row id) a stored message was sent from.
    pub async fn message_domain_id(&self, message_row: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT domain_id FROM messages WHERE id = $1")
                .bind(message_row)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(id,)| id))
    }

    /// Every pool address of the deployment, by account, then the account's pool before its
    /// domains' (by name), each in round-robin order.
    pub async fn all_pool_members(&self) -> Result<Vec<PoolMember>> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{MEMBER_SELECT} ORDER BY m.account_id, m.domain_id IS NOT NULL, d.name, m.id"
            )))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::{PoolMember, PoolScope, pool_of_domain};

    fn member(ip: &str, domain_id: Option<i64>) -> PoolMember {
        PoolMember {
            ip: ip.to_owned(),
            account_id: 7,
            domain_id,
            domain: domain_id.map(|id| format!("d{id}.test")),
        }
    }

    fn check(members: &[PoolMember], domain_id: i64, expected: Option<(PoolScope, &[&str])>) {
        let got = pool_of_domain(members, domain_id);
        assert_eq!(
            got.as_ref().map(|(scope, ips)| (*scope, ips.as_slice())),
            expected,
            "domain {domain_id}"
        );
    }

    #[test]
    fn a_domain_pool_overrides_the_account_pool() {
        let members = [
            member("192.0.2.1", None),
            member("192.0.2.2", Some(1)),
            member("192.0.2.3", None),
            member("192.0.2.4", Some(1)),
        ];
        check(
            &members,
            1,
            Some((PoolScope::Domain(1), &["192.0.2.2", "192.0.2.4"])),
        );
        check(
            &members,
            2,
            Some((PoolScope::Account(7), &["192.0.2.1", "192.0.2.3"])),
        );
    }

    #[test]
    fn without_an_account_pool_other_domains_share() {
        let members = [member("192.0.2.2", Some(1))];
        check(&members, 1, Some((PoolScope::Domain(1), &["192.0.2.2"])));
        check(&members, 2, None);
        check(&[], 1, None);
    }
}
