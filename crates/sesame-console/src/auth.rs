//! Console passwords and sign-in throttling: argon2 hashing and checking (CPU-heavy: callers
//! run them off the async threads), a check that costs the same for an unknown user, generated
//! passwords, session and CSRF tokens, and a throttle of failed sign-ins per e-mail and per
//! client address. Passwords are never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Failed sign-ins allowed per e-mail within `WINDOW`.
pub const MAX_FAILURES_PER_EMAIL: u32 = 5;
/// Failed sign-ins allowed per client address within `WINDOW` (higher: people share NATs).
pub const MAX_FAILURES_PER_IP: u32 = 20;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Shortest password `sesame user create` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The argon2 PHC hash of `password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Whether `password` matches the PHC `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends one check's time on a fixed hash, so an unknown e-mail is refused as slowly as a
/// wrong password (no user enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
    let _ = verify_password(hash, password);
}

/// A password for a user created without one: 20 letters and digits (about 119 bits).
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 20)
}

/// A random token for a session cookie or a CSRF header: 32 bytes, base64url.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failed sign-in counters per client address and per e-mail.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Whether the client or the e-mail has used up its attempts.
    pub fn is_blocked(&self, peer: IpAddr, email: &str, now: Instant) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return true;
        };
        let over = |key: &str, max: u32| {
            failures
                .get(key)
                .is_some_and(|(n, since)| *n >= max && now.duration_since(*since) < WINDOW)
        };
        over(&ip_key(peer), MAX_FAILURES_PER_IP) || over(&email_key(email), MAX_FAILURES_PER_EMAIL)
    }

    /// Counts a failed sign-in against both the client and the e-mail.
    pub fn record_failure(&self, peer: IpAddr, email: &str, now: Instant) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for key in [ip_key(peer), email_key(email)] {
            let entry = failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A success clears the e-mail's count (not the client's: one client guessing at many
    /// e-mails stays throttled).
    pub fn record_success(&self, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&email_key(email));
        }
    }
}

fn ip_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_check_and_tokens_differ() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "correct horsE"));
        assert!(!verify_password("not a hash", "correct horse"));
        verify_nothing("anything");
        assert_ne!(new_token(), new_token());
        assert_eq!(new_token().len(), 43);
        assert_eq!(generate_password().len(), 20);
        assert_eq!(token_hash("a").len(), 64);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn throttle_blocks_email_then_client() {
        let throttle = Throttle::default();
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES_PER_EMAIL {
            assert!(!throttle.is_blocked(ip, "a@example.com", now));
            throttle.record_failure(ip, "a@example.com", now);
        }
        assert!(
            throttle.is_blocked(other, "A@example.com", now),
            "the e-mail"
        );
        assert!(
            !throttle.is_blocked(ip, "b@example.com", now),
            "not yet the client"
        );
        for i in MAX_FAILURES_PER_EMAIL..MAX_FAILURES_PER_IP {
            throttle.record_failure(ip, &format!("x{i}@example.com"), now);
        }
        assert!(throttle.is_blocked(ip, "b@example.com", now), "the client");
        assert!(!throttle.is_blocked(other, "b@example.com", now));
        assert!(!throttle.is_blocked(ip, "a@example.com", now + WINDOW));
        throttle.record_success("a@example.com");
        assert!(!throttle.is_blocked(other, "a@example.com", now));
    }
}
