//! The signature algorithms themselves, as pure functions over strings and bytes:
//! TC3-HMAC-SHA256 (canonical request, string to sign, derived key) and the legacy v1
//! HmacSHA1/HmacSHA256 (sorted parameter string, base64 MAC).
//!
//! Knows nothing about HTTP, versions or accounts, so Tencent's published test vectors (which
//! use other services and versions) run against these functions directly. Comparisons of a
//! client's signature go through `Mac::verify_slice`, which is constant time.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The only TC3 algorithm name.
pub const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The payload marker of `X-TC-Content-SHA256: UNSIGNED-PAYLOAD`: the hash covers this literal.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length (long ones are hashed first), so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac
}

/// TC3 canonical request:
/// `METHOD\n/\nquery\nheaders\nsigned_headers\npayload_hash`, where `canonical_headers` is
/// already `name:value\n` per signed header. Bytes, because header values need not be UTF-8.
pub fn tc3_canonical_request(
    method: &str,
    canonical_query: &str,
    canonical_headers: &[u8],
    signed_headers: &str,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical_headers.len() + canonical_query.len() + 128);
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(b"\n/\n");
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_headers);
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// `lowercase(name):trimmed value\n` for each header, in the given order.
pub fn tc3_canonical_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.to_ascii_lowercase().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.trim_ascii());
        out.push(b'\n');
    }
    out
}

/// `TC3-HMAC-SHA256\n<timestamp>\n<date>/<service>/tc3_request\n<hex sha256 of canonical request>`.
///
/// `timestamp` is the X-TC-Timestamp text exactly as received.
pub fn tc3_string_to_sign(
    timestamp: &str,
    date: &str,
    service: &str,
    canonical_request: &[u8],
) -> String {
    format!(
        "{TC3_ALGORITHM}\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        sha256_hex(canonical_request)
    )
}

/// The derived signing key: HMAC chain over `"TC3" + secret`, date, service, `tc3_request`.
pub fn tc3_signing_key(secret_key: &str, date: &str, service: &str) -> Vec<u8> {
    let mut first_key = Vec::with_capacity(secret_key.len() + 3);
    first_key.extend_from_slice(b"TC3");
    first_key.extend_from_slice(secret_key.as_bytes());
    let k_date = hmac_sha256(&first_key, date.as_bytes())
        .finalize()
        .into_bytes();
    let k_service = hmac_sha256(&k_date, service.as_bytes())
        .finalize()
        .into_bytes();
    hmac_sha256(&k_service, b"tc3_request")
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Lowercase hex signature of a string to sign (what a client computes).
pub fn tc3_signature(signing_key: &[u8], string_to_sign: &str) -> String {
    hex::encode(
        hmac_sha256(signing_key, string_to_sign.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// Whether `signature` (raw bytes, already hex-decoded) is the MAC of `string_to_sign`.
/// Constant time in the signature's content.
pub fn tc3_verify(signing_key: &[u8], string_to_sign: &str, signature: &[u8]) -> bool {
    hmac_sha256(signing_key, string_to_sign.as_bytes())
        .verify_slice(signature)
        .is_ok()
}

/// The MAC of a legacy v1 signature, chosen by the `SignatureMethod` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyMethod {
    /// The default when `SignatureMethod` is absent.
    HmacSha1,
    HmacSha256,
}

impl LegacyMethod {
    /// Parses the `SignatureMethod` value; `None` for an unknown algorithm.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "HmacSHA1" => Some(Self::HmacSha1),
            "HmacSHA256" => Some(Self::HmacSha256),
            _ => None,
        }
    }
}

/// `METHOD + host + "/?" + k=v&...` over every parameter except `Signature`, with decoded names
/// and values, sorted by name in byte order (so `X.12` sorts before `X.2`).
pub fn legacy_string_to_sign<'a>(
    method: &str,
    host: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(name, _)| *name != "Signature")
        .collect();
    pairs.sort_unstable();
    let mut out = format!("{method}{host}/?");
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

