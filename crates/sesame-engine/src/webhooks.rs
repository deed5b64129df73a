//! The webhook worker: drains the event outbox (`store::events`), POSTing each event's JSON
//! to the callback URL it was queued for, signed with the account's secret. A 2xx removes
//! the row; anything else (another status, a timeout, a refused connection) makes it due
//! again after the next `[events] retry_schedule` step, until `give_up_after`.
//!
//! It runs in its own task with at most `concurrency` POSTs in flight and never touches the
//! delivery queue, so a slow or dead receiver delays only its own events. Delivery is
//! at-least-once: a crash or stop between the receiver's 2xx and the delete posts the event
//! again (the `X-Sesame-Event-Id` header lets receivers drop duplicates). No transaction is
//! open while a POST is in flight.

use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use sesame_store::events::OutboxEvent;
use sesame_store::{Store, StoreError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// `User-Agent` of every callback request.
pub const USER_AGENT: &str = concat!("Sesame-Webhook/", env!("CARGO_PKG_VERSION"));

/// Tunables of the worker (`[events]`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Waits after the 1st, 2nd, ... failed try; the last step repeats.
    pub retry_schedule: Vec<Duration>,
    /// An event older than this is dropped after a failed try.
    pub give_up_after: Duration,
    /// Longest time one POST may take.
    pub timeout: Duration,
    /// POSTs in flight at once.
    pub concurrency: usize,
}

impl From<&sesame_core::config::EventsConfig> for WebhookSettings {
    fn from(config: &sesame_core::config::EventsConfig) -> Self {
        WebhookSettings {
            retry_schedule: config.retry_schedule.clone(),
            give_up_after: config.give_up_after,
            timeout: config.timeout,
            concurrency: config.concurrency,
        }
    }
}

/// The `X-Sesame-Signature` value: `v1=` and the hex HMAC-SHA256, under the account's
/// secret, of `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The HTTP client: rustls on the ring provider (like outbound SMTP) with the platform's
/// roots, no redirects (a callback answers itself or fails), the configured timeout.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_platform_verifier()
        .map_err(|e| e.to_string())?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}

/// The webhook worker of this process.
pub struct WebhookWorker {
    store: Store,
    client: reqwest::Client,
    settings: WebhookSettings,
    /// Lease owner: unique per process run.
    owner: String,
    slots: Arc<Semaphore>,
}

