//! Process-wide Prometheus metrics (prometheus-client), served at `/metrics` by the API
//! listener. Every crate records into the one registry through [`get`]; label values are
//! drawn from small closed sets (action names, error codes, outcomes, listener roles) so
//! the number of series stays bounded whatever the traffic. Gauges that describe stored
//! state (queue depth, oldest message) are set by the scrape handler just before encoding.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionOnly {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    pub role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DomainLabels {
    pub domain: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to about 33 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

/// How many destination domains get their own queue-depth series; the rest add up under
/// `domain="other"`.
pub const QUEUE_DOMAINS_SHOWN: usize = 10;

pub struct Metrics {
    registry: Registry,
    pub api_requests: Family<ActionLabels, Counter>,
    pub api_latency: HistogramFamily<ActionOnly>,
    pub messages_accepted: Family<SourceLabels, Counter>,
    pub recipients_accepted: Family<SourceLabels, Counter>,
    pub deliveries: Family<ResultLabels, Counter>,
    pub delivery_sessions: Family<ResultLabels, Counter>,
    pub queue_depth: Gauge,
    pub queue_oldest_age: Gauge,
    pub queue_depth_by_domain: Family<DomainLabels, Gauge>,
    pub smtp_sessions: Family<RoleLabels, Counter>,
    pub smtp_sessions_active: Family<RoleLabels, Gauge>,
    pub smtp_auth_failures: Counter,
    pub webhooks: Family<ResultLabels, Counter>,
    pub storage_latency: HistogramFamily<OperationLabels>,
    pub retention_purged: Family<ResultLabels, Counter>,
    /// Unix time of the delivery worker's last sign of life (0: not started).
    queue_heartbeat: AtomicI64,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("sesame");
        let api_requests = Family::<ActionLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by action and result code (OK or the Tencent error code)",
            api_requests.clone(),
        );
        let api_latency: HistogramFamily<ActionOnly> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "api_request_duration_seconds",
            "Time to answer an API request, by action",
            api_latency.clone(),
        );
        let messages_accepted = Family::<SourceLabels, Counter>::default();
        registry.register(
            "messages_accepted",
            "Messages committed to the queue, by source (api, smtp, bulk)",
            messages_accepted.clone(),
        );
        let recipients_accepted = Family::<SourceLabels, Counter>::default();
        registry.register(
            "recipients_accepted",
            "Recipients (deliveries) committed to the queue, by source",
            recipients_accepted.clone(),
        );
        let deliveries = Family::<ResultLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery attempts by outcome: delivered, deferred, bounced, dropped (queue lifetime over)",
            deliveries.clone(),
        );
        let delivery_sessions = Family::<ResultLabels, Counter>::default();
        registry.register(
            "delivery_sessions",
            "Outgoing SMTP connections by result: ok, failed (no session could be opened)",
            delivery_sessions.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Deliveries waiting in the queue (due or deferred), read at scrape time",
            queue_depth.clone(),
        );
        let queue_oldest_age = Gauge::default();
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest delivery still in the queue, read at scrape time",
            queue_oldest_age.clone(),
        );
        let queue_depth_by_domain = Family::<DomainLabels, Gauge>::default();
        registry.register(
            "queue_depth_by_domain",
            "Deliveries waiting per destination domain: the largest ten, the rest as other",
            queue_depth_by_domain.clone(),
        );
        let smtp_sessions = Family::<RoleLabels, Counter>::default();
        registry.register(
            "smtp_sessions",
            "SMTP sessions accepted, by listener role (submission, inbound)",
            smtp_sessions.clone(),
        );
        let smtp_sessions_active = Family::<RoleLabels, Gauge>::default();
        registry.register(
            "smtp_sessions_active",
            "SMTP sessions open now, by listener role",
            smtp_sessions_active.clone(),
        );
        let smtp_auth_failures = Counter::default();
        registry.register(
            "smtp_auth_failures",
            "Failed SMTP AUTH attempts",
            smtp_auth_failures.clone(),
        );
        let webhooks = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Event callback POSTs by result: delivered, retry, gave_up",
            webhooks.clone(),
        );
        let storage_latency: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "storage_operation_duration_seconds",
            "Time of storage operations on the hot paths (enqueue, lease, record, probe)",
            storage_latency.clone(),
        );
        let retention_purged = Family::<ResultLabels, Counter>::default();
        registry.register(
            "retention_purged",
            "Rows removed or emptied by the retention job, by kind",
            retention_purged.clone(),
        );
        Metrics {
            registry,
            api_requests,
            api_latency,
            messages_accepted,
            recipients_accepted,
            deliveries,
            delivery_sessions,
            queue_depth,
            queue_oldest_age,
            queue_depth_by_domain,
            smtp_sessions,
            smtp_sessions_active,
            smtp_auth_failures,
            webhooks,
            storage_latency,
            retention_purged,
            queue_heartbeat: AtomicI64::new(0),
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn api_request(&self, action: &str, code: &str, elapsed: Duration) {
        let code = if code.is_empty() { "OK" } else { code };
        self.api_requests
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
                code: code.to_owned(),
            })
            .inc();
        self.api_latency
            .get_or_create(&ActionOnly {
                action: action.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// One message with `recipients` deliveries committed.
    pub fn accepted(&self, source: &'static str, recipients: u64) {
        self.accepted_many(source, 1, recipients);
    }

    /// `messages` messages with `recipients` deliveries in all committed at once.
    pub fn accepted_many(&self, source: &'static str, messages: u64, recipients: u64) {
        self.messages_accepted
            .get_or_create(&SourceLabels { source })
            .inc_by(messages);
        self.recipients_accepted
            .get_or_create(&SourceLabels { source })
            .inc_by(recipients);
    }

    pub fn delivery(&self, result: &'static str) {
        self.deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn storage(&self, operation: &'static str, elapsed: Duration) {
        self.storage_latency
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    pub fn webhook(&self, result: &'static str) {
        self.webhooks.get_or_create(&ResultLabels { result }).inc();
    }

    /// Sets the queue gauges from a fresh reading: total, oldest age and per-domain depths
    /// (already cut to the largest [`QUEUE_DOMAINS_SHOWN`] plus `other`).
    pub fn set_queue(&self, depth: i64, oldest_age: i64, by_domain: &[(String, i64)]) {
        self.queue_depth.set(depth);
        self.queue_oldest_age.set(oldest_age);
        // Domains no longer queued must vanish, not keep their last value.
        self.queue_depth_by_domain.clear();
        for (domain, n) in by_domain {
            self.queue_depth_by_domain
                .get_or_create(&DomainLabels {
                    domain: domain.clone(),
                })
                .set(*n);
        }
    }

    /// The delivery worker calls this on every turn of its loop.
    pub fn queue_alive(&self, now: i64) {
        self.queue_heartbeat.store(now, Ordering::Relaxed);
    }

    /// Unix time of the worker's last turn (0 if it never ran).
    pub fn queue_last_alive(&self) -> i64 {
        self.queue_heartbeat.load(Ordering::Relaxed)
    }
}

/// Counts one open SMTP session of `role` for as long as it lives.
pub struct SessionGuard {
    role: &'static str,
}

impl SessionGuard {
    pub fn open(role: &'static str) -> Self {
        let m = get();
        m.smtp_sessions.get_or_create(&RoleLabels { role }).inc();
        m.smtp_sessions_active
            .get_or_create(&RoleLabels { role })
            .inc();
        SessionGuard { role }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        get()
            .smtp_sessions_active
            .get_or_create(&RoleLabels { role: self.role })
            .dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_text_exposition() {
        let m = get();
        m.api_request("SendEmail", "", Duration::from_millis(3));
        m.api_request(
            "SendEmail",
            "FailedOperation.EmailContentIsWrong",
            Duration::ZERO,
        );
        m.set_queue(7, 42, &[("a.example".into(), 5), ("other".into(), 2)]);
        let text = m.encode();
        assert!(text.contains(r#"sesame_api_requests_total{action="SendEmail",code="OK"}"#));
        assert!(text.contains(
            r#"sesame_api_requests_total{action="SendEmail",code="FailedOperation.EmailContentIsWrong"} 1"#
        ));
        assert!(text.contains("sesame_queue_depth 7"));
        assert!(text.contains("sesame_queue_oldest_age_seconds 42"));
        assert!(text.contains(r#"sesame_queue_depth_by_domain{domain="a.example"} 5"#));
        assert!(text.contains("sesame_api_request_duration_seconds_bucket"));
        m.set_queue(0, 0, &[]);
        assert!(!m.encode().contains(r#"domain="a.example""#));
    }

    #[test]
    fn a_session_guard_counts_while_open() {
        let before = get()
            .smtp_sessions_active
            .get_or_create(&RoleLabels { role: "test" })
            .get();
        let guard = SessionGuard::open("test");
        let active = || {
            get()
                .smtp_sessions_active
                .get_or_create(&RoleLabels { role: "test" })
                .get()
        };
        assert_eq!(active(), before + 1);
        drop(guard);
        assert_eq!(active(), before);
    }
}
