//! Finds where mail for a domain goes: its MX hosts in preference order (RFC 5321 §5.1), and
//! each host's addresses.
//!
//! Asks the configured nameservers (or the system's), like `verify::lookup`, with short timeouts
//! and no cache: the queue retries over hours, and a stale answer would outlive a fixed DNS
//! record. Tells a permanent answer (no such domain, null MX) from a temporary one (timeout,
//! SERVFAIL), because the first bounces mail and the second must only delay it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use rand::seq::SliceRandom;

/// How long one DNS query may take before it is retried once, then given up as temporary.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no route to a domain or host was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The domain publishes a null MX (RFC 7505): it accepts no mail. Permanent.
    #[error("domain does not accept mail (null MX)")]
    NullMx,
    /// NXDOMAIN: the domain (or host) does not exist. Permanent.
    #[error("domain does not exist")]
    NoSuchDomain,
    /// The name is not a valid DNS name. Permanent.
    #[error("{0:?} is not a valid domain name")]
    InvalidName(String),
    /// DNS did not answer usefully (timeout, SERVFAIL, REFUSED). Try again later.
    #[error("dns lookup failed: {0}")]
    Temporary(String),
    /// The resolver could not be set up (no usable `/etc/resolv.conf`).
    #[error("cannot set up the dns resolver: {0}")]
    Setup(String),
}

/// Resolves mail routes. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct MxResolver {
    resolver: TokioResolver,
}

impl MxResolver {
    /// A resolver that asks exactly `nameservers` (UDP, TCP for truncated answers), or the
    /// system's nameservers when the list is empty.
    pub fn new(nameservers: &[SocketAddr]) -> Result<Self, RouteError> {
        Self::with_timeout(nameservers, DEFAULT_TIMEOUT)
    }

    /// As [`MxResolver::new`], with `timeout` per query instead of 5 s.
    pub fn with_timeout(nameservers: &[SocketAddr], timeout: Duration) -> Result<Self, RouteError> {
        let resolver =
            crate::verify::uncached_resolver(nameservers, timeout).map_err(RouteError::Setup)?;
        Ok(Self { resolver })
    }

    /// The hosts that receive mail for `domain`, most preferred first (equal preferences in
    /// random order, RFC 5321 §5.1, spreading load). Without MX records the domain itself is
    /// the host (implicit MX). A null MX (a single "." exchange) is `RouteError::NullMx`.
    pub async fn route(&self, domain: &str) -> Result<Vec<String>, RouteError> {
        let name = absolute_name(domain)?;
        let lookup = match self.resolver.lookup(name, RecordType::MX).await {
            Ok(lookup) => lookup,
            Err(err) => {
                return match no_records_code(&err) {
                    Some(ResponseCode::NXDomain) => Err(RouteError::NoSuchDomain),
                    Some(_) => Ok(vec![bare(domain)]),
                    None => Err(RouteError::Temporary(format!(
                        "MX lookup of {domain} failed: {err}"
                    ))),
                };
            }
        };
        let mut exchanges: Vec<(u16, Name)> = lookup
            .answers()
            .iter()
            .filter_map(|answer| match &answer.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                _ => None,
            })
            .collect();
        if exchanges.is_empty() {
            // Only a CNAME chain, say: no MX, so the implicit MX applies.
            return Ok(vec![bare(domain)]);
        }
        // RFC 7505 §3: a null MX is the only record; should it sit beside real ones, those are
        // used and the "." is ignored.
        if exchanges.iter().all(|(_, exchange)| exchange.is_root()) {
            return Err(RouteError::NullMx);
        }
        exchanges.retain(|(_, exchange)| !exchange.is_root());
        exchanges.shuffle(&mut rand::rng());
        exchanges.sort_by_key(|(preference, _)| *preference);
        let mut hosts: Vec<String> = Vec::with_capacity(exchanges.len());
        for (_, exchange) in exchanges {
            let host = exchange
                .to_ascii()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        Ok(hosts)
    }

    /// The addresses of `host`, IPv4 first. Empty when the host exists without addresses;
    /// `NoSuchDomain` when neither lookup found the name; `Temporary` when a lookup failed and
    /// the other found nothing.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, RouteError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let name = absolute_name(host)?;
        let (v4, v6) = tokio::join!(
            self.resolver.lookup(name.clone(), RecordType::A),
            self.resolver.lookup(name, RecordType::AAAA),
        );
        let mut addresses = Vec::new();
        let mut n_nxdomain = 0;
        let mut failure = None;
        for result in [v4, v6] {
            match result {
                Ok(lookup) => {
                    addresses.extend(lookup.answers().iter().filter_map(
                        |answer| match &answer.data {
                            RData::A(a) => Some(IpAddr::V4(a.0)),
                            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                            _ => None,
                        },
                    ))
                }
                Err(err) => match no_records_code(&err) {
                    Some(ResponseCode::NXDomain) => n_nxdomain += 1,
                    Some(_) => {}
                    None => failure = Some(format!("address lookup of {host} failed: {err}")),
                },
            }
        }
        if !addresses.is_empty() {
            addresses.sort_by_key(|address| address.is_ipv6());
            addresses.dedup();
            return Ok(addresses);
        }
        match failure {
            Some(reason) => Err(RouteError::Temporary(reason)),
            None if n_nxdomain == 2 => Err(RouteError::NoSuchDomain),
            None => Ok(addresses),
        }
    }
}

/// The response code of an answer without records (NXDOMAIN or NODATA); `None` for a failure.
fn no_records_code(err: &NetError) -> Option<ResponseCode> {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords {
            response_code: code @ (ResponseCode::NXDomain | ResponseCode::NoError),
            ..
        })) => Some(*code),
        _ => None,
    }
}

fn bare(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

/// `name` as an absolute name, so no search domain is ever appended.
fn absolute_name(name: &str) -> Result<Name, RouteError> {
    let mut absolute =
        Name::from_ascii(name).map_err(|_| RouteError::InvalidName(name.to_owned()))?;
    if absolute.is_root() || name.is_empty() {
        return Err(RouteError::InvalidName(name.to_owned()));
    }
    absolute.set_fqdn(true);
    Ok(absolute)
}
