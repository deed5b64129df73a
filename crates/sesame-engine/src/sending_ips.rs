//! Which source addresses leased deliveries leave from (dedicated sending IPs): the pool of the
//! message's sender domain, else its account's pool, else the shared addresses. The queue
//! worker groups deliveries by destination domain and by this pool, so a connection bound to
//! one account's address never carries another account's mail.
//!
//! Reads the pools once per queue pass (a handful of rows); never falls back to the shared
//! addresses for a delivery whose account or domain has a pool.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;

use sesame_store::ip_pools::{PoolMember, PoolScope, pool_of_domain};
use sesame_store::queue::LeasedDelivery;
use sesame_store::{Store, StoreError};

use crate::delivery::{Rotations, Source, SourcePool};

/// The pools of one queue pass.
#[derive(Debug, Default)]
pub struct SendingIps {
    scope_of_delivery: HashMap<i64, PoolScope>,
    pools: HashMap<PoolScope, SourcePool>,
}

impl SendingIps {
    /// Looks up the pool of every delivery in `leased`, continuing each pool's round-robin
    /// turn from `rotations`.
    pub async fn resolve(
        store: &Store,
        rotations: &Rotations<PoolScope>,
        leased: &[LeasedDelivery],
    ) -> Result<SendingIps, StoreError> {
        let mut members_of_account: HashMap<i64, Vec<PoolMember>> = HashMap::new();
        for delivery in leased {
            if let Entry::Vacant(slot) = members_of_account.entry(delivery.account_id) {
                slot.insert(store.pool_members_of_account(delivery.account_id).await?);
            }
        }
        let mut ips = SendingIps::default();
        let mut domain_of_message: HashMap<i64, Option<i64>> = HashMap::new();
        for delivery in leased {
            let members = &members_of_account[&delivery.account_id];
            if members.is_empty() {
                continue;
            }
            let domain_id = match domain_of_message.get(&delivery.message_row) {
                Some(domain_id) => *domain_id,
                None => {
                    let domain_id = store.message_domain_id(delivery.message_row).await?;
                    domain_of_message.insert(delivery.message_row, domain_id);
                    domain_id
                }
            };
            // A message without its row is skipped by the worker; -1 matches no domain pool.
            let Some((scope, addresses)) = pool_of_domain(members, domain_id.unwrap_or(-1)) else {
                continue;
            };
            ips.scope_of_delivery.insert(delivery.id, scope);
            if let Entry::Vacant(slot) = ips.pools.entry(scope) {
                let label = label_of(scope, members);
                let addresses = parse_addresses(&label, &addresses);
                slot.insert(rotations.pool(scope, label, addresses));
            }
        }
        Ok(ips)
    }

    /// The pool `delivery` leaves from; `None` for the shared addresses.
    pub fn scope_of(&self, delivery: &LeasedDelivery) -> Option<PoolScope> {
        self.scope_of_delivery.get(&delivery.id).copied()
    }

    /// Where connections of the pool `scope` come from.
    pub fn source(&self, scope: Option<PoolScope>) -> Source {
        match scope.and_then(|scope| self.pools.get(&scope)) {
            Some(pool) => Source::Pool(pool.clone()),
            None => Source::Shared,
        }
    }
}

fn label_of(scope: PoolScope, members: &[PoolMember]) -> String {
    match scope {
        PoolScope::Account(account_id) => format!("account {account_id}"),
        PoolScope::Domain(domain_id) => {
            let name = members
                .iter()
                .find(|m| m.domain_id == Some(domain_id))
                .and_then(|m| m.domain.as_deref())
                .unwrap_or("?");
            format!("domain {name}")
        }
    }
}

/// The pool's addresses as stored (canonical text, checked by `sesame ip add`). One that does
/// not parse is left out with an error line; a pool left empty sends nothing (never shared).
fn parse_addresses(label: &str, addresses: &[&str]) -> Vec<IpAddr> {
    addresses
        .iter()
        .filter_map(|text| match text.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                tracing::error!(
                    pool = label,
                    address = text,
                    "stored pool address is not an IP address"
                );
                None
            }
        })
        .collect()
}
