//! `sesame serve`: takes the store's lock (SQLite), opens storage, binds every listener (the
//! API with the console and the operator endpoints, SMTP submission, inbound SMTP), prints
//! `sesame ready`, runs the workers (re-checks, delivery queue, webhooks, batch tasks,
//! retention) until SIGTERM or SIGINT, then stops accepting, lets in-flight work finish and
//! exits 0.

use std::sync::Arc;

use anyhow::Context;
use sesame_api::App;
use sesame_core::Config;
use sesame_core::config::SqliteSynchronous;
use sesame_engine::delivery::{DeliveryConfig, MxResolver};
use sesame_engine::queue::{QueueSettings, Worker};
use sesame_engine::verify::DnsChecker;
use sesame_smtp::Role;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub async fn run(config: Arc<Config>) -> anyhow::Result<()> {
    init_logging(&config.log)?;
    // Held until exit: one server per SQLite file, and no restore under a running server.
    let _lock = crate::backup::lock_store(&config)?;
    let store = crate::cli::open_store(&config).await?;
    tracing::info!(backend = store.backend_name(), "storage open");
    let dns = DnsChecker::new(&config.dns.nameservers).context("setting up the DNS resolver")?;

    // Bind first, then announce readiness (zero2prod's build-then-run split).
    let api_listener = bind(config.api.listen, "API").await?;
    let submission_listener = bind(config.smtp.listen, "SMTP submission").await?;
    let tls_listener = match config.smtp.tls_listen {
        Some(address) => Some(bind(address, "SMTP implicit-TLS submission").await?),
        None => None,
    };
    let inbound_listener = bind(config.inbound.listen, "inbound SMTP").await?;

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    // Work no caller waits on runs on its own runtime, below intake's priority.
    let background =
        sesame_engine::cpu::background_runtime().context("starting the background runtime")?;
    let queue_wakeup = Arc::new(tokio::sync::Notify::new());
    let app = Arc::new(App::new(
        store.clone(),
        config.clone(),
        dns.clone(),
        queue_wakeup.clone(),
    ));
    let worker = delivery_worker(
        &config,
        store.clone(),
        app.submit_settings.clone(),
        queue_wakeup.clone(),
    )?;
    let scheduler = sesame_engine::bulk::Scheduler::new(
        store.clone(),
        app.submit_settings.clone(),
        sesame_engine::bulk::BulkSettings {
            tick: config.bulk.tick,
            cycle_unit: config.bulk.cycle_unit,
            chunk: config.bulk.chunk,
            mail_rate: config.sending.mail_rate,
        },
        app.bulk_wakeup.clone(),
        queue_wakeup.clone(),
    );
    let webhooks = sesame_engine::webhooks::WebhookWorker::new(
        store.clone(),
        sesame_engine::webhooks::WebhookSettings::from(&config.events),
    )
    .map_err(|e| anyhow::anyhow!("setting up the webhook HTTP client: {e}"))?;
    let smtp = Arc::new(sesame_smtp::Service {
        store: store.clone(),
        config: config.clone(),
        tls: sesame_smtp::tls::acceptor(
            config.smtp.tls_cert.as_deref(),
            config.smtp.tls_key.as_deref(),
            &config.delivery.helo_name,
        )?,
        submit: app.submit_settings.clone(),
        inbound: sesame_engine::inbound::InboundSettings::new(
            &store,
            &config.sending.return_path_domain,
        ),
        throttle: sesame_smtp::auth::throttle(),
        queue_wakeup,
    });

    let ready = app.clone();
    tracker.spawn({
        let cancel = cancel.clone();
        async move {
            if let Err(e) = sesame_console::serve(api_listener, app, cancel.clone()).await {
                tracing::error!(error = %e, "API listener failed");
                cancel.cancel();
            }
        }
    });
    tracker.spawn(sesame_smtp::serve(
        submission_listener,
        smtp.clone(),
        Role::Submission,
        false,
        cancel.clone(),
    ));
    if let Some(listener) = tls_listener {
        tracker.spawn(sesame_smtp::serve(
            listener,
            smtp.clone(),
            Role::Submission,
            true,
            cancel.clone(),
        ));
    }
    tracker.spawn(sesame_smtp::serve(
        inbound_listener,
        smtp,
        Role::Inbound,
        false,
        cancel.clone(),
    ));
    let bg = background.handle();
    tracker.spawn_on(
        sesame_engine::identity::run_rechecks(
            store.clone(),
            dns,
            sesame_engine::identity::record_settings(&config.sending),
            config.sending.recheck_interval,
            cancel.clone(),
        ),
        bg,
    );
    tracker.spawn_on(worker.run(cancel.clone()), bg);
    // Batch tasks feed the same queue, through the submit pipeline, as bulk mail.
    tracker.spawn_on(scheduler.run(cancel.clone()), bg);
    // Its own task: a slow callback receiver never holds up mail delivery.
    tracker.spawn_on(webhooks.run(cancel.clone()), bg);
    tracker.spawn_on(
        sesame_engine::retention::run(store.clone(), config.retention.clone(), cancel.clone()),
        bg,
    );
    let mut wal_flusher = None;
    if let Some(keeper) = store.wal_keeper() {
        tracker.spawn(keep_wal(keeper, cancel.clone()));
        if config.storage.sqlite_synchronous == SqliteSynchronous::Normal {
            wal_flusher = Some(flush_wal(store.clone(), cancel.clone())?);
        }
    }
    tracker.close();

    tracing::info!(
        api = %config.api.listen,
        smtp = %config.smtp.listen,
        smtp_tls = ?config.smtp.tls_listen,
        inbound = %config.inbound.listen,
        "listening"
    );
    // The worker is spawned: its silence is measured from now.
    sesame_core::metrics::get().queue_alive(sesame_core::time::now_unix());
    ready.mark_started();
    eprintln!("sesame ready");

    shutdown_signal(&cancel).await;
    tracing::info!("shutting down: finishing in-flight work");
    cancel.cancel();
    tracker.wait().await;
    if let Some(flusher) = wal_flusher
        && flusher.join().is_err()
    {
        tracing::error!("the WAL flusher thread panicked");
    }
    // The store closes while the runtime its connections may have been opened on still runs.
    store.close().await;
    background.shutdown_background();
    tracing::info!("stopped");
    Ok(())
}

