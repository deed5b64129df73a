//! Replay protection for legacy-signature requests: remembers each (SecretId, Nonce,
//! Timestamp) seen recently and refuses it a second time.
//!
//! Only the time window needs covering: a request older than the ±5-minute clock window fails
//! verification anyway, so entries are kept 10 minutes and then pruned. Memory is bounded by a
//! hard cap; past it the oldest entries go first. Holds a std `Mutex` for microseconds and
//! never across I/O.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// How long an entry is kept, in seconds: twice the clock window, so a timestamp anywhere in
/// `now ± 300` stays remembered while it can still verify.
const RETENTION_SECS: i64 = 600;

/// Most entries kept at once.
const DEFAULT_CAPACITY: usize = 100_000;

/// Thread-safe set of recently seen legacy request ids. Share one per server.
#[derive(Debug)]
pub struct NonceCache {
    capacity: usize,
    /// Ordered by timestamp first, so pruning and eviction take the oldest from the front.
    seen: Mutex<BTreeSet<(i64, String, u64)>>,
}

impl Default for NonceCache {
    fn default() -> Self {
        Self::new()
    }
}

impl NonceCache {
    /// A cache holding up to 100,000 entries.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A cache holding up to `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Records the request and returns `true` if it is new; returns `false` for a replay.
    /// `timestamp` is the request's, `now` the server's Unix time.
    pub fn check_and_insert(&self, secret_id: &str, nonce: u64, timestamp: i64, now: i64) -> bool {
        // A poisoned lock only means another thread panicked mid-insert; the set is still a
        // valid set, so keep using it rather than failing every later request.
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let horizon = now.saturating_sub(RETENTION_SECS);
        if seen.first().is_some_and(|(oldest, _, _)| *oldest < horizon) {
            *seen = seen.split_off(&(horizon, String::new(), 0));
        }
        let key = (timestamp, secret_id.to_owned(), nonce);
        if seen.contains(&key) {
            return false;
        }
        while seen.len() >= self.capacity {
            seen.pop_first();
        }
        seen.insert(key);
        true
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        cache: &NonceCache,
        secret_id: &str,
        nonce: u64,
        timestamp: i64,
        now: i64,
        expected: bool,
    ) {
        assert_eq!(
            cache.check_and_insert(secret_id, nonce, timestamp, now),
            expected,
            "{secret_id} {nonce} {timestamp} at {now}"
        );
    }

    #[test]
    fn refuses_a_replay_within_the_window() {
        let cache = NonceCache::new();
        check(&cache, "AKID1", 7, 1000, 1000, true);
        check(&cache, "AKID1", 7, 1000, 1200, false);
        // Any component differing makes it another request.
        check(&cache, "AKID2", 7, 1000, 1000, true);
        check(&cache, "AKID1", 8, 1000, 1000, true);
        check(&cache, "AKID1", 7, 1001, 1000, true);
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn prunes_entries_older_than_ten_minutes() {
        let cache = NonceCache::new();
        check(&cache, "AKID1", 1, 1000, 1000, true);
        check(&cache, "AKID1", 2, 1500, 1500, true);
        check(&cache, "AKID1", 3, 1700, 1700, true);
        assert_eq!(cache.len(), 2, "the entry from 1000 is gone at 1700");
        check(&cache, "AKID1", 2, 1500, 1700, false);
    }

    #[test]
    fn capacity_is_a_hard_bound() {
        let cache = NonceCache::with_capacity(3);
        for nonce in 0..10 {
            check(&cache, "AKID1", nonce, 1000 + nonce as i64, 1000, true);
        }
        assert_eq!(cache.len(), 3);
        // The newest survive.
        check(&cache, "AKID1", 9, 1009, 1000, false);
    }
}
