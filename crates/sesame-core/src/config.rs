//! The TOML configuration of `../shared/CONTRACT.md`, one struct per section.
//! Loaded and checked once at start: an unknown key or a bad value stops start-up with a
//! message naming the key. Durations become `Duration`, addresses `SocketAddr`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// The whole configuration. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub storage: StorageConfig,
    pub api: ApiConfig,
    pub smtp: SmtpConfig,
    pub inbound: InboundConfig,
    pub dns: DnsConfig,
    pub delivery: DeliveryConfig,
    pub sending: SendingConfig,
    pub events: EventsConfig,
    pub bulk: BulkConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub retention: RetentionConfig,
}

/// `[storage]`: where accounts, domains and messages live.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://PATH` (the embedded default) or `postgres://user:pass@host:port/db`.
    pub url: String,
    /// File holding the server key that encrypts secrets at rest (API secret keys, DKIM
    /// private keys). Made at first start when missing. Every process sharing one database
    /// must use the same key.
    pub key_file: PathBuf,
    /// When an SQLite commit is on disk (PRAGMA synchronous). `normal`: a committed message
    /// survives a crash of the process (kill -9), and the newest commits may be lost with the
    /// machine (power loss, kernel crash). `full`: every commit is fsync'd before it is
    /// answered, so it survives the machine too, for some throughput (bench/README.md).
    pub sqlite_synchronous: SqliteSynchronous,
}

/// `[storage] sqlite_synchronous`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    #[default]
    Normal,
    Full,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: "sqlite://./data/sesame.db".into(),
            key_file: PathBuf::from("./data/sesame.key"),
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

impl std::fmt::Debug for StorageConfig {
    /// The URL may carry a database password: only its scheme is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split("://").next().unwrap_or("");
        f.debug_struct("StorageConfig")
            .field("url", &format_args!("{scheme}://…"))
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// `[api]`: the TencentCloud API 3.0 endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// Base of open/click/unsubscribe links in mail.
    pub public_url: String,
    /// Zone of the API's date and date-time strings.
    #[serde(deserialize_with = "time_zone")]
    pub time_zone: jiff::tz::TimeZone,
    /// Calls per second one account may make to one action; 0 = unlimited.
    pub rate_limit: u32,
    /// Regions accepted in X-TC-Region; empty = any well-formed region.
    pub regions: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            time_zone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC),
            rate_limit: 20,
            regions: Vec::new(),
        }
    }
}

/// `[smtp]`: submission listeners (used from the SMTP issue on).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    #[serde(deserialize_with = "opt_socket_addr")]
    pub tls_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// CIDR blocks whose clients may submit without TLS or AUTH.
    #[serde(deserialize_with = "networks")]
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// Extension: how long a client may stay silent (and a TLS handshake may take) before
    /// the connection is closed.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Extension: offer AUTH on connections without TLS too (legacy devices on a private
    /// network). Off by default: passwords never cross the network in clear.
    pub allow_plain_auth: bool,
    /// Extension: most SMTP sessions at once per listener; more wait to be accepted.
    pub max_connections: usize,
}

impl SmtpConfig {
    /// Whether a client at `ip` is in `trusted_networks`.
    pub fn is_trusted(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.trusted_networks.iter().any(|net| net.contains(&ip))
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 2587)),
            tls_listen: Some(SocketAddr::from(([127, 0, 0, 1], 2465))),
            tls_cert: None,
            tls_key: None,
            trusted_networks: Vec::new(),
            timeout: Duration::from_secs(300),
            allow_plain_auth: false,
            max_connections: 1000,
        }
    }
}

/// `[inbound]`: the MX for `return_path_domain` (bounces and complaints).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 2525)),
        }
    }
}

/// `[dns]`: the resolver used for domain verification and MX lookups.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// `ip:port` of the name servers; empty = the system resolver.
    #[serde(deserialize_with = "socket_addrs")]
    pub nameservers: Vec<SocketAddr>,
}

