//! Sender-domain identities: key generation at creation, the records a domain must publish,
//! DNS checks (on demand and by the periodic re-check job) and what they leave in storage.
//! A check looks records up with no transaction open, then saves the result in one statement.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sesame_core::config::SendingConfig;
use sesame_mail::dkim;
use sesame_store::domains::{Domain, NewDkimKey};
use sesame_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::verify::{
    DkimPublicKey, DnsChecker, ExpectedRecord, RecordSettings, VerifyError, expected_records,
};

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Dns(#[from] VerifyError),
    #[error(transparent)]
    Key(#[from] dkim::KeyError),
    #[error("dkim option {0} is not 0, 1 or 2")]
    BadDkimOption(i64),
}

/// One record as the API shows it (`DNSAttributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// "TXT" or "MX".
    pub record_type: &'static str,
    /// Full record name.
    pub name: String,
    pub expected_value: String,
    /// What DNS held at the last check; empty before any check.
    pub current_value: String,
    pub status: bool,
}

/// What a check left in `domains.last_check`, one entry per record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredCheck {
    name: String,
    #[serde(rename = "type")]
    record_type: String,
    expected: String,
    current: String,
    status: bool,
}

/// The record settings of the `[sending]` section.
pub fn record_settings(sending: &SendingConfig) -> RecordSettings {
    RecordSettings {
        spf_include: sending.spf_include.clone(),
        dkim_selector: sending.dkim_selector.clone(),
        mx_host: sending.mx_host.clone(),
    }
}

/// Generates the keys a DKIMOption needs, off the async threads (RSA-2048 takes up to a
/// second of CPU).
pub async fn generate_keys(dkim_option: i64) -> Result<Vec<dkim::GeneratedKey>, IdentityError> {
    let sizes = dkim::key_sizes(dkim_option).ok_or(IdentityError::BadDkimOption(dkim_option))?;
    let mut keys = Vec::with_capacity(sizes.len());
    for &bits in sizes {
        let key = tokio::task::spawn_blocking(move || dkim::generate_rsa(bits))
            .await
            .expect("key generation does not panic")?;
        keys.push(key);
    }
    Ok(keys)
}

/// Creates a domain with fresh keys. `StoreError::Conflict` when the name is taken.
pub async fn create(
    store: &Store,
    account_id: i64,
    name: &str,
    dkim_option: i64,
    tags_json: &str,
    now: i64,
) -> Result<Domain, IdentityError> {
    let keys = generate_keys(dkim_option).await?;
    let new_keys: Vec<NewDkimKey<'_>> = keys
        .iter()
        .map(|k| NewDkimKey {
            bits: i64::from(k.bits),
            private_key: &k.private_key,
            public_key: &k.public_key,
        })
        .collect();
    Ok(store
        .create_domain(account_id, name, dkim_option, tags_json, &new_keys, now)
        .await?)
}

/// Switches a domain to another DKIMOption, generating the key sizes it lacks (existing keys
/// are kept, so switching back republishes the same key).
pub async fn change_dkim_option(
    store: &Store,
    domain: &Domain,
    dkim_option: i64,
    now: i64,
) -> Result<(), IdentityError> {
    let sizes = dkim::key_sizes(dkim_option).ok_or(IdentityError::BadDkimOption(dkim_option))?;
    let have: Vec<i64> = store
        .dkim_keys(domain.id)
        .await?
        .iter()
        .map(|k| k.bits)
        .collect();
    for &bits in sizes {
        if !have.contains(&i64::from(bits)) {
            let key = tokio::task::spawn_blocking(move || dkim::generate_rsa(bits))
                .await
                .expect("key generation does not panic")?;
            let new_key = NewDkimKey {
                bits: i64::from(bits),
                private_key: &key.private_key,
                public_key: &key.public_key,
            };
            store.add_dkim_key(domain.id, &new_key, now).await?;
        }
    }
    store.set_dkim_option(domain.id, dkim_option).await?;
    Ok(())
}

