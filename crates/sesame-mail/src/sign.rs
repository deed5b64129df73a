//! DKIM signing (RFC 6376) of built messages: rsa-sha256, relaxed/relaxed, with mail-auth's
//! signer. The hot path of sending, so the private key is parsed once into a
//! [`DkimSigningKey`] and reused for every message of its domain. Returns the header to
//! prepend; never changes the message. Key generation lives in `dkim`.
//!
//! mail-auth builds the signature's input (canonical headers, body hash, the tag list); the
//! RSA operation is aws-lc-rs's (`Key::AwsLc`). AWS-LC signs with RSA-2048 in about half the
//! CPU of ring, mail-auth's backend here: a whole signature of a 3.6 KB message takes 0.24
//! against 0.45 ms on the benchmark machine (examples/sign_speed.rs), whose AVX-512 IFMA units
//! AWS-LC uses. One signature per message is most of what delivery costs.
//!
//! AWS-LC refuses RSA keys under 2048 bits, but DKIMOption 0 and 2 need 1024-bit keys, so
//! those are signed with the `rsa` crate instead, blinded with OS randomness.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use mail_auth::common::crypto::{Algorithm, CryptoError, Sha256, SigningKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::dkim::DkimSigner;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use sha2::Digest;

/// Headers signed when present. Listing a header the message lacks costs nothing: mail-auth
/// signs only those it finds.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The stored private key is not a usable RSA PKCS#1 DER key.
    #[error("DKIM private key is not a valid RSA key: {0}")]
    InvalidKey(String),
    /// A domain or selector that cannot go into a `d=` or `s=` tag.
    #[error("`{0}` is not a valid DKIM domain or selector")]
    InvalidName(String),
    /// The message has none of the headers to sign (it is not a built message).
    #[error("signing the message: {0}")]
    Signing(String),
}

/// A parsed RSA private key, ready to sign many messages (any domain, any selector).
/// Parsing costs far more than one signature, so build it once per key and share it;
/// it is `Send + Sync`.
pub struct DkimSigningKey {
    key: Key,
}

enum Key {
    /// 2048 bits and up: aws-lc-rs.
    AwsLc(RsaKeyPair),
    /// Smaller keys, which AWS-LC refuses (boxed: the rarer and larger variant).
    Small(Box<rsa::RsaPrivateKey>),
}

/// Never shows the key.
impl std::fmt::Debug for DkimSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DkimSigningKey(..)")
    }
}

/// Smallest key accepted at all (RFC 8301 §3.2).
const MIN_BITS: usize = 1024;

impl DkimSigningKey {
    /// Parses a PKCS#1 DER private key, the form `dkim::generate_rsa` stores.
    pub fn from_pkcs1_der(private_key: &[u8]) -> Result<Self, SignError> {
        let refused = match RsaKeyPair::from_der(private_key) {
            Ok(key) => {
                return Ok(DkimSigningKey {
                    key: Key::AwsLc(key),
                });
            }
            Err(e) => e.to_string(),
        };
        let key = rsa::RsaPrivateKey::from_pkcs1_der(private_key)
            .map_err(|_| SignError::InvalidKey(refused.clone()))?;
        if key.size() * 8 < MIN_BITS {
            return Err(SignError::InvalidKey(refused));
        }
        Ok(DkimSigningKey {
            key: Key::Small(Box::new(key)),
        })
    }

    /// Signs `message` for `d=domain`, `s=selector`, returning the complete
    /// `DKIM-Signature: …\r\n` header to prepend. For DKIMOption 2 call it twice (the
    /// 2048-bit key at `selector`, the 1024-bit one at `<selector>1024`) and prepend both.
    pub fn sign_with(
        &self,
        message: &[u8],
        domain: &str,
        selector: &str,
    ) -> Result<String, SignError> {
        check_name(domain)?;
        check_name(selector)?;
        let signature = DkimSigner::from_key(Borrowed(&self.key))
            .domain(domain.to_ascii_lowercase())
            .selector(selector)
            .headers(SIGNED_HEADERS.iter().copied())
            .sign(message)
            .map_err(|e| SignError::Signing(e.to_string()))?;
        Ok(signature.to_header())
    }
}

/// Parses the key and signs once: for one-off use. Senders of many messages keep a
/// [`DkimSigningKey`] instead.
pub fn sign(
    message: &[u8],
    domain: &str,
    selector: &str,
    private_key_pkcs1_der: &[u8],
) -> Result<String, SignError> {
    DkimSigningKey::from_pkcs1_der(private_key_pkcs1_der)?.sign_with(message, domain, selector)
}

/// A domain or selector: dot-separated labels of letters, digits, '-' and '_'.
fn check_name(name: &str) -> Result<(), SignError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        });
    if valid {
        Ok(())
    } else {
        Err(SignError::InvalidName(name.to_string()))
    }
}