/// `[delivery]`: how mail leaves (used from the sending issue on).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Port dialled on MX hosts.
    pub port: u16,
    /// Optional smarthost: all mail goes there.
    #[serde(deserialize_with = "opt_socket_addr")]
    pub relay: Option<SocketAddr>,
    pub helo_name: String,
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    #[serde(deserialize_with = "duration")]
    pub max_queue_lifetime: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        DeliveryConfig {
            port: 25,
            relay: None,
            helo_name: "sesame.localhost".into(),
            retry_schedule: vec![
                minutes(1),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(360),
            ],
            max_queue_lifetime: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// `[sending]`: what sender domains must publish, and how they are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendingConfig {
    /// What the SPF record a domain must publish includes.
    pub spf_include: String,
    /// DKIM selector: keys live at `<dkim_selector>._domainkey.<domain>`.
    pub dkim_selector: String,
    pub return_path_domain: String,
    /// The MX host a sender domain points at (our inbound listener), checked by verification.
    pub mx_host: String,
    /// How often verified domains are looked up again (a domain whose records vanished
    /// stops being verified).
    #[serde(deserialize_with = "duration")]
    pub recheck_interval: Duration,
    /// Recipients per second one account may send (API and, later, SMTP); 0 = unlimited.
    pub mail_rate: u32,
}

impl Default for SendingConfig {
    fn default() -> Self {
        SendingConfig {
            spf_include: "_spf.sesame.localhost".into(),
            dkim_selector: "sesame".into(),
            return_path_domain: "bounces.sesame.localhost".into(),
            mx_host: "mx.sesame.localhost".into(),
            recheck_interval: Duration::from_secs(3600),
            mail_rate: 20,
        }
    }
}

/// `[events]` (extension): how event callbacks (webhooks) are posted and retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Waits between tries of a callback that failed (non-2xx, timeout, refused); the last
    /// step repeats until `give_up_after`.
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// An event not accepted this long after it happened is dropped (and logged).
    #[serde(deserialize_with = "duration")]
    pub give_up_after: Duration,
    /// How long one POST may take, connection included.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// POSTs in flight at once, over all receivers.
    pub concurrency: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        EventsConfig {
            retry_schedule: vec![s(10), s(30), s(60), s(300), s(900), s(3600)],
            give_up_after: s(24 * 3600),
            timeout: s(10),
            concurrency: 16,
        }
    }
}

/// `[bulk]` (extension): how batch tasks (BatchSendEmail) are scheduled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkConfig {
    /// How often the scheduler looks for due tasks (it is also woken when a task is created).
    #[serde(deserialize_with = "duration")]
    pub tick: Duration,
    /// The length of one `IntervalTime` unit of a cyclic task: an hour, as in the API; tests
    /// shorten it.
    #[serde(deserialize_with = "duration")]
    pub cycle_unit: Duration,
    /// Recipients fanned out (submitted) per step of a task; the task's cursor is saved after
    /// each step.
    pub chunk: usize,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            tick: Duration::from_secs(5),
            cycle_unit: Duration::from_secs(3600),
            chunk: 100,
        }
    }
}

/// `[log]` (extension): how `sesame serve` writes its log lines to stderr.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (human-readable, the default) or `json` (one JSON object per line).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `info,sesame_engine=debug`; the environment
    /// variable `SESAME_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info,sqlx=warn,hickory=warn".into(),
        }
    }
}

/// `[metrics]` (extension): the Prometheus endpoint `/metrics` on the API listener.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// When set, a scrape must send `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            token: None,
        }
    }
}

