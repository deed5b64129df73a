//! Looks a sender domain's expected records up in DNS and judges them with `records`.
//!
//! Asks the configured nameservers (or the system's) directly, with caching off: a user
//! re-checks right after publishing a record and must see it, and the periodic re-check must see
//! a record vanish. Never writes anything; a DNS failure is reported, not turned into "not found",
//! so a flaky resolver cannot un-verify a domain.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use hickory_resolver::Resolver;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

use super::records::{ExpectedRecord, RecordPurpose, record_passes};

/// How long one query may take before it is retried or given up. Short, because
/// UpdateEmailIdentity waits for it while the user watches.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a check could not say whether the records pass.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// DNS did not answer usefully: timeout, SERVFAIL, REFUSED, a refused connection. The API
    /// answers `FailedOperation.ServiceNotAvailable`; the background job keeps the old status.
    #[error("dns service unavailable: {0}")]
    Unavailable(String),
    /// The resolver could not be set up, e.g. `/etc/resolv.conf` is missing or lists no
    /// nameserver.
    #[error("cannot set up the dns resolver: {0}")]
    Setup(String),
    /// A record name is not a valid DNS name (a bad selector in the config, say).
    #[error("{name:?} is not a valid dns name: {reason}")]
    InvalidName { name: String, reason: String },
}

/// The outcome for one expected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCheck {
    pub record: ExpectedRecord,
    /// What DNS holds at the name (`CurrentValue`): one value per record joined by a space, TXT
    /// strings of a record concatenated, MX hosts without the trailing dot; `""` when none.
    pub current_value: String,
    /// Whether the found values satisfy `record` (see `record_passes`).
    pub passes: bool,
}

/// Looks records up in DNS. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
}

impl DnsChecker {
    /// A checker that asks exactly `nameservers` (UDP, and TCP for truncated answers, on each
    /// address's port), or the nameservers of `/etc/resolv.conf` when the list is empty.
    pub fn new(nameservers: &[SocketAddr]) -> Result<Self, VerifyError> {
        Self::with_timeout(nameservers, DEFAULT_TIMEOUT)
    }

    /// As [`DnsChecker::new`], with `timeout` per query instead of 2 s.
    pub fn with_timeout(
        nameservers: &[SocketAddr],
        timeout: Duration,
    ) -> Result<Self, VerifyError> {
        let resolver = uncached_resolver(nameservers, timeout).map_err(VerifyError::Setup)?;
        Ok(Self { resolver })
    }

    /// Looks every record up, concurrently, and judges what was found.
    ///
    /// Fails as a whole when any lookup fails: a partial answer would show a record as missing
    /// when DNS merely did not answer.
    pub async fn check(&self, records: &[ExpectedRecord]) -> Result<Vec<RecordCheck>, VerifyError> {
        let found = join_all(records.iter().map(|record| self.find(record))).await;
        records
            .iter()
            .zip(found)
            .map(|(record, found)| {
                let found = found?;
                Ok(RecordCheck {
                    passes: record_passes(record, &found),
                    current_value: found.join(" "),
                    record: record.clone(),
                })
            })
            .collect()
    }

    /// The values at `record.name`: one entry per DNS record, empty when the name or the type
    /// does not exist.
    async fn find(&self, record: &ExpectedRecord) -> Result<Vec<String>, VerifyError> {
        let record_type = match record.purpose {
            RecordPurpose::Mx => RecordType::MX,
            RecordPurpose::Spf | RecordPurpose::Dkim | RecordPurpose::Dmarc => RecordType::TXT,
        };
        let name = absolute_name(&record.name)?;
        match self.resolver.lookup(name, record_type).await {
            Ok(lookup) => {
                let values = values_of(lookup.answers(), record_type);
                tracing::debug!(name = %record.name, %record_type, ?values, "dns lookup");
                Ok(values)
            }
            // NXDOMAIN and NODATA are answers: the user has not published the record (yet).
            Err(NetError::Dns(DnsError::NoRecordsFound(NoRecords {
                response_code: ResponseCode::NXDomain | ResponseCode::NoError,
                ..
            }))) => {
                tracing::debug!(name = %record.name, %record_type, "dns lookup found nothing");
                Ok(Vec::new())
            }
            Err(err) => Err(VerifyError::Unavailable(format!(
                "{record_type} lookup of {} failed: {err}",
                record.name
            ))),
        }
    }
}

