//! The envelope sender (Return-Path) that identifies one delivery, so a bounce (DSN) sent to
//! it later finds its delivery: `b-<delivery id, base36>-<tag>@<return_path_domain>`, the
//! tag being the first 4 bytes (8 hex digits) of HMAC-SHA256(secret, id as 8 big-endian
//! bytes). The tag stops forged bounces from marking arbitrary deliveries; it is short
//! because the address must stay short, and a forger gets one guess per message.
//! Pure: the secret and domain come from config.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Hex digits of the tag.
const TAG_HEX: usize = 8;

/// The return-path address of delivery `delivery_id`. Ids are encoded as their 64-bit two's
/// complement, so every `i64` round-trips (real ids are positive).
pub fn encode(delivery_id: i64, secret: &[u8], domain: &str) -> String {
    let tag = tag(delivery_id, secret);
    let hex: String = tag
        .iter()
        .take(TAG_HEX / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("b-{}-{hex}@{domain}", base36(delivery_id as u64))
}

/// The delivery id in `address` if it is one of ours: at `domain` (case-insensitive), well
/// formed and with a valid tag. Angle brackets around the address are ignored.
pub fn decode(address: &str, secret: &[u8], domain: &str) -> Option<i64> {
    let address = address.trim();
    let address = address
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(address);
    let (local, address_domain) = address.rsplit_once('@')?;
    let same_domain = address_domain
        .trim_end_matches('.')
        .eq_ignore_ascii_case(domain.trim_end_matches('.'));
    if !same_domain {
        return None;
    }
    let local = local.to_ascii_lowercase();
    let rest = local.strip_prefix("b-")?;
    let (id, hex) = rest.split_once('-')?;
    if id.is_empty() || id.len() > 13 || hex.len() != TAG_HEX {
        return None;
    }
    let id = u64::from_str_radix(id, 36).ok()? as i64;
    let mut given = [0u8; TAG_HEX / 2];
    for (i, byte) in given.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    mac(id, secret).verify_truncated_left(&given).ok()?;
    Some(id)
}

fn mac(delivery_id: i64, secret: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(&delivery_id.to_be_bytes());
    mac
}

fn tag(delivery_id: i64, secret: &[u8]) -> Vec<u8> {
    mac(delivery_id, secret).finalize().into_bytes().to_vec()
}

/// Lowercase base36 of `n`.
fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(13);
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("base36 digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"return-path secret";
    const DOMAIN: &str = "bounce.example.test";

    /// Decodes `address` with the test secret and domain and compares with `expected`.
    fn check(address: &str, expected: Option<i64>) {
        assert_eq!(decode(address, SECRET, DOMAIN), expected, "{address:?}");
    }

    #[test]
    fn round_trips() {
        for id in [0, 1, 35, 36, 123_456_789, i64::MAX, -1, i64::MIN] {
            let address = encode(id, SECRET, DOMAIN);
            assert!(address.len() <= 64, "{address}");
            check(&address, Some(id));
            check(&address.to_uppercase(), Some(id));
            check(&format!("<{address}>"), Some(id));
            check(&address.replace(DOMAIN, "Bounce.Example.TEST."), Some(id));
        }
        assert!(encode(36, SECRET, DOMAIN).starts_with("b-10-"));
    }

    #[test]
    fn rejects_forgeries_and_strangers() {
        let address = encode(42, SECRET, DOMAIN);
        let (local, _) = address.split_once('@').expect("has @");
        // Another id with the tag of 42.
        check(&address.replacen("b-16-", "b-17-", 1), None);
        // A wrong tag, a missing tag, a short tag.
        check(&format!("b-16-00000000@{DOMAIN}"), None);
        check(&format!("b-16@{DOMAIN}"), None);
        check(&format!("{}@{DOMAIN}", &local[..local.len() - 1]), None);
        // Another domain, or another secret.
        check(&format!("{local}@other.example.test"), None);
        assert_eq!(decode(&address, b"other secret", DOMAIN), None);
        // Not ours at all.
        check("postmaster@bounce.example.test", None);
        check("b--12345678@bounce.example.test", None);
        check(&format!("b-zzzzzzzzzzzzzz-12345678@{DOMAIN}"), None);
        check("", None);
    }
}