async fn bind(
    address: std::net::SocketAddr,
    what: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the {what} listener on {address}"))
}

/// The queue worker, configured from `[delivery]`, `[dns]` and `[sending]`.
fn delivery_worker(
    config: &Config,
    store: sesame_store::Store,
    submit: sesame_engine::submit::SubmitSettings,
    wakeup: Arc<tokio::sync::Notify>,
) -> anyhow::Result<Worker> {
    let resolver = MxResolver::new(&config.dns.nameservers)
        .map_err(|e| anyhow::anyhow!("setting up the MX resolver: {e}"))?;
    let delivery = DeliveryConfig {
        helo_name: config.delivery.helo_name.clone(),
        port: config.delivery.port,
        relay: config.delivery.relay,
        ..DeliveryConfig::default()
    };
    let settings = QueueSettings {
        retry_schedule: config.delivery.retry_schedule.clone(),
        max_queue_lifetime: config.delivery.max_queue_lifetime,
        lease: std::time::Duration::from_secs(20),
        batch: 200,
        concurrency: 32,
        return_path_domain: config.sending.return_path_domain.clone(),
    };
    // Batch tasks' copies are rendered and signed by the worker (same keys and links).
    Ok(Worker::new(
        store, resolver, delivery, settings, submit, wakeup,
    ))
}

/// Waits for SIGTERM, SIGINT, or an internal failure that cancelled `cancel`.
async fn shutdown_signal(cancel: &CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = cancel.cancelled() => {}
    }
}

/// Log lines go to stderr, as text or JSON (`[log] format`); `SESAME_LOG` overrides the
/// configured filter.
fn init_logging(log: &sesame_core::config::LogConfig) -> anyhow::Result<()> {
    let filter = match tracing_subscriber::EnvFilter::try_from_env("SESAME_LOG") {
        Ok(filter) => filter,
        Err(_) => tracing_subscriber::EnvFilter::try_new(&log.level)
            .with_context(|| format!("key `log.level`: {:?} is not a tracing filter", log.level))?,
    };
    // Colours only for a person at a terminal: files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    match log.format {
        sesame_core::config::LogFormat::Text => builder.init(),
        sesame_core::config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    Ok(())
}

/// How often `flush_wal` writes the SQLite log to the disk.
const WAL_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Syncs the SQLite write-ahead log to the disk every `WAL_FLUSH_EVERY` (`Store::sync_wal`),
/// on a thread of its own: an fsync blocks, and a slow one must hold up nothing else. The
/// thread is made here, on the main thread, so it keeps the main threads' priority.
fn flush_wal(
    store: sesame_store::Store,
    cancel: CancellationToken,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sesame-wal-sync".into())
        .spawn(move || {
            let mut warned = false;
            while !cancel.is_cancelled() {
                std::thread::sleep(WAL_FLUSH_EVERY);
                match store.sync_wal() {
                    Ok(_) => warned = false,
                    // Once per run of failures: SQLite's own syncs still happen.
                    Err(e) if !warned => {
                        tracing::warn!(error = %e, "could not sync the SQLite WAL");
                        warned = true;
                    }
                    Err(_) => {}
                }
            }
        })
        .context("starting the WAL flusher thread")
}

/// Keeps the SQLite write-ahead log short: a `WalKeeper` round every second (it copies the
/// log back into the database file and starts it over itself, so no commit ever does).
async fn keep_wal(mut keeper: sesame_store::WalKeeper, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        if let Err(e) = keeper.round().await {
            // The log is left unpinned: until the next round, SQLite's commits copy it back
            // (past 40 000 frames) and start it over themselves.
            tracing::warn!(error = %e, "keeping the SQLite WAL failed; trying again in a second");
        }
    }
    keeper.close().await;
}