fn legacy_mac_bytes(method: LegacyMethod, secret_key: &str, string_to_sign: &str) -> Vec<u8> {
    match method {
        LegacyMethod::HmacSha1 => {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret_key.as_bytes())
                .expect("HMAC accepts any key length");
            mac.update(string_to_sign.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        LegacyMethod::HmacSha256 => hmac_sha256(secret_key.as_bytes(), string_to_sign.as_bytes())
            .finalize()
            .into_bytes()
            .to_vec(),
    }
}

/// Base64 (standard, padded) legacy signature, as a client computes it.
pub fn legacy_signature(method: LegacyMethod, secret_key: &str, string_to_sign: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(legacy_mac_bytes(
        method,
        secret_key,
        string_to_sign,
    ))
}

/// Whether `signature` (raw bytes, already base64-decoded) matches. Constant time in its content.
pub fn legacy_verify(
    method: LegacyMethod,
    secret_key: &str,
    string_to_sign: &str,
    signature: &[u8],
) -> bool {
    match method {
        LegacyMethod::HmacSha1 => {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret_key.as_bytes())
                .expect("HMAC accepts any key length");
            mac.update(string_to_sign.as_bytes());
            mac.verify_slice(signature).is_ok()
        }
        LegacyMethod::HmacSha256 => hmac_sha256(secret_key.as_bytes(), string_to_sign.as_bytes())
            .verify_slice(signature)
            .is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

    /// Tencent's published TC3 example (DescribeInstances on cvm).
    #[test]
    fn tc3_known_answer_vector() {
        let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let headers = tc3_canonical_headers([
            ("content-type", &b"application/json; charset=utf-8"[..]),
            ("host", &b"cvm.tencentcloudapi.com"[..]),
        ]);
        let canonical = tc3_canonical_request(
            "POST",
            "",
            &headers,
            "content-type;host",
            &sha256_hex(body.as_bytes()),
        );
        let string_to_sign = tc3_string_to_sign("1551113065", "2019-02-25", "cvm", &canonical);
        let key = tc3_signing_key(SECRET_KEY, "2019-02-25", "cvm");
        let expected = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168";
        assert_eq!(tc3_signature(&key, &string_to_sign), expected);
        let raw = hex::decode(expected).expect("valid hex");
        assert!(tc3_verify(&key, &string_to_sign, &raw));
        assert!(!tc3_verify(&key, &string_to_sign, &raw[..31]));
        let other_key = tc3_signing_key("wrong", "2019-02-25", "cvm");
        assert!(!tc3_verify(&other_key, &string_to_sign, &raw));
    }

    /// Tencent's published v1 example, given as the finished string to sign.
    #[test]
    fn legacy_known_answer_vector() {
        let expected_string = "GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&Timestamp=1465185768&Version=2017-03-12";
        // Shuffled input, plus a Signature that must be left out.
        let params = [
            ("Version", "2017-03-12"),
            ("Timestamp", "1465185768"),
            ("Signature", "ignored"),
            ("SecretId", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
            ("Region", "ap-guangzhou"),
            ("Offset", "0"),
            ("Nonce", "11886"),
            ("Limit", "20"),
            ("InstanceIds.0", "ins-09dx96dg"),
            ("Action", "DescribeInstances"),
        ];
        let string_to_sign = legacy_string_to_sign("GET", "cvm.tencentcloudapi.com", params);
        assert_eq!(string_to_sign, expected_string);
        let signature = legacy_signature(LegacyMethod::HmacSha1, SECRET_KEY, &string_to_sign);
        assert_eq!(signature, "EliP9YW3pW28FpsEdkXt/+WcGeI=");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&signature)
            .expect("valid base64");
        assert!(legacy_verify(
            LegacyMethod::HmacSha1,
            SECRET_KEY,
            &string_to_sign,
            &raw
        ));
        assert!(!legacy_verify(
            LegacyMethod::HmacSha256,
            SECRET_KEY,
            &string_to_sign,
            &raw
        ));
        assert!(!legacy_verify(
            LegacyMethod::HmacSha1,
            "wrong",
            &string_to_sign,
            &raw
        ));
    }

    #[test]
    fn legacy_sort_is_bytewise() {
        let string_to_sign = legacy_string_to_sign("POST", "h", [("X.2", "b"), ("X.12", "a")]);
        assert_eq!(string_to_sign, "POSTh/?X.12=a&X.2=b");
    }

    #[test]
    fn legacy_method_names() {
        assert_eq!(
            LegacyMethod::parse("HmacSHA1"),
            Some(LegacyMethod::HmacSha1)
        );
        assert_eq!(
            LegacyMethod::parse("HmacSHA256"),
            Some(LegacyMethod::HmacSha256)
        );
        assert_eq!(LegacyMethod::parse("hmacsha1"), None);
    }
}
