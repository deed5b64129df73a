//! Per-(account, action) request throttling: a token bucket refilled at `per_second` tokens a
//! second and holding at most `per_second` (the burst), as Tencent's "20 requests/second per
//! account" limit reads.
//!
//! Time is passed in, never read, so tests use explicit `Instant`s. Memory stays bounded: idle
//! buckets (which are full anyway) are dropped now and then, and a hard cap guards against a
//! flood of distinct keys. Call it after authentication and after the action is known to exist,
//! so only real (account, action) pairs get buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket untouched this long is full again (any burst refills within a second), so
/// forgetting it changes nothing.
const IDLE_TTL: Duration = Duration::from_secs(60);

/// How often the prune pass runs at most.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Most buckets held; 36 actions for thousands of active accounts fit well below it.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug)]
struct Bucket {
    /// Tokens available, at most the burst.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<(i64, String), Bucket>,
    last_prune: Option<Instant>,
}

/// Thread-safe token buckets keyed by (account id, action name).
#[derive(Debug)]
pub struct RateLimiter {
    /// Refill rate and burst; 0 disables limiting.
    per_second: u32,
    state: Mutex<State>,
}

impl RateLimiter {
    /// Allows `per_second` calls a second per (account, action), with bursts of the same size.
    /// `0` means unlimited.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            state: Mutex::new(State::default()),
        }
    }

    /// Takes one token for this call; `false` means answer `RequestLimitExceeded`.
    pub fn check(&self, account: i64, action: &str, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let burst = f64::from(self.per_second);
        // A poisoned lock only means another thread panicked while holding it; the buckets are
        // still plain numbers, so keep going.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let is_prune_due = state
            .last_prune
            .is_none_or(|last| now.saturating_duration_since(last) >= PRUNE_EVERY);
        if is_prune_due || state.buckets.len() >= MAX_BUCKETS {
            state
                .buckets
                .retain(|_, bucket| now.saturating_duration_since(bucket.updated_at) < IDLE_TTL);
            state.last_prune = Some(now);
            if state.buckets.len() >= MAX_BUCKETS {
                // Every bucket is busy: start over rather than grow. This briefly forgives
                // recent bursts, which is better than refusing everyone or unbounded memory.
                state.buckets.clear();
            }
        }

        let key = (account, action.to_owned());
        let bucket = state.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated_at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated_at);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * burst).min(burst);
        // Instants passed out of order must not move the clock backwards.
        bucket.updated_at = bucket.updated_at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Buckets currently held (for tests and metrics).
    pub fn n_buckets(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .buckets
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(limiter: &RateLimiter, account: i64, action: &str, at: Instant, expected: bool) {
        assert_eq!(
            limiter.check(account, action, at),
            expected,
            "{account} {action}"
        );
    }

    #[test]
    fn allows_a_burst_then_refills_over_time() {
        let limiter = RateLimiter::new(20);
        let start = Instant::now();
        for _ in 0..20 {
            check(&limiter, 1, "SendEmail", start, true);
        }
        check(&limiter, 1, "SendEmail", start, false);
        // 50 ms refills one token at 20/s.
        check(
            &limiter,
            1,
            "SendEmail",
            start + Duration::from_millis(50),
            true,
        );
        check(
            &limiter,
            1,
            "SendEmail",
            start + Duration::from_millis(50),
            false,
        );
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(10);
        for _ in 0..20 {
            check(&limiter, 1, "SendEmail", later, true);
        }
        check(&limiter, 1, "SendEmail", later, false);
    }

    #[test]
    fn buckets_are_per_account_and_action() {
        let limiter = RateLimiter::new(1);
        let now = Instant::now();
        check(&limiter, 1, "SendEmail", now, true);
        check(&limiter, 1, "SendEmail", now, false);
        check(&limiter, 1, "ListEmailTemplates", now, true);
        check(&limiter, 2, "SendEmail", now, true);
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0);
        let now = Instant::now();
        for _ in 0..1000 {
            check(&limiter, 1, "SendEmail", now, true);
        }
        assert_eq!(limiter.n_buckets(), 0);
    }

    #[test]
    fn idle_buckets_are_pruned() {
        let limiter = RateLimiter::new(5);
        let start = Instant::now();
        check(&limiter, 1, "SendEmail", start, true);
        check(
            &limiter,
            2,
            "SendEmail",
            start + Duration::from_secs(30),
            true,
        );
        assert_eq!(limiter.n_buckets(), 2);
        check(
            &limiter,
            3,
            "SendEmail",
            start + Duration::from_secs(61),
            true,
        );
        assert_eq!(limiter.n_buckets(), 2, "account 1 was idle for 61 s");
    }

    #[test]
    fn out_of_order_instants_do_not_refill() {
        let limiter = RateLimiter::new(1);
        let start = Instant::now();
        let later = start + Duration::from_secs(5);
        check(&limiter, 1, "SendEmail", later, true);
        check(&limiter, 1, "SendEmail", start, false);
        check(&limiter, 1, "SendEmail", later, false);
    }
}
