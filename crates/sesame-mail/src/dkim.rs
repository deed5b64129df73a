//! DKIM key pairs of sender domains. Keys are RSA (1024 or 2048 bits); the private half is
//! kept as PKCS#1 DER (what mail-auth's signer loads), the public half is published in the
//! `p=` tag as base64 SubjectPublicKeyInfo DER, the form `openssl rsa -pubout` gives and
//! every verifier accepts.

use base64::Engine;
use mail_auth::dkim::generate::DkimKeyPair;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::EncodePublicKey;

/// A new key pair.
pub struct GeneratedKey {
    pub bits: u32,
    /// PKCS#1 DER.
    pub private_key: Vec<u8>,
    /// Base64 SubjectPublicKeyInfo DER, the `p=` tag.
    pub public_key: String,
}

#[derive(Debug, thiserror::Error)]
#[error("generating a DKIM key: {0}")]
pub struct KeyError(String);

/// Generates an RSA key of `bits` bits. Costs from milliseconds (1024) to about a second
/// (2048) of CPU: call it off the async threads.
pub fn generate_rsa(bits: u32) -> Result<GeneratedKey, KeyError> {
    let pair = DkimKeyPair::generate_rsa(bits as usize).map_err(|e| KeyError(e.to_string()))?;
    let (private_key, public_pkcs1) = pair.into_inner();
    let public =
        rsa::RsaPublicKey::from_pkcs1_der(&public_pkcs1).map_err(|e| KeyError(e.to_string()))?;
    let spki = public
        .to_public_key_der()
        .map_err(|e| KeyError(e.to_string()))?;
    Ok(GeneratedKey {
        bits,
        private_key,
        public_key: base64::engine::general_purpose::STANDARD.encode(spki.as_bytes()),
    })
}

/// The TXT record value publishing `public_key` (base64).
pub fn txt_record(public_key: &str) -> String {
    format!("v=DKIM1; k=rsa; p={public_key}")
}

/// Key sizes that a DKIMOption asks for, the main key (published at the selector) first:
/// 0 = RSA-1024, 1 = RSA-2048, 2 = both (the 2048-bit key is the main one).
pub fn key_sizes(dkim_option: i64) -> Option<&'static [u32]> {
    match dkim_option {
        0 => Some(&[1024]),
        1 => Some(&[2048]),
        2 => Some(&[2048, 1024]),
        _ => None,
    }
}

/// The selector a key is published under: the main key at `selector`, the extra 1024-bit
/// key of option 2 at `<selector>1024`.
pub fn selector_for(selector: &str, dkim_option: i64, bits: u32) -> String {
    if dkim_option == 2 && bits == 1024 {
        format!("{selector}1024")
    } else {
        selector.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn generated_key_is_spki_of_the_right_size() {
        let key = generate_rsa(1024).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&key.public_key)
            .unwrap();
        let public = rsa::RsaPublicKey::from_public_key_der(&der).unwrap();
        assert_eq!(public.size() * 8, 1024);
        assert!(txt_record(&key.public_key).starts_with("v=DKIM1; k=rsa; p=MIGf"));
    }

    #[test]
    fn selectors() {
        assert_eq!(key_sizes(2), Some(&[2048u32, 1024][..]));
        assert_eq!(key_sizes(3), None);
        assert_eq!(selector_for("sesame", 2, 1024), "sesame1024");
        assert_eq!(selector_for("sesame", 2, 2048), "sesame");
        assert_eq!(selector_for("sesame", 0, 1024), "sesame");
    }
}
