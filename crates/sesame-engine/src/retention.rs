//! The retention job: every `[retention] interval` it empties old message bodies and
//! deletes old messages (with their statuses), complaint reports, stale callback events,
//! daily statistics and expired black-list entries, in batches of `[retention] batch` rows
//! with a pause between them, so the store stays bounded without stalling live traffic.

use std::time::Duration;

use sesame_core::config::RetentionConfig;
use sesame_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

/// The pause between two batches: writers waiting on the store get their turn.
const PAUSE: Duration = Duration::from_millis(20);

/// What one run removed, per kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub bodies: u64,
    pub messages: u64,
    pub events: u64,
    pub statistics: u64,
    pub black_list: u64,
}

impl Purged {
    fn total(&self) -> u64 {
        self.bodies + self.messages + self.events + self.statistics + self.black_list
    }
}

/// One run of every purge, each until nothing old is left or `cancel` fires.
pub async fn purge_once(
    store: &Store,
    settings: &RetentionConfig,
    now: i64,
    cancel: &CancellationToken,
) -> Result<Purged, StoreError> {
    let before = |keep: Duration| now - keep.as_secs() as i64;
    let batch = settings.batch;
    let m = sesame_core::metrics::get();
    let purged = Purged {
        bodies: drain(cancel, "bodies", batch, || {
            store.purge_bodies(before(settings.bodies), batch)
        })
        .await?,
        messages: drain(cancel, "messages", batch, || {
            store.purge_messages(before(settings.messages), batch)
        })
        .await?
            + drain(cancel, "snapshots", batch, || {
                store.purge_snapshots(before(settings.messages), batch)
            })
            .await?,
        events: drain(cancel, "events", batch, || {
            store.purge_events(before(settings.events), batch)
        })
        .await?,
        statistics: drain(cancel, "statistics", batch, || {
            store.purge_statistics(before(settings.statistics), batch)
        })
        .await?,
        black_list: drain(cancel, "black_list", batch, || {
            store.purge_expired_black_list(now, batch)
        })
        .await?,
    };
    for (kind, n) in [
        ("bodies", purged.bodies),
        ("messages", purged.messages),
        ("events", purged.events),
        ("statistics", purged.statistics),
        ("black_list", purged.black_list),
    ] {
        if n > 0 {
            m.retention_purged
                .get_or_create(&sesame_core::metrics::ResultLabels { result: kind })
                .inc_by(n);
        }
    }
    Ok(purged)
}

/// Calls `step` (one batch) until it removes fewer than a full batch.
async fn drain<F, Fut>(
    cancel: &CancellationToken,
    kind: &'static str,
    batch: u32,
    mut step: F,
) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let started = std::time::Instant::now();
        let n = step().await?;
        sesame_core::metrics::get().storage("retention", started.elapsed());
        total += n;
        if n < u64::from(batch) || cancel.is_cancelled() {
            if n > 0 {
                tracing::debug!(kind, total, "retention batch done");
            }
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Runs [`purge_once`] every `settings.interval` (the first run shortly after start) until
/// `cancel` fires.
pub async fn run(store: Store, settings: RetentionConfig, cancel: CancellationToken) {
    let mut wait = Duration::from_secs(5).min(settings.interval);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = settings.interval;
        let now = sesame_core::time::now_unix();
        match purge_once(&store, &settings, now, &cancel).await {
            Ok(purged) if purged.total() > 0 => tracing::info!(
                bodies = purged.bodies,
                messages = purged.messages,
                events = purged.events,
                statistics = purged.statistics,
                black_list = purged.black_list,
                "retention: purged old data"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "retention run failed; will try again"),
        }
    }
}