/// A resolver without cache that asks exactly `nameservers` (or the system's when empty),
/// shared by the domain verifier and the MX router (`delivery::mx`).
pub(crate) fn uncached_resolver(
    nameservers: &[SocketAddr],
    timeout: Duration,
) -> Result<TokioResolver, String> {
    let config = if nameservers.is_empty() {
        system_config()?
    } else {
        ResolverConfig::from_name_servers(nameservers.iter().map(name_server).collect())
    };
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    *builder.options_mut() = resolver_options(timeout);
    builder.build().map_err(|err| err.to_string())
}

/// Only the nameservers of the system configuration. Its `domain` and `search` lists are dropped:
/// our names are absolute, and a search suffix must never turn a missing record into someone
/// else's.
fn system_config() -> Result<ResolverConfig, String> {
    let (config, _system_options) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|err| format!("reading /etc/resolv.conf: {err}"))?;
    let (_domain, _search, name_servers) = config.into_parts();
    Ok(ResolverConfig::from_name_servers(name_servers))
}

/// One configured nameserver: UDP first, TCP when an answer comes back truncated (long DKIM
/// keys), both on the address's own port so tests and local resolvers can use high ports.
fn name_server(address: &SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = address.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = address.port();
    NameServerConfig::new(address.ip(), true, vec![udp, tcp])
}

fn resolver_options(timeout: Duration) -> ResolverOpts {
    let mut options = ResolverOpts::default();
    options.timeout = timeout;
    // hickory counts retries after the first try: 1 means two tries in all.
    options.attempts = 1;
    // No cache: a record published a second ago must be seen, and so must one just deleted.
    // Capacity 0 and TTLs clamped to 0 make any entry that slips in stale at once.
    options.cache_size = 0;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    // /etc/hosts is this machine's own business: verification and mail routing follow DNS.
    options.use_hosts_file = ResolveHosts::Never;
    options
}

/// `name` as an absolute name, so no search domain is ever appended to it.
fn absolute_name(name: &str) -> Result<Name, VerifyError> {
    // from_ascii, not from_utf8: domains are already punycode, and IDNA rules reject the
    // underscores of `_dmarc` and `_domainkey` labels.
    let mut absolute = Name::from_ascii(name).map_err(|err| VerifyError::InvalidName {
        name: name.to_owned(),
        reason: err.to_string(),
    })?;
    absolute.set_fqdn(true);
    Ok(absolute)
}

/// The values of the answers of `record_type`, skipping CNAMEs met on the way.
fn values_of(answers: &[Record], record_type: RecordType) -> Vec<String> {
    match record_type {
        RecordType::MX => {
            let mut exchanges: Vec<(u16, String)> = answers
                .iter()
                .filter_map(|answer| match &answer.data {
                    RData::MX(mx) => Some((
                        mx.preference,
                        mx.exchange.to_ascii().trim_end_matches('.').to_owned(),
                    )),
                    _ => None,
                })
                .collect();
            // Preference order is the order mail uses them, and stable for the user to read.
            exchanges.sort_by_key(|(preference, _)| *preference);
            exchanges.into_iter().map(|(_, host)| host).collect()
        }
        _ => answers
            .iter()
            .filter_map(|answer| match &answer.data {
                // A TXT record is a list of strings of at most 255 bytes; a long DKIM key is
                // split across several, which mean one value concatenated (RFC 6376 §3.6.2.2).
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect(),
    }
}