// Written by hand so the token never reaches a log line.
impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `[retention]` (extension): how long stored data is kept. The purge job removes what is
/// older in small batches, so it never holds the store for long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Signed message bodies of finished messages (every recipient delivered, bounced or
    /// dropped) are emptied after this; their statuses stay.
    #[serde(deserialize_with = "duration")]
    pub bodies: Duration,
    /// Messages and their per-recipient statuses (GetSendEmailStatus). The cloud answers
    /// status queries for 30 days.
    #[serde(deserialize_with = "duration")]
    pub messages: Duration,
    /// Complaint reports (GetAbuseReport) and event callbacks still not accepted by their
    /// receiver.
    #[serde(deserialize_with = "duration")]
    pub events: Duration,
    /// Daily statistics (GetStatisticsReport).
    #[serde(deserialize_with = "duration")]
    pub statistics: Duration,
    /// How often the purge job runs.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Rows removed per statement; the job pauses between batches.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let days = |n: u64| Duration::from_secs(n * 86_400);
        RetentionConfig {
            bodies: days(7),
            messages: days(30),
            events: days(30),
            statistics: days(400),
            interval: Duration::from_secs(3600),
            batch: 500,
        }
    }
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses TOML text; the error names the offending key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let deserializer = toml::Deserializer::parse(text).map_err(|e| e.to_string())?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().trim().to_string();
            if path == "." || path.is_empty() {
                message
            } else {
                format!("key `{path}`: {message}")
            }
        })?;
        config.check()?;
        Ok(config)
    }

    /// Checks that need more than one key's type.
    fn check(&self) -> Result<(), String> {
        let url = &self.storage.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(format!(
                "key `storage.url`: {url:?} is neither sqlite://PATH nor postgres://..."
            ));
        }
        if self.delivery.retry_schedule.is_empty() {
            return Err("key `delivery.retry_schedule`: needs at least one duration".into());
        }
        if self.events.retry_schedule.is_empty() {
            return Err("key `events.retry_schedule`: needs at least one duration".into());
        }
        if self.events.timeout.is_zero() {
            return Err("key `events.timeout`: must be more than zero".into());
        }
        if self.events.concurrency == 0 {
            return Err("key `events.concurrency`: must be at least 1".into());
        }
        if self.retention.interval.is_zero() {
            return Err("key `retention.interval`: must be more than zero".into());
        }
        if self.retention.batch == 0 {
            return Err("key `retention.batch`: must be at least 1".into());
        }
        if self.retention.bodies > self.retention.messages {
            return Err(
                "key `retention.bodies`: cannot be longer than `retention.messages` (a body goes with its message)"
                    .into(),
            );
        }
        if let Some(token) = &self.metrics.token
            && token.trim().is_empty()
        {
            return Err(
                "key `metrics.token`: must not be empty (leave it out for no token)".into(),
            );
        }
        if self.sending.dkim_selector.is_empty()
            || !self
                .sending
                .dkim_selector
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("key `sending.dkim_selector`: must be letters, digits and '-'".into());
        }
        for (key, value) in [
            ("sending.spf_include", &self.sending.spf_include),
            (
                "sending.return_path_domain",
                &self.sending.return_path_domain,
            ),
            ("sending.mx_host", &self.sending.mx_host),
        ] {
            if crate::DomainName::parse_lenient(value).is_none() {
                return Err(format!("key `{key}`: {value:?} is not a domain name"));
            }
        }
        if self.bulk.tick.is_zero() || self.bulk.cycle_unit.is_zero() {
            return Err("key `bulk.tick` and `bulk.cycle_unit`: must be more than zero".into());
        }
        if !(1..=1000).contains(&self.bulk.chunk) {
            return Err("key `bulk.chunk`: must be 1 to 1000".into());
        }
        if self.sending.recheck_interval.is_zero() {
            return Err("key `sending.recheck_interval`: must be more than zero".into());
        }
        if !(self.api.public_url.starts_with("http://")
            || self.api.public_url.starts_with("https://"))
        {
            return Err("key `api.public_url`: must start with http:// or https://".into());
        }
        Ok(())
    }
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    parse_socket_addr(&text).map_err(serde::de::Error::custom)
}

fn opt_socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    parse_socket_addr(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn socket_addrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| {
            // A bare IP means the standard DNS port.
            if let Ok(ip) = t.parse::<std::net::IpAddr>() {
                return Ok(SocketAddr::new(ip, 53));
            }
            parse_socket_addr(t)
        })
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an ip:port address such as \"127.0.0.1:8080\""))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// CIDR blocks such as "127.0.0.1/32" or "10.0.0.0/8"; a bare address means just it.
fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{text:?} is not a network such as \"127.0.0.1/32\" or \"10.0.0.0/8\""
                    ))
                })
        })
        .collect()
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| parse_duration(t))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// Parses "30s", "5m", "2h", "5d" (and humantime's longer forms).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("{text:?} is not a duration such as \"30s\", \"5m\", \"2h\" or \"5d\"")
    })
}

