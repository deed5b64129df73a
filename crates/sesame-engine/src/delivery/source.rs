//! Source addresses of outgoing connections: the shared default (whatever address the system
//! picks) or a dedicated pool of an account or sender domain, taken round-robin per pool.
//!
//! A pool address that cannot be bound (the host does not have it: EADDRNOTAVAIL) is skipped
//! with a warning naming it; when no address of the pool can be used, the connection fails and
//! the mail waits for the next try. A pool never falls back to the shared addresses, so a
//! dedicated customer's mail never leaves from them (and the queue worker never hands another
//! account's mail to a pool). Knows nothing of storage: the worker says which pool a batch uses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::smtp::{SessionError, SmtpClient, Timeouts};

/// Where a batch's connections come from.
#[derive(Debug, Clone, Default)]
pub enum Source {
    /// The host's default source address (not bound by Sesame).
    #[default]
    Shared,
    /// A dedicated pool: only its addresses, never the shared ones.
    Pool(SourcePool),
}

/// A dedicated pool with its round-robin turn (shared by every batch of the same pool).
#[derive(Debug, Clone)]
pub struct SourcePool {
    /// Whose pool it is, for log lines ("account 1000001", "domain example.com").
    pub label: String,
    addresses: Arc<[IpAddr]>,
    turn: Arc<AtomicUsize>,
}

impl SourcePool {
    /// The pool's addresses, in round-robin order.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    /// The addresses to try for the next connection, starting with the one whose turn it is;
    /// each call moves the turn on by one.
    fn next_order(&self) -> Vec<IpAddr> {
        let n = self.addresses.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.turn.fetch_add(1, Ordering::Relaxed) % n;
        (0..n).map(|i| self.addresses[(start + i) % n]).collect()
    }
}

/// The round-robin turns of every pool, kept across queue passes so that consecutive
/// connections of a pool go out from its addresses in turn.
#[derive(Debug)]
pub struct Rotations<K> {
    turns: Mutex<HashMap<K, Arc<AtomicUsize>>>,
}

impl<K: std::hash::Hash + Eq> Default for Rotations<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: std::hash::Hash + Eq> Rotations<K> {
    pub fn new() -> Self {
        Self {
            turns: Mutex::new(HashMap::new()),
        }
    }

    /// The pool `key` with `addresses`, continuing `key`'s round-robin turn.
    pub fn pool(&self, key: K, label: String, addresses: Vec<IpAddr>) -> SourcePool {
        let turn = self
            .turns
            .lock()
            .expect("no panic while holding the turns lock")
            .entry(key)
            .or_default()
            .clone();
        SourcePool {
            label,
            addresses: addresses.into(),
            turn,
        }
    }
}

/// Opens a session with `address` from `source`: for a pool, from its next address in turn of
/// the destination's family, skipping (with a warning) those that cannot be bound.
pub(super) async fn connect(
    source: &Source,
    address: SocketAddr,
    server_name: &str,
    helo_name: &str,
    timeouts: Timeouts,
) -> Result<SmtpClient, SessionError> {
    let pool = match source {
        Source::Shared => {
            return SmtpClient::connect_named(address, Some(server_name), helo_name, timeouts)
                .await;
        }
        Source::Pool(pool) => pool,
    };
    let candidates: Vec<IpAddr> = pool
        .next_order()
        .into_iter()
        .filter(|ip| ip.is_ipv4() == address.is_ipv4())
        .collect();
    if candidates.is_empty() {
        return Err(SessionError::NoSource(format!(
            "the dedicated pool of {} has no {} address to reach {address}",
            pool.label,
            if address.is_ipv4() { "IPv4" } else { "IPv6" },
        )));
    }
    for source_ip in candidates {
        match SmtpClient::connect_from(
            address,
            Some(source_ip),
            Some(server_name),
            helo_name,
            timeouts,
        )
        .await
        {
            Err(SessionError::Bind { source_ip, reason }) => {
                tracing::warn!(
                    pool = %pool.label,
                    source = %source_ip,
                    %reason,
                    "dedicated source address cannot be bound: skipping it (is it configured on this host?)"
                );
            }
            Ok(client) => {
                tracing::info!(
                    pool = %pool.label,
                    source = %source_ip,
                    host = server_name,
                    %address,
                    "connected from a dedicated source address"
                );
                return Ok(client);
            }
            Err(error) => return Err(error),
        }
    }
    tracing::warn!(
        pool = %pool.label,
        addresses = ?pool.addresses(),
        %address,
        "no dedicated source address of the pool can be bound: the mail waits for the next try \
         (it never leaves from the shared addresses)"
    );
    Err(SessionError::NoSource(format!(
        "no address of the dedicated pool of {} can be bound on this host",
        pool.label
    )))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::Rotations;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn turns_go_round_and_survive_a_new_pool_value() {
        let rotations = Rotations::new();
        let addresses = vec![ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")];
        let pool = rotations.pool(1, "account 1".into(), addresses.clone());
        assert_eq!(pool.next_order(), addresses);
        assert_eq!(
            pool.next_order(),
            [ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.1")]
        );
        // The next pass builds the pool again: the turn goes on where it was.
        let again = rotations.pool(1, "account 1".into(), addresses.clone());
        assert_eq!(again.next_order()[0], ip("192.0.2.3"));
        // Another pool has its own turn.
        let other = rotations.pool(2, "account 2".into(), addresses.clone());
        assert_eq!(other.next_order()[0], ip("192.0.2.1"));
    }
}