/// The records `domain` must publish with its current keys and option.
pub async fn expected(
    store: &Store,
    settings: &RecordSettings,
    domain: &Domain,
) -> Result<Vec<ExpectedRecord>, IdentityError> {
    let sizes = dkim::key_sizes(domain.dkim_option)
        .ok_or(IdentityError::BadDkimOption(domain.dkim_option))?;
    let keys = store.dkim_keys(domain.id).await?;
    let mut published = Vec::new();
    for &bits in sizes {
        if let Some(key) = keys.iter().find(|k| k.bits == i64::from(bits)) {
            published.push(DkimPublicKey {
                selector: dkim::selector_for(&settings.dkim_selector, domain.dkim_option, bits),
                public_key_b64: key.public_key.clone(),
            });
        }
    }
    Ok(expected_records(&domain.name, settings, &published))
}

/// The attributes as of the last check: expected values now, current values and statuses from
/// the last check of the same record (a record whose expected value changed since, e.g. after
/// a DKIMOption change, shows as not checked).
pub fn attributes(domain: &Domain, expected: &[ExpectedRecord]) -> Vec<Attribute> {
    let stored: Vec<StoredCheck> = serde_json::from_str(&domain.last_check).unwrap_or_default();
    expected
        .iter()
        .map(|record| {
            let last = stored.iter().find(|s| {
                s.name == record.name
                    && s.record_type == record.record_type
                    && s.expected == record.expected_value
            });
            Attribute {
                record_type: record.record_type,
                name: record.name.clone(),
                expected_value: record.expected_value.clone(),
                current_value: last.map(|s| s.current.clone()).unwrap_or_default(),
                status: last.is_some_and(|s| s.status),
            }
        })
        .collect()
}

/// Looks every record up now and stores the outcome. The domain is verified only when every
/// record passes. Returns the updated domain and its attributes.
pub async fn check(
    store: &Store,
    dns: &DnsChecker,
    settings: &RecordSettings,
    domain: &Domain,
    now: i64,
) -> Result<(Domain, Vec<Attribute>), IdentityError> {
    let expected = expected(store, settings, domain).await?;
    let results = dns.check(&expected).await?;
    let verified = !results.is_empty() && results.iter().all(|r| r.passes);
    let stored: Vec<StoredCheck> = results
        .iter()
        .map(|r| StoredCheck {
            name: r.record.name.clone(),
            record_type: r.record.record_type.to_string(),
            expected: r.record.expected_value.clone(),
            current: r.current_value.clone(),
            status: r.passes,
        })
        .collect();
    let json = serde_json::to_string(&stored).expect("plain structs serialise");
    let updated = store
        .save_domain_check(domain.id, verified, &json, now)
        .await?
        // Deleted while we looked: report what we saw.
        .unwrap_or_else(|| domain.clone());
    if domain.verified && !verified {
        tracing::warn!(domain = %domain.name, "domain records no longer pass: not verified any more");
    }
    let attributes = attributes(&updated, &expected);
    Ok((updated, attributes))
}

/// One pass of the re-check job: checks up to `batch` verified domains whose last check is
/// older than `interval`. Returns how many were checked. A DNS outage keeps the old status.
pub async fn recheck_due(
    store: &Store,
    dns: &DnsChecker,
    settings: &RecordSettings,
    interval: Duration,
    now: i64,
    batch: i64,
) -> Result<usize, IdentityError> {
    let before = now - interval.as_secs() as i64;
    let due = store.domains_to_recheck(before + 1, batch).await?;
    let mut n_checked = 0;
    for domain in &due {
        match check(store, dns, settings, domain, now).await {
            Ok(_) => n_checked += 1,
            Err(IdentityError::Dns(e)) => {
                tracing::warn!(domain = %domain.name, error = %e, "re-check skipped: dns unavailable");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(n_checked)
}

/// Runs `recheck_due` every few seconds (never less often than `interval`) until cancelled.
pub async fn run_rechecks(
    store: Store,
    dns: DnsChecker,
    settings: RecordSettings,
    interval: Duration,
    cancel: CancellationToken,
) {
    let tick = interval.clamp(Duration::from_millis(250), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let now = sesame_core::time::now_unix();
        if let Err(e) = recheck_due(&store, &dns, &settings, interval, now, 50).await {
            tracing::error!(error = %e, "domain re-check failed");
        }
    }
}
