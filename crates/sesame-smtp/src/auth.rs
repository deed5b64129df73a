//! SMTP AUTH: decoding PLAIN and LOGIN (RFC 4616, and the LOGIN convention). Checking the
//! password against the sender's argon2 hash and throttling failed attempts are
//! `sesame_engine::credentials`'s, shared with the console.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sesame_engine::credentials::Throttle;

/// Failed attempts allowed per client address and per user within
/// `credentials::WINDOW`.
pub const MAX_FAILURES: u32 = 5;

/// The throttle of SMTP AUTH failures.
pub fn throttle() -> Throttle {
    Throttle::new(MAX_FAILURES, MAX_FAILURES)
}

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
}