impl WebhookWorker {
    pub fn new(store: Store, settings: WebhookSettings) -> Result<WebhookWorker, String> {
        let client = http_client(settings.timeout)?;
        let owner = format!(
            "webhooks-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Ok(WebhookWorker {
            store,
            client,
            settings,
            owner,
            slots,
        })
    }

    /// How long a lease lasts: a POST's timeout plus room for recording its outcome.
    fn lease(&self) -> i64 {
        2 * self.settings.timeout.as_secs().max(1) as i64 + 30
    }

    /// One pass for tests and tools: leases what is due (up to the free slots), posts it all
    /// and records the outcomes. Returns how many events were tried.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let leased = self.lease_some().await?;
        let n = leased.len();
        let mut tasks = tokio::task::JoinSet::new();
        for (event, permit) in leased {
            let job = self.job();
            tasks.spawn(async move {
                job.post_and_record(event).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(n)
    }

    /// Leases as many due events as there are free slots, each with its slot.
    async fn lease_some(
        &self,
    ) -> Result<Vec<(OutboxEvent, tokio::sync::OwnedSemaphorePermit)>, StoreError> {
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(Vec::new());
        }
        let now = sesame_core::time::now_unix();
        let events = self
            .store
            .lease_events(&self.owner, now, now + self.lease(), free as i64)
            .await?;
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let permit = self
                .slots
                .clone()
                .try_acquire_owned()
                .expect("no more events leased than free slots, and only this task takes them");
            out.push((event, permit));
        }
        Ok(out)
    }

    fn job(&self) -> Job {
        Job {
            store: self.store.clone(),
            client: self.client.clone(),
            settings: self.settings.clone(),
            owner: self.owner.clone(),
        }
    }

    /// Posts due events until cancelled: new ones as soon as a slot frees, otherwise it
    /// looks for due events twice a second. On cancel, POSTs in flight are abandoned and
    /// their leases handed back (those events are posted again later: at-least-once).
    pub async fn run(self, cancel: CancellationToken) {
        if self.store.backend_name() == "sqlite" {
            match self.store.release_all_event_leases().await {
                Ok(n) if n > 0 => tracing::info!(n, "took back events leased before a crash"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "could not clear stale event leases"),
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            let leased = tokio::select! {
                _ = cancel.cancelled() => break,
                leased = self.lease_some() => leased,
            };
            let busy = match leased {
                Ok(leased) => {
                    let full = !leased.is_empty() && self.slots.available_permits() == 0;
                    let any = !leased.is_empty();
                    for (event, permit) in leased {
                        let job = self.job();
                        tasks.spawn(async move {
                            job.post_and_record(event).await;
                            drop(permit);
                        });
                    }
                    // More may be due: look again at once unless every slot is taken.
                    any && !full
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not lease events");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        match self.store.release_event_leases(&self.owner).await {
            Ok(n) if n > 0 => tracing::info!(n, "handed back leased events"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not hand back event leases"),
        }
    }
}

/// What one POST needs, owned so it can run in its own task.
struct Job {
    store: Store,
    client: reqwest::Client,
    settings: WebhookSettings,
    owner: String,
}

impl Job {
    async fn post_and_record(self, event: OutboxEvent) {
        let result = self.post(&event).await;
        let recorded = match result {
            Ok(()) => {
                sesame_core::metrics::get().webhook("delivered");
                self.store.event_sent(event.id, &self.owner).await
            }
            Err(error) => {
                let now = sesame_core::time::now_unix();
                let retry_at = self.retry_at(&event, now);
                sesame_core::metrics::get().webhook(if retry_at.is_some() {
                    "retry"
                } else {
                    "gave_up"
                });
                match retry_at {
                    Some(at) => tracing::info!(
                        event = event.id,
                        app_id = event.account_id,
                        url = %event.url,
                        error = %error,
                        retry_in = at - now,
                        "callback failed; will retry"
                    ),
                    None => tracing::warn!(
                        event = event.id,
                        app_id = event.account_id,
                        url = %event.url,
                        error = %error,
                        tries = event.n_attempts + 1,
                        "callback failed; giving up on this event"
                    ),
                }
                self.store
                    .event_failed(event.id, &self.owner, &error, retry_at)
                    .await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!(event = event.id, "event lease lost before recording"),
            Err(e) => tracing::error!(event = event.id, error = %e, "could not record a callback"),
        }
    }

    /// When to try again after the failed try number `n_attempts + 1`, or `None` to give up.
    fn retry_at(&self, event: &OutboxEvent, now: i64) -> Option<i64> {
        let schedule = &self.settings.retry_schedule;
        let step = (event.n_attempts.max(0) as usize).min(schedule.len().saturating_sub(1));
        let wait = schedule
            .get(step)
            .copied()
            .unwrap_or(Duration::from_secs(60));
        let at = now + wait.as_secs().max(1) as i64;
        (at - event.created_at <= self.settings.give_up_after.as_secs() as i64).then_some(at)
    }

    async fn post(&self, event: &OutboxEvent) -> Result<(), String> {
        let secret = match self.store.callback_secret(event.account_id).await {
            Ok(Some(secret)) => secret,
            Ok(None) => return Err("the account has no signing secret".into()),
            Err(e) => return Err(format!("reading the signing secret: {e}")),
        };
        let timestamp = sesame_core::time::now_unix();
        let response = self
            .client
            .post(&event.url)
            .header("Content-Type", "application/json")
            .header("X-Sesame-Timestamp", timestamp.to_string())
            .header(
                "X-Sesame-Signature",
                signature(&secret, timestamp, &event.body),
            )
            .header("X-Sesame-Event-Id", event.id.to_string())
            .body(event.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered HTTP {}", status.as_u16()))
        }
    }
}

/// A request error with its causes (reqwest's own text is often just "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"whsec_test", b'1700000000.{"event":"delivered"}',
        //                  hashlib.sha256).hexdigest()
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"event":"delivered"}"#),
            "v1=c67c56205dc7bc11756ba99637a8aec7647e01861dbd99bea6427ded8c9117e2"
        );
    }

    #[test]
    fn user_agent_names_the_version() {
        assert!(USER_AGENT.starts_with("Sesame-Webhook/0."));
    }
}
