//! Outbound delivery: takes messages for one recipient domain, finds the route (MX hosts, or the
//! configured relay), speaks SMTP to the first host that answers and reports one `Outcome` per
//! recipient.
//!
//! Owns no storage: the queue worker leases deliveries, calls [`deliver_batch`] and records the
//! outcomes. Never returns an error: every failure (DNS, connection, TLS, replies) becomes an
//! outcome. Never logs message content.

pub mod classify;
pub mod mx;
pub mod smtp;
pub mod source;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use classify::{Outcome, classify_reply, classify_report, is_hard_bounce};
pub use mx::{MxResolver, RouteError};
pub use smtp::{Capabilities, Reply, SendReport, SessionError, SmtpClient, Timeouts};
pub use source::{Rotations, Source, SourcePool};

/// Most connection attempts for one batch, across all hosts and addresses, so a domain with
/// many unreachable MX hosts cannot hold a worker for hours.
const MAX_CONNECTION_ATTEMPTS: usize = 8;

/// The `[delivery]` settings delivery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Name given in EHLO/HELO; should resolve back to the sending address.
    pub helo_name: String,
    /// Port dialled on MX hosts (25 in production; tests point it at a local server).
    pub port: u16,
    /// Smarthost: when set, all mail goes there and DNS is not asked.
    pub relay: Option<SocketAddr>,
    /// TCP connect timeout per address.
    pub connect_timeout: Duration,
    /// Timeout for each command and reply (RFC 5321 §4.5.3.2 says 5 minutes).
    pub command_timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            helo_name: "sesame.localhost".to_owned(),
            port: 25,
            relay: None,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
        }
    }
}

impl DeliveryConfig {
    fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            command: self.command_timeout,
        }
    }
}

/// One message to send: the envelope and the signed bytes, exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The envelope sender (Return-Path), without angle brackets.
    pub mail_from: String,
    /// Envelope recipients, all at the batch's domain.
    pub recipients: Vec<String>,
    /// The message as signed; line endings are normalised on the wire.
    pub body: Arc<[u8]>,
}

/// A host to try: its name (for TLS SNI and logs) and where to connect.
struct Target {
    host: String,
    address: SocketAddr,
}

/// Delivers `messages`, all for recipients at `domain`, over as few connections as possible.
///
/// Returns, for each message in order, each of its recipients with its outcome. Hosts are tried
/// in MX preference order (each host's addresses in order) until one accepts a session; all
/// messages then go over that one connection. When a host refuses the session or the connection
/// fails, messages not yet sent move on to the next host; a message caught mid-transaction keeps
/// what its replies say, and recipients without a final reply are deferred.
pub async fn deliver_batch(
    resolver: &MxResolver,
    config: &DeliveryConfig,
    domain: &str,
    messages: &[OutboundMessage],
) -> Vec<Vec<(String, Outcome)>> {
    deliver_batch_from(resolver, config, domain, &Source::Shared, messages).await
}

/// As [`deliver_batch`], with every connection from `source` (a dedicated pool, round-robin,
/// or the shared default). When no address of a pool can be used, the messages are deferred:
/// they never leave from the shared addresses instead.
pub async fn deliver_batch_from(
    resolver: &MxResolver,
    config: &DeliveryConfig,
    domain: &str,
    source: &Source,
    messages: &[OutboundMessage],
) -> Vec<Vec<(String, Outcome)>> {
    let mut results: Vec<Option<Vec<(String, Outcome)>>> = vec![None; messages.len()];
    if messages.is_empty() {
        return Vec::new();
    }
    let hosts = match route(resolver, config, domain).await {
        Ok(hosts) => hosts,
        Err(error) => {
            let outcome = route_failure_outcome(&error);
            tracing::info!(domain, n_messages = messages.len(), %error, "no route for delivery");
            return messages
                .iter()
                .map(|message| all_recipients(message, &outcome))
                .collect();
        }
    };
    let timeouts = config.timeouts();
    let mut next = 0;
    let mut n_attempts = 0;
    let mut last_failure = String::from("no mail host could be reached");
    let mut n_hosts_without_address = 0;
    let mut had_temporary_dns_failure = false;
    'hosts: for host in &hosts {
        let targets = match targets_of(resolver, config, host).await {
            Ok(targets) if targets.is_empty() => {
                n_hosts_without_address += 1;
                last_failure = format!("mail host {host} has no address");
                continue;
            }
            Ok(targets) => targets,
            Err(RouteError::NoSuchDomain) => {
                n_hosts_without_address += 1;
                last_failure = format!("mail host {host} does not exist");
                continue;
            }
            Err(error) => {
                had_temporary_dns_failure = true;
                last_failure = format!("mail host {host}: {error}");
                continue;
            }
        };
        for target in targets {
            if next == messages.len() || n_attempts == MAX_CONNECTION_ATTEMPTS {
                break 'hosts;
            }
            n_attempts += 1;
            let mut client = match source::connect(
                source,
                target.address,
                &target.host,
                &config.helo_name,
                timeouts,
            )
            .await
            {
                Ok(client) => {
                    session_metric("ok");
                    client
                }
                Err(error) => {
                    session_metric("failed");
                    tracing::info!(
                        domain,
                        host = %target.host,
                        address = %target.address,
                        n_messages = messages.len() - next,
                        %error,
                        "delivery attempt: no session"
                    );
                    last_failure = format!("{} ({}): {error}", target.host, target.address);
                    continue;
                }
            };
            let first = next;
            let mut broken = None;
            while next < messages.len() {
                let message = &messages[next];
                let report = client
                    .send(&message.mail_from, &message.recipients, &message.body)
                    .await;
                if let Some(error) = &report.broken {
                    last_failure = format!("{} ({}): {error}", target.host, target.address);
                    broken = Some(error.clone());
                    // Nothing of this message reached the server: let the next host have it.
                    if report.mail_from.is_none() {
                        break;
                    }
                }
                results[next] = Some(classify_report(&message.recipients, &report));
                next += 1;
                if broken.is_some() {
                    break;
                }
            }
            log_attempt(domain, &target, &results[first..next], broken.as_ref());
            if broken.is_none() {
                client.quit().await;
            }
        }
    }
    // Messages no host took: deferred, unless every host is known to have no address at all,
    // which is as permanent as a missing domain (RFC 5321 §5.1, Postfix's "Host not found").
    let remaining_outcome = if next < messages.len()
        && n_attempts == 0
        && !had_temporary_dns_failure
        && n_hosts_without_address == hosts.len()
    {
        Outcome::Bounced {
            reason: last_failure,
            hard: true,
        }
    } else {
        Outcome::Deferred(last_failure)
    };
    results
        .into_iter()
        .zip(messages)
        .map(|(result, message)| {
            result.unwrap_or_else(|| all_recipients(message, &remaining_outcome))
        })
        .collect()
}

