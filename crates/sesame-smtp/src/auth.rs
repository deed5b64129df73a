//! SMTP AUTH: decoding PLAIN and LOGIN (RFC 4616, and the LOGIN convention), checking the
//! password against the sender's argon2 hash, and a throttle of failed attempts per client
//! address and per user name, so a password cannot be guessed by brute force from one place
//! or spread over many.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Failed attempts allowed per key within `WINDOW`.
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(600);

/// Decodes a base64 SASL string; `None` if it is not base64 of UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// User name and password of an AUTH PLAIN response (`authzid NUL authcid NUL passwd`).
/// An authorization identity, if given, must be the user itself.
pub fn parse_plain(response: &str) -> Option<(String, String)> {
    let text = decode(response)?;
    let mut parts = text.split('\0');
    let (authz, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.is_empty() || (!authz.is_empty() && authz != user) {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

/// Failed-attempt counters per client address and per user name.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Whether the client or the user has used up its attempts.
    pub fn is_blocked(&self, peer: IpAddr, user: &str, now: Instant) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return true;
        };
        [ip_key(peer), user_key(user)].iter().any(|key| {
            failures
                .get(key)
                .is_some_and(|(n, since)| *n >= MAX_FAILURES && now.duration_since(*since) < WINDOW)
        })
    }

    /// Counts a failed attempt against both the client and the user.
    pub fn record_failure(&self, peer: IpAddr, user: &str, now: Instant) {
        sesame_core::metrics::get().smtp_auth_failures.inc();
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for key in [ip_key(peer), user_key(user)] {
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

fn ip_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

fn user_key(user: &str) -> String {
    format!("user:{}", user.to_ascii_lowercase())
}

/// Spends the time of one password check on a fixed hash, so that an unknown user name takes as
/// long to refuse as a wrong password (no user enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"sesame-dummy-salt").unwrap_or_else(|_| {
            SaltString::from_b64("c2VzYW1lZHVtbXlzYWx0").expect("a valid constant salt")
        });
        argon2::Argon2::default()
            .hash_password(b"not a password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let _ = verify_password(hash, password);
}

/// Whether `password` matches an argon2 PHC hash. Costs CPU: call off the async threads.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses() {
        let encode = |s: &str| STANDARD.encode(s);
        assert_eq!(
            parse_plain(&encode("\0user@example.com\0secret")),
            Some(("user@example.com".into(), "secret".into()))
        );
        assert_eq!(
            parse_plain(&encode("user@example.com\0user@example.com\0pw")),
            Some(("user@example.com".into(), "pw".into()))
        );
        assert_eq!(parse_plain(&encode("other\0user\0pw")), None);
        assert_eq!(parse_plain(&encode("no separators")), None);
        assert_eq!(parse_plain("!!not base64"), None);
    }

    #[test]
    fn dummy_check_and_real_check() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        verify_nothing("anything");
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let hash = argon2::Argon2::default()
            .hash_password(b"Secret12pw", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password(&hash, "Secret12pw"));
        assert!(!verify_password(&hash, "Secret12px"));
        assert!(!verify_password("not a hash", "Secret12pw"));
    }

    #[test]
    fn throttle_blocks_client_and_user_for_a_window() {
        let throttle = Throttle::default();
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(!throttle.is_blocked(ip, "a@example.com", now));
            throttle.record_failure(ip, "a@example.com", now);
        }
        assert!(
            throttle.is_blocked(ip, "b@example.com", now),
            "the client is blocked"
        );
        assert!(
            throttle.is_blocked(other, "A@example.com", now),
            "the user is blocked"
        );
        assert!(!throttle.is_blocked(other, "b@example.com", now));
        assert!(!throttle.is_blocked(ip, "a@example.com", now + WINDOW));
    }
}
