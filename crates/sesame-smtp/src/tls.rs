//! The TLS side of the listeners: the configured certificate and key (PEM files), or a
//! self-signed pair made at start so that STARTTLS and implicit TLS work out of the box.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A TLS acceptor from `cert` and `key` PEM files, or a self-signed certificate for
/// `hostname` when neither is given.
pub fn acceptor(
    cert: Option<&Path>,
    key: Option<&Path>,
    hostname: &str,
) -> anyhow::Result<TlsAcceptor> {
    let (chain, key) = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("reading the certificate {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("reading the certificate {}", cert.display()))?;
            anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("reading the private key {}", key.display()))?;
            (chain, key)
        }
        (None, None) => self_signed(hostname)?,
        _ => anyhow::bail!("smtp.tls_cert and smtp.tls_key go together: set both or neither"),
    };
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the TLS certificate and key do not match")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn self_signed(
    hostname: &str,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let pair = rcgen::generate_simple_self_signed(vec![hostname.to_string()])
        .context("making a self-signed certificate")?;
    let key = PrivateKeyDer::try_from(pair.signing_key.serialize_der())
        .map_err(|e| anyhow::anyhow!("self-signed key: {e}"))?;
    Ok((vec![pair.cert.der().clone()], key))
}

#[cfg(test)]
mod tests {
    #[test]
    fn self_signed_works_and_half_a_pair_is_refused() {
        assert!(super::acceptor(None, None, "sesame.localhost").is_ok());
        let err = super::acceptor(Some("/nonexistent".as_ref()), None, "x")
            .err()
            .unwrap();
        assert!(err.to_string().contains("set both or neither"));
    }
}