fn time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::tz::TimeZone, D::Error> {
    let text = String::deserialize(d)?;
    jiff::tz::TimeZone::get(&text).map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not a known time zone such as \"Asia/Shanghai\" or \"UTC\""
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_sections_parse_and_check() {
        let c = Config::parse(
            "[log]\nformat = \"json\"\n[metrics]\ntoken = \"s3cret\"\n[retention]\nbodies = \"1d\"\nmessages = \"30d\"\n",
        )
        .unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.retention.bodies, Duration::from_secs(86_400));
        assert!(!format!("{:?}", c.metrics).contains("s3cret"));
        check_err("[log]\nformat = \"xml\"\n", "log.format");
        check_err("[retention]\nbodies = \"40d\"\n", "retention.bodies");
        check_err("[retention]\nbatch = 0\n", "retention.batch");
        check_err("[metrics]\ntoken = \" \"\n", "metrics.token");
        let d = Config::default();
        assert_eq!(d.retention.messages, Duration::from_secs(30 * 86_400));
        assert!(d.metrics.enabled && d.metrics.token.is_none());
    }

    #[test]
    fn sqlite_synchronous_is_normal_or_full() {
        assert_eq!(
            Config::default().storage.sqlite_synchronous,
            SqliteSynchronous::Normal
        );
        let c = Config::parse("[storage]\nsqlite_synchronous = \"full\"\n").unwrap();
        assert_eq!(c.storage.sqlite_synchronous, SqliteSynchronous::Full);
        check_err(
            "[storage]\nsqlite_synchronous = \"off\"\n",
            "sqlite_synchronous",
        );
    }

    fn check_err(text: &str, needle: &str) {
        let err = Config::parse(text).expect_err("config should be refused");
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }

    #[test]
    fn contract_sample_parses() {
        let sample = r#"
[storage]
url = "sqlite://./data/sesame.db"
[api]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
time_zone = "Asia/Shanghai"
[smtp]
listen = "127.0.0.1:2587"
tls_listen = "127.0.0.1:2465"
trusted_networks = []
[inbound]
listen = "127.0.0.1:2525"
[dns]
nameservers = ["127.0.0.1:5353"]
[delivery]
port = 25
helo_name = "sesame.localhost"
retry_schedule = ["1m", "5m", "30m", "2h", "6h"]
max_queue_lifetime = "5d"
[sending]
spf_include = "_spf.sesame.localhost"
dkim_selector = "sesame"
return_path_domain = "bounces.sesame.localhost"
"#;
        let config = Config::parse(sample).expect("sample parses");
        assert_eq!(
            config.dns.nameservers,
            vec!["127.0.0.1:5353".parse().unwrap()]
        );
        assert_eq!(
            config.delivery.max_queue_lifetime,
            Duration::from_secs(5 * 86400)
        );
        assert_eq!(config.delivery.retry_schedule[3], Duration::from_secs(7200));
    }

    #[test]
    fn empty_config_is_the_default() {
        let config = Config::parse("").expect("empty parses");
        assert_eq!(config.api.listen.port(), 8080);
        assert_eq!(config.storage.url, "sqlite://./data/sesame.db");
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        check_err("[api]\nlisen = \"127.0.0.1:1\"\n", "lisen");
        check_err("[api]\nlisten = \"nope\"\n", "api.listen");
        check_err(
            "[delivery]\nretry_schedule = [\"5 parsecs\"]\n",
            "delivery.retry_schedule",
        );
        check_err("[api]\ntime_zone = \"Mars/Olympus\"\n", "api.time_zone");
        check_err("[bogus]\n", "bogus");
        check_err("[storage]\nurl = \"mysql://x\"\n", "storage.url");
        check_err("[events]\nretry_schedule = []\n", "events.retry_schedule");
        check_err("[events]\nretry = [\"1s\"]\n", "retry");
    }

    #[test]
    fn events_retry_schedule() {
        let config = Config::parse("[events]\nretry_schedule = [\"1s\", \"2s\"]\n").unwrap();
        assert_eq!(config.events.retry_schedule[1], Duration::from_secs(2));
        assert_eq!(config.events.give_up_after, Duration::from_secs(86_400));
    }

    #[test]
    fn bulk_intervals() {
        let config = Config::parse("[bulk]\ntick = \"1s\"\ncycle_unit = \"2s\"\n").unwrap();
        assert_eq!(config.bulk.cycle_unit, Duration::from_secs(2));
        assert_eq!(Config::default().bulk.cycle_unit, Duration::from_secs(3600));
        check_err("[bulk]\nchunk = 0\n", "bulk.chunk");
        check_err("[bulk]\nspeed = 1\n", "speed");
    }

    #[test]
    fn trusted_networks_are_cidr_blocks() {
        let config = Config::parse(
            "[smtp]\ntrusted_networks = [\"127.0.0.1/32\", \"::1\", \"10.0.0.0/8\"]\n",
        )
        .unwrap();
        assert!(config.smtp.is_trusted("127.0.0.1".parse().unwrap()));
        assert!(config.smtp.is_trusted("::ffff:10.1.2.3".parse().unwrap()));
        assert!(config.smtp.is_trusted("::1".parse().unwrap()));
        assert!(!config.smtp.is_trusted("127.0.0.2".parse().unwrap()));
        check_err(
            "[smtp]\ntrusted_networks = [\"localhost\"]\n",
            "smtp.trusted_networks",
        );
    }

    #[test]
    fn debug_hides_storage_password() {
        let config = Config::parse("[storage]\nurl = \"postgres://u:hunter2@h/db\"\n").unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