/// Lends the parsed key to a per-message `DkimSigner`, which wants to own its key.
struct Borrowed<'a>(&'a Key);

/// DER DigestInfo prefix of a SHA-256 hash (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

impl SigningKey for Borrowed<'_> {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let mut data = Vec::with_capacity(256);
        input.write(&mut data);
        match self.0 {
            Key::AwsLc(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    &data,
                    &mut signature,
                )
                .map_err(|e| mail_auth::Error::Crypto(CryptoError::Library(e.to_string())))?;
                Ok(signature)
            }
            Key::Small(key) => {
                let hash = sha2::Sha256::digest(&data);
                let padding = rsa::Pkcs1v15Sign {
                    hash_len: Some(hash.len()),
                    prefix: SHA256_DIGEST_INFO.into(),
                };
                key.sign_with_rng(&mut rand_core::OsRng, padding, &hash)
                    .map_err(|e| mail_auth::Error::Crypto(CryptoError::Library(e.to_string())))
            }
        }
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::RsaSha256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dkim;
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::common::verify::DomainKey;
    use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
    use mail_auth::{
        AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
    };
    use std::borrow::Borrow;
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::sync::{Arc, Mutex, OnceLock};

    /// DNS for the verifier: TXT records held in memory, so no lookup leaves the process.
    struct Zone(Mutex<HashMap<Box<str>, Txt>>);

    impl ResolverCache<Box<str>, Txt> for Zone {
        fn get<Q>(&self, name: &Q) -> Option<Txt>
        where
            Box<str>: Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            self.0.lock().ok()?.get(name).cloned()
        }

        fn remove<Q>(&self, name: &Q) -> Option<Txt>
        where
            Box<str>: Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            self.0.lock().ok()?.remove(name)
        }

        fn insert(&self, key: Box<str>, value: Txt, _valid_until: std::time::Instant) {
            if let Ok(mut map) = self.0.lock() {
                map.insert(key, value);
            }
        }
    }

    /// Keys are slow to generate; share one of each size across tests.
    fn key(bits: u32) -> &'static dkim::GeneratedKey {
        static KEYS: OnceLock<(dkim::GeneratedKey, dkim::GeneratedKey)> = OnceLock::new();
        let keys = KEYS.get_or_init(|| {
            (
                dkim::generate_rsa(1024).expect("1024-bit key"),
                dkim::generate_rsa(2048).expect("2048-bit key"),
            )
        });
        if bits == 1024 { &keys.0 } else { &keys.1 }
    }

    const MESSAGE: &str = concat!(
        "From: \"Ann\" <ann@example.test>\r\n",
        "To: <bob@example.test>\r\n",
        "Subject: Hello\r\n",
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
        "Message-ID: <1@example.test>\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: text/plain; charset=\"utf-8\"\r\n",
        "X-Not-Signed: 1\r\n",
        "\r\n",
        "Hello Bob.\r\n",
    );

    /// Verifies `message` with mail-auth against the published keys; one result per
    /// DKIM-Signature header, in header order.
    fn verify(message: &[u8]) -> Vec<String> {
        let zone = Zone(Mutex::new(HashMap::new()));
        for (selector, bits) in [("s1", 2048), ("s11024", 1024)] {
            let record = dkim::txt_record(&key(bits).public_key);
            let parsed = DomainKey::parse(record.as_bytes()).expect("key record parses");
            zone.insert(
                format!("{selector}._domainkey.example.test.").into_boxed_str(),
                Txt::DomainKey(Arc::new(parsed)),
                std::time::Instant::now(),
            );
        }
        // No name servers: every lookup must be answered by `zone`.
        let authenticator = MessageAuthenticator::new(
            ResolverConfig::from_parts(None, vec![], vec![]),
            ResolverOpts::default(),
        )
        .expect("resolver without servers");
        let parsed = AuthenticatedMessage::parse(message).expect("message parses");
        let future = authenticator.verify_dkim(Parameters::new(&parsed).with_txt_cache(&zone));
        // Everything is in memory, so the future completes on its first poll.
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        let std::task::Poll::Ready(outputs) = future.as_mut().poll(&mut context) else {
            panic!("verification waited for DNS");
        };
        outputs
            .iter()
            .map(|o| match o.result() {
                DkimResult::Pass => "pass".to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// Signs `message` with each `(bits, selector)` key in turn, prepends the headers and
    /// compares the verifier's results with `expected`; `tamper` edits the signed message.
    fn check(message: &str, keys: &[(u32, &str)], tamper: fn(String) -> String, expected: &[&str]) {
        let mut headers = String::new();
        for &(bits, selector) in keys {
            let signer =
                DkimSigningKey::from_pkcs1_der(&key(bits).private_key).expect("key parses");
            let header = signer
                .sign_with(message.as_bytes(), "Example.TEST", selector)
                .expect("signs");
            assert!(header.starts_with("DKIM-Signature: v=1; a=rsa-sha256; s="));
            assert!(header.contains("c=relaxed/relaxed"));
            assert!(header.ends_with("\r\n"));
            for name in [
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "MIME-Version",
            ] {
                assert!(header.contains(name), "{name} signed");
            }
            assert!(!header.contains("X-Not-Signed"));
            headers = header + &headers;
        }
        let signed = headers + &tamper(message.to_string());
        let got = verify(signed.as_bytes());
        let got: Vec<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn signatures_verify() {
        check(MESSAGE, &[(2048, "s1")], |m| m, &["pass"]);
        check(MESSAGE, &[(1024, "s11024")], |m| m, &["pass"]);
        // DKIMOption 2: both keys, both signatures pass.
        check(
            MESSAGE,
            &[(2048, "s1"), (1024, "s11024")],
            |m| m,
            &["pass", "pass"],
        );
        // Relaxed canonicalization tolerates whitespace changes in headers.
        check(
            MESSAGE,
            &[(2048, "s1")],
            |m| m.replace("Subject: Hello", "Subject:   Hello"),
            &["pass"],
        );
    }

    #[test]
    fn built_message_verifies() {
        let draft = crate::mime::Draft {
            from: crate::mime::Mailbox::new(Some("Sesame 团队"), "noreply@example.test"),
            to: vec![crate::mime::Mailbox::new(
                Some("张三"),
                "zhang@example.test",
            )],
            cc: vec![],
            reply_to: None,
            subject: "您的验证码 123456".into(),
            html: Some("<p>你好</p>".into()),
            text: Some("你好\n".repeat(200)),
            attachments: vec![crate::mime::AttachmentPart {
                name: "a.pdf".into(),
                content: vec![0, 1, 2, 255],
            }],
            message_id: crate::mime::message_id("example.test"),
            date_unix: 1_700_000_000,
            extra_headers: vec![
                (
                    "List-Unsubscribe".into(),
                    "<https://u.example.test/x>".into(),
                ),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
            ],
        };
        let built = crate::mime::build(&draft).expect("builds");
        let message = String::from_utf8(built).expect("built messages are UTF-8");
        check(
            &message,
            &[(2048, "s1"), (1024, "s11024")],
            |m| m,
            &["pass", "pass"],
        );
        check(
            &message,
            &[(2048, "s1")],
            |m| {
                m.replacen(
                    "List-Unsubscribe: <https://u",
                    "List-Unsubscribe: <https://e",
                    1,
                )
            },
            &["Fail(Crypto(FailedVerification))"],
        );
    }

    #[test]
    fn tampering_fails() {
        check(
            MESSAGE,
            &[(2048, "s1")],
            |m| m.replace("Hello Bob.", "Hello Eve."),
            &["Neutral(Dkim(FailedBodyHashMatch))"],
        );
        check(
            MESSAGE,
            &[(2048, "s1")],
            |m| m.replace("Subject: Hello", "Subject: Hullo"),
            &["Fail(Crypto(FailedVerification))"],
        );
        // Wrong selector: the published key does not match.
        check(
            MESSAGE,
            &[(1024, "s1")],
            |m| m,
            &["Fail(Crypto(FailedVerification))"],
        );
    }

    #[test]
    fn refusals() {
        let err = |r: Result<String, SignError>| r.err().map(|e| e.to_string());
        assert_eq!(
            err(sign(MESSAGE.as_bytes(), "example.test", "s1", b"not a key"))
                .map(|e| e.starts_with("DKIM private key is not a valid RSA key")),
            Some(true)
        );
        let private = &key(1024).private_key;
        assert_eq!(
            err(sign(MESSAGE.as_bytes(), "example.test; x=1", "s1", private)),
            Some("`example.test; x=1` is not a valid DKIM domain or selector".into())
        );
        assert_eq!(
            err(sign(MESSAGE.as_bytes(), "example.test", "s\r\n1", private)),
            Some("`s\r\n1` is not a valid DKIM domain or selector".into())
        );
    }

    #[test]
    fn signing_key_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<DkimSigningKey>();
    }

    #[test]
    fn keys_of_2048_bits_sign_with_aws_lc_smaller_ones_with_rsa() {
        let big = DkimSigningKey::from_pkcs1_der(&key(2048).private_key).unwrap();
        assert!(matches!(big.key, Key::AwsLc(_)));
        let small = DkimSigningKey::from_pkcs1_der(&key(1024).private_key).unwrap();
        assert!(matches!(small.key, Key::Small(_)));
    }
}
