//! Console sign-in pieces: generated passwords, session and CSRF tokens, and the throttle of
//! failed sign-ins (per e-mail and per client address). Hashing and checking passwords are
//! `sesame_engine::credentials`'s, shared with SMTP AUTH. Passwords are never logged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::distr::{Alphanumeric, SampleString};
use sesame_engine::credentials::Throttle;
use sha2::{Digest, Sha256};

/// Failed sign-ins allowed per e-mail within `WINDOW`.
pub const MAX_FAILURES_PER_EMAIL: u32 = 5;
/// Failed sign-ins allowed per client address within `WINDOW` (higher: people share NATs).
pub const MAX_FAILURES_PER_IP: u32 = 20;
/// Shortest password `sesame user create` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

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

/// The throttle of failed sign-ins.
pub fn throttle() -> Throttle {
    Throttle::new(MAX_FAILURES_PER_IP, MAX_FAILURES_PER_EMAIL)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Instant;

    use sesame_engine::credentials::WINDOW;

    use super::*;

    #[test]
    fn tokens_differ() {
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
        let throttle = throttle();
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
