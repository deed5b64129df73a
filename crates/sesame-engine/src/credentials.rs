//! Passwords and guessing limits, shared by SMTP AUTH, the console's sign-in and the actions
//! that set passwords: argon2 hashing and checking (tens of milliseconds of CPU each: call
//! them off the async threads), a check that costs the same for an unknown user, and a
//! throttle of failed attempts per client address and per user name, so a password cannot
//! be guessed by brute force from one place or spread over many. Passwords are never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(600);

/// The argon2 PHC hash of `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Whether `password` matches the PHC `hash` (false for anything that is not one).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends one check's time on a fixed hash, so an unknown user is refused as slowly as a
/// wrong password (no user enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
    let _ = verify_password(hash, password);
}

/// Failed-attempt counters per client address and per user name, each with its own limit
/// within [`WINDOW`].
pub struct Throttle {
    max_per_client: u32,
    max_per_user: u32,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(max_per_client: u32, max_per_user: u32) -> Self {
        Throttle {
            max_per_client,
            max_per_user,
            failures: Mutex::default(),
        }
    }

    /// Whether the client or the user has used up its attempts.
    pub fn is_blocked(&self, peer: IpAddr, user: &str, now: Instant) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return true;
        };
        let over = |key: &str, max: u32| {
            failures
                .get(key)
                .is_some_and(|(n, since)| *n >= max && now.duration_since(*since) < WINDOW)
        };
        over(&client_key(peer), self.max_per_client) || over(&user_key(user), self.max_per_user)
    }

    /// Counts a failed attempt against both the client and the user.
    pub fn record_failure(&self, peer: IpAddr, user: &str, now: Instant) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for key in [client_key(peer), user_key(user)] {
            let entry = failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A success clears the user's count (not the client's: one client guessing at many
    /// users stays throttled).
    pub fn record_success(&self, user: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&user_key(user));
        }
    }
}

fn client_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

fn user_key(user: &str) -> String {
    format!("user:{}", user.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_check() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "correct horsE"));
        assert!(!verify_password("not a hash", "correct horse"));
        verify_nothing("anything");
    }

    #[test]
    fn throttle_blocks_the_user_then_the_client() {
        let throttle = Throttle::new(4, 2);
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..2 {
            assert!(!throttle.is_blocked(ip, "a@example.com", now));
            throttle.record_failure(ip, "a@example.com", now);
        }
        assert!(throttle.is_blocked(other, "A@example.com", now), "the user");
        assert!(
            !throttle.is_blocked(ip, "b@example.com", now),
            "not yet the client"
        );
        throttle.record_failure(ip, "c@example.com", now);
        throttle.record_failure(ip, "d@example.com", now);
        assert!(throttle.is_blocked(ip, "b@example.com", now), "the client");
        assert!(!throttle.is_blocked(other, "b@example.com", now));
        assert!(!throttle.is_blocked(ip, "a@example.com", now + WINDOW));
        throttle.record_success("a@example.com");
        assert!(!throttle.is_blocked(other, "a@example.com", now));
    }
}
