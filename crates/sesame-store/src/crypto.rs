//! The server key and the sealing of secrets at rest. TC3 signatures need the raw API secret
//! key, so it cannot be hashed; instead it is sealed with XChaCha20-Poly1305 under a 256-bit
//! server key kept in a file outside the database (made at first start, mode 0600).
//! Sealed form: 24-byte random nonce followed by the ciphertext and tag.

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::StoreError;

/// The key that seals secrets. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct ServerKey {
    cipher: XChaCha20Poly1305,
    /// The raw key, kept only to derive sub-keys (`derive`).
    raw: [u8; 32],
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(…)")
    }
}

impl ServerKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> ServerKey {
        ServerKey {
            cipher: XChaCha20Poly1305::new(bytes.into()),
            raw: *bytes,
        }
    }

    /// Reads the key file (64 hex digits), or makes it when it does not exist yet. Creation
    /// uses `create_new`, so two processes starting together agree on one key.
    pub fn load_or_create(path: &Path) -> Result<ServerKey, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Open(format!("creating {}: {e}", parent.display()))
                    })?;
                }
                let bytes: [u8; 32] = rand::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
                            .and_then(|_| file.sync_all())
                            .map_err(|e| {
                                StoreError::Open(format!("writing {}: {e}", path.display()))
                            })?;
                        Ok(Self::from_bytes(&bytes))
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(path).map_err(|e| {
                            StoreError::Open(format!("reading {}: {e}", path.display()))
                        })?;
                        Self::parse(&text, path)
                    }
                    Err(e) => Err(StoreError::Open(format!(
                        "creating {}: {e}",
                        path.display()
                    ))),
                }
            }
            Err(e) => Err(StoreError::Open(format!("reading {}: {e}", path.display()))),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<ServerKey, StoreError> {
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                StoreError::Open(format!(
                    "{} does not hold a key (64 hex digits)",
                    path.display()
                ))
            })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A sub-key for another purpose (e.g. signing return-path addresses), so that the server
    /// key itself is used only for sealing: SHA-256 of the key and a purpose label.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.raw);
        hasher.update(label.as_bytes());
        hasher.finalize().into()
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; 24] = rand::random();
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain)
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < 24 {
            return Err(StoreError::Sealed);
        }
        let (nonce, body) = sealed.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| StoreError::Sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_wrong_key() {
        let key = ServerKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(&sealed).unwrap(), b"secret");
        let other = ServerKey::from_bytes(&[8; 32]);
        assert!(matches!(other.open(&sealed), Err(StoreError::Sealed)));
    }

    #[test]
    fn key_file_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/sesame.key");
        let a = ServerKey::load_or_create(&path).unwrap();
        let b = ServerKey::load_or_create(&path).unwrap();
        assert_eq!(b.open(&a.seal(b"x")).unwrap(), b"x");
    }
}