/// The hosts for `domain`: the relay when configured, else the MX hosts.
async fn route(
    resolver: &MxResolver,
    config: &DeliveryConfig,
    domain: &str,
) -> Result<Vec<String>, RouteError> {
    match config.relay {
        Some(relay) => Ok(vec![relay.ip().to_string()]),
        None => resolver.route(domain).await,
    }
}

/// Where to connect for `host`: the relay's own address, or each DNS address on `config.port`.
async fn targets_of(
    resolver: &MxResolver,
    config: &DeliveryConfig,
    host: &str,
) -> Result<Vec<Target>, RouteError> {
    if let Some(relay) = config.relay {
        return Ok(vec![Target {
            host: host.to_owned(),
            address: relay,
        }]);
    }
    let addresses = resolver.addresses(host).await?;
    Ok(addresses
        .into_iter()
        .map(|ip| Target {
            host: host.to_owned(),
            address: SocketAddr::new(ip, config.port),
        })
        .collect())
}

/// Route errors as outcomes: a missing domain or a null MX bounces (hard: the domain accepts no
/// mail), DNS trouble defers.
fn route_failure_outcome(error: &RouteError) -> Outcome {
    match error {
        RouteError::NullMx => Outcome::Bounced {
            reason: "domain does not accept mail (null MX, RFC 7505)".to_owned(),
            hard: true,
        },
        RouteError::NoSuchDomain => Outcome::Bounced {
            reason: "domain does not exist".to_owned(),
            hard: true,
        },
        RouteError::InvalidName(name) => Outcome::Bounced {
            reason: format!("{name:?} is not a valid domain name"),
            hard: true,
        },
        RouteError::Temporary(_) | RouteError::Setup(_) => Outcome::Deferred(error.to_string()),
    }
}

fn all_recipients(message: &OutboundMessage, outcome: &Outcome) -> Vec<(String, Outcome)> {
    message
        .recipients
        .iter()
        .map(|recipient| (recipient.clone(), outcome.clone()))
        .collect()
}

/// One log line per session: where, how many messages, and how their recipients fared.
fn log_attempt(
    domain: &str,
    target: &Target,
    results: &[Option<Vec<(String, Outcome)>>],
    broken: Option<&SessionError>,
) {
    let outcomes = results
        .iter()
        .flatten()
        .flatten()
        .map(|(_, outcome)| outcome);
    let (mut n_delivered, mut n_deferred, mut n_bounced) = (0, 0, 0);
    for outcome in outcomes {
        match outcome {
            Outcome::Delivered(_) => n_delivered += 1,
            Outcome::Deferred(_) => n_deferred += 1,
            Outcome::Bounced { .. } => n_bounced += 1,
        }
    }
    let broken = broken.map(ToString::to_string);
    tracing::info!(
        domain,
        host = %target.host,
        address = %target.address,
        n_messages = results.len(),
        n_delivered,
        n_deferred,
        n_bounced,
        broken = broken.as_deref().unwrap_or(""),
        "delivery attempt"
    );
}

/// Counts an outgoing SMTP connection: `ok` (a session was opened) or `failed`.
fn session_metric(result: &'static str) {
    sesame_core::metrics::get()
        .delivery_sessions
        .get_or_create(&sesame_core::metrics::ResultLabels { result })
        .inc();
}
