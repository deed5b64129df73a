//! The queue worker: leases due deliveries, groups them by recipient domain, delivers each
//! group over one SMTP connection (`delivery::deliver_batch`) and records every outcome.
//! Never holds a transaction across network I/O: lease in one statement, deliver, record
//! each attempt in another (which also queues the attempt's event and bumps the statistics).
//! A worker that dies leaves leases that expire; a worker told to stop hands its leases back.
//!
//! A message from SendEmail or SMTP is stored unsigned (`sign_domain`): each pass signs each
//! of its bodies once (`submit::sign_at_delivery`, on `cpu`'s background threads) before
//! sending. A batch task's recipient copy is queued without a body: at its first lease the
//! worker renders, builds and signs it from the task's frozen snapshot
//! (`submit::render_pending`, on the same threads) and stores the signed bytes before sending
//! them, so every later try sends the same bytes. A copy that cannot be built or signed (its
//! domain or DKIM key is gone) is recorded as dropped, not retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sesame_store::ip_pools::PoolScope;
use sesame_store::queue::{Attempt, LeasedDelivery};
use sesame_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::delivery::classify::Outcome;
use crate::delivery::{DeliveryConfig, MxResolver, OutboundMessage, Rotations, deliver_batch_from};
use crate::sending_ips::SendingIps;
use crate::submit::{self, NotSigned, RenderJob, SubmitError, SubmitSettings};

/// How long a hard-bounced address stays on the black list.
pub const BLACK_LIST_DAYS: i64 = 14;

/// Label of the return-path sub-key (see `Store::derive_key`).
pub const RETURN_PATH_KEY_LABEL: &str = "return-path";

/// Tunables of the worker.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub retry_schedule: Vec<Duration>,
    pub max_queue_lifetime: Duration,
    /// How long a lease lasts without renewal; the worker renews it while it delivers, so a
    /// crashed worker's deliveries are due again after at most this long.
    pub lease: Duration,
    /// Deliveries leased per pass.
    pub batch: i64,
    /// Destination domains delivered to at once.
    pub concurrency: usize,
    pub return_path_domain: String,
}

/// One delivery worker of this process.
pub struct Worker {
    store: Store,
    resolver: MxResolver,
    delivery: DeliveryConfig,
    settings: QueueSettings,
    /// Lease owner: unique per process run.
    owner: String,
    return_path_secret: [u8; 32],
    wakeup: Arc<Notify>,
    /// Round-robin turns of the dedicated sending-IP pools, kept across passes.
    rotations: Rotations<PoolScope>,
    /// Renders and signs batch tasks' copies (the DKIM keys, the link signer).
    submit: SubmitSettings,
    /// The deliveries each pass in flight holds (at most two: one sending, one being
    /// prepared), by pass number, for the heartbeat.
    held: std::sync::Mutex<HashMap<u64, Held>>,
    /// The number of the next pass.
    passes: std::sync::atomic::AtomicU64,
}

/// A pass's leased deliveries, and when their leases were last set.
struct Held {
    since: std::time::Instant,
    ids: Vec<i64>,
}

/// Removes its pass from `Worker::held` when the pass ends, however it ends.
struct Holding<'a> {
    held: &'a std::sync::Mutex<HashMap<u64, Held>>,
    pass: u64,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.pass);
    }
}

/// A pass ready to send: its deliveries leased, grouped per connection, their bodies read
/// and signed (`Worker::prepare`). Dropping it before `Worker::send` sends nothing; its
/// leases are handed back at shutdown or expire.
struct Pass<'a> {
    leased: usize,
    sending_ips: SendingIps,
    /// One destination's deliveries per connection, with their source pool.
    parts: Vec<(String, Option<PoolScope>, Vec<LeasedDelivery>)>,
    bodies: HashMap<i64, Arc<[u8]>>,
    own_bodies: HashMap<i64, Arc<[u8]>>,
    _holding: Holding<'a>,
}

impl Worker {
    pub fn new(
        store: Store,
        resolver: MxResolver,
        delivery: DeliveryConfig,
        settings: QueueSettings,
        submit: SubmitSettings,
        wakeup: Arc<Notify>,
    ) -> Worker {
        let owner = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let return_path_secret = store.derive_key(RETURN_PATH_KEY_LABEL);
        Worker {
            store,
            resolver,
            delivery,
            settings,
            owner,
            return_path_secret,
            wakeup,
            rotations: Rotations::new(),
            submit,
            held: std::sync::Mutex::new(HashMap::new()),
            passes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// One pass: lease what is due, deliver it, record it. Returns how many deliveries were
    /// attempted.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        match self.prepare().await? {
            Some(pass) => self.send(pass).await,
            None => Ok(0),
        }
    }

    /// The first half of a pass: leases what is due, reads and signs the bodies, and groups
    /// the deliveries per connection. `None` when nothing is due. `run` prepares the next
    /// pass while the previous one sends, so signing (CPU) and sending (network, the
    /// recording of outcomes) overlap.
    async fn prepare(&self) -> Result<Option<Pass<'_>>, StoreError> {
        let now = sesame_core::time::now_unix();
        let lease_until = now + self.settings.lease.as_secs() as i64;
        let started = std::time::Instant::now();
        let leased = self
            .store
            .lease_due(&self.owner, now, lease_until, self.settings.batch)
            .await?;
        sesame_core::metrics::get().storage("lease", started.elapsed());
        if leased.is_empty() {
            return Ok(None);
        }
        let n = leased.len();
        let pass = self
            .passes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(
            pass,
            Held {
                // Taken before the lease was: no later than the lease's own start.
                since: started,
                ids: leased.iter().map(|d| d.id).collect(),
            },
        );
        let holding = Holding {
            held: &self.held,
            pass,
        };
        // Grouped by destination domain and by source pool: a connection bound to one
        // account's dedicated address never carries another's mail.
        let sending_ips = SendingIps::resolve(&self.store, &self.rotations, &leased).await?;
        let mut bodies: HashMap<i64, Arc<[u8]>> = HashMap::new();
        let mut groups: HashMap<(String, Option<PoolScope>), Vec<LeasedDelivery>> = HashMap::new();
        // A personalised delivery (its own tracking links) has its own copy.
        let mut own_bodies: HashMap<i64, Arc<[u8]>> = HashMap::new();
        // Batch tasks' copies still to render: rendered, signed and stored before sending.
        let mut unsendable = self.render(&leased, &mut bodies).await?;
        // Every body the pass sends, read in a few statements.
        let own: Vec<i64> = leased
            .iter()
            .filter(|d| d.own_body && !unsendable.contains(&d.id))
            .map(|d| d.id)
            .collect();
        for (id, body) in self.store.delivery_bodies(&own).await? {
            own_bodies.insert(id, Arc::from(body));
        }
        let mut shared: Vec<i64> = leased
            .iter()
            .filter(|d| !d.own_body && !bodies.contains_key(&d.message_row))
            .map(|d| d.message_row)
            .collect();
        shared.sort_unstable();
        shared.dedup();
        for (row, body) in self.store.message_bodies(&shared).await? {
            // Never an empty body: a copy still to render that was not rendered in this
            // pass waits for its lease to expire and is tried again.
            if !body.is_empty() {
                bodies.insert(row, Arc::from(body));
            }
        }
        // Messages stored unsigned: signed for this attempt, once per body.
        self.sign(&leased, &mut bodies, &mut own_bodies, &mut unsendable)
            .await?;
        for delivery in leased {
            if unsendable.contains(&delivery.id) {
                continue;
            }
            let has_body = if delivery.own_body {
                own_bodies.contains_key(&delivery.id)
            } else {
                bodies.contains_key(&delivery.message_row)
            };
            if !has_body {
                continue;
            }
            groups
                .entry((
                    delivery.recipient_domain.clone(),
                    sending_ips.scope_of(&delivery),
                ))
                .or_default()
                .push(delivery);
        }
        let parts = groups
            .into_iter()
            .flat_map(|((domain, scope), deliveries)| {
                connections_for(deliveries)
                    .into_iter()
                    .map(move |part| (domain.clone(), scope, part))
            })
            .collect();
        Ok(Some(Pass {
            leased: n,
            sending_ips,
            parts,
            bodies,
            own_bodies,
            _holding: holding,
        }))
    }

    /// The second half of a pass: sends each connection's deliveries, at most `concurrency`
    /// connections at once, and records every outcome. Returns how many deliveries were
    /// leased.
    async fn send(&self, pass: Pass<'_>) -> Result<usize, StoreError> {
        let Pass {
            leased: n,
            sending_ips,
            parts,
            bodies,
            own_bodies,
            _holding,
        } = pass;
        let semaphore = Arc::new(tokio::sync::Semaphore::new(
            self.settings.concurrency.max(1),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for (domain, scope, deliveries) in parts {
            let source = sending_ips.source(scope);
            let messages: Vec<OutboundMessage> = deliveries
                .iter()
                .map(|d| OutboundMessage {
                    mail_from: sesame_mail::return_path::encode(
                        d.id,
                        &self.return_path_secret,
                        &self.settings.return_path_domain,
                    ),
                    recipients: vec![d.recipient.clone()],
                    body: own_bodies
                        .get(&d.id)
                        .unwrap_or_else(|| &bodies[&d.message_row])
                        .clone(),
                })
                .collect();
            let permit = semaphore
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let resolver = self.resolver.clone();
            let config = self.delivery.clone();
            tasks.spawn(async move {
                let outcomes =
                    deliver_batch_from(&resolver, &config, &domain, &source, &messages).await;
                drop(permit);
                (deliveries, outcomes)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let Ok((deliveries, outcomes)) = joined else {
                tracing::error!("a delivery task panicked; its leases will expire and be retried");
                continue;
            };
            let mut attempts = Vec::with_capacity(deliveries.len());
            for (delivery, per_message) in deliveries.iter().zip(outcomes) {
                let outcome = per_message
                    .into_iter()
                    .next()
                    .map(|(_, o)| o)
                    .unwrap_or_else(|| Outcome::Deferred("no outcome reported".into()));
                attempts.push((delivery, self.attempt_of(delivery, outcome).await?));
            }
            self.record_attempts(&attempts).await?;
        }
        Ok(n)
    }

    /// Renders, signs and stores the leased batch copies still to render (`to_render`), and
    /// puts each one's stored bytes in `bodies`. A copy that cannot be built is recorded
    /// (dropped; deferred for a storage failure) and its delivery id returned: it is not sent
    /// in this pass.
    async fn render(
        &self,
        leased: &[LeasedDelivery],
        bodies: &mut HashMap<i64, Arc<[u8]>>,
    ) -> Result<std::collections::HashSet<i64>, StoreError> {
        let mut unsendable = std::collections::HashSet::new();
        let to_render: Vec<&LeasedDelivery> = leased.iter().filter(|d| d.to_render).collect();
        if to_render.is_empty() {
            return Ok(unsendable);
        }
        let started = std::time::Instant::now();
        let rows: Vec<i64> = to_render.iter().map(|d| d.message_row).collect();
        let pending = self.store.pending_renders(&rows).await?;
        let recipient_of: HashMap<i64, &str> = to_render
            .iter()
            .map(|d| (d.message_row, d.recipient.as_str()))
            .collect();
        let jobs: Vec<RenderJob> = pending
            .into_iter()
            .filter_map(|pending| {
                let recipient = recipient_of.get(&pending.message_row)?.to_string();
                Some(RenderJob { pending, recipient })
            })
            .collect();
        let n_jobs = jobs.len();
        let built = submit::render_pending(&self.store, &self.submit, jobs).await;
        let mut signed: Vec<(i64, Vec<u8>)> = Vec::with_capacity(built.len());
        let mut failed: HashMap<i64, SubmitError> = HashMap::new();
        for (row, result) in built {
            match result {
                Ok(body) => signed.push((row, body)),
                Err(e) => {
                    failed.insert(row, e);
                }
            }
        }
        let stored: std::collections::HashSet<i64> = self
            .store
            .store_rendered(&signed)
            .await?
            .into_iter()
            .collect();
        for (row, body) in signed {
            if stored.contains(&row) {
                bodies.insert(row, Arc::from(body));
            }
            // Otherwise another worker stored its copy first: that one is read and sent.
        }
        tracing::debug!(
            n = n_jobs,
            failed = failed.len(),
            ms = started.elapsed().as_millis() as u64,
            "batch copies rendered"
        );
        for delivery in to_render {
            let Some(e) = failed.remove(&delivery.message_row) else {
                continue;
            };
            unsendable.insert(delivery.id);
            let passing = matches!(e, SubmitError::Store(_));
            self.not_built(delivery, "built", passing, e.to_string())
                .await?;
        }
        Ok(unsendable)
    }

    /// Signs the leased copies stored unsigned (`sign_domain`) for this attempt, once per
    /// body, and puts the signed bytes in `bodies` (a message's) or `own_bodies` (a
    /// delivery's own copy). A copy that cannot be signed is recorded (dropped; deferred for
    /// a storage failure) and its delivery added to `unsendable`: it is not sent in this pass.
    async fn sign(
        &self,
        leased: &[LeasedDelivery],
        bodies: &mut HashMap<i64, Arc<[u8]>>,
        own_bodies: &mut HashMap<i64, Arc<[u8]>>,
        unsendable: &mut std::collections::HashSet<i64>,
    ) -> Result<(), StoreError> {
        /// Which body a delivery sends: its message's or its own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        enum Copy {
            Shared(i64),
            Own(i64),
        }
        let copy_of = |d: &LeasedDelivery| {
            if d.own_body {
                Copy::Own(d.id)
            } else {
                Copy::Shared(d.message_row)
            }
        };
        let to_sign: Vec<&LeasedDelivery> = leased
            .iter()
            .filter(|d| d.sign_domain.is_some() && !unsendable.contains(&d.id))
            .collect();
        let mut copies = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for d in &to_sign {
            let copy = copy_of(d);
            let body = match copy {
                Copy::Own(id) => own_bodies.get(&id),
                Copy::Shared(row) => bodies.get(&row),
            };
            if let (Some(body), Some(domain)) = (body, d.sign_domain)
                && seen.insert(copy)
            {
                copies.push((copy, domain, body.clone()));
            }
        }
        if copies.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let n = copies.len();
        let mut failed: HashMap<Copy, NotSigned> = HashMap::new();
        for (copy, result) in submit::sign_at_delivery(&self.store, &self.submit, copies).await {
            match (copy, result) {
                (Copy::Shared(row), Ok(signed)) => {
                    bodies.insert(row, Arc::from(signed));
                }
                (Copy::Own(id), Ok(signed)) => {
                    own_bodies.insert(id, Arc::from(signed));
                }
                (copy, Err(e)) => {
                    failed.insert(copy, e);
                }
            }
            seen.remove(&copy);
        }
        tracing::debug!(
            n,
            failed = failed.len(),
            ms = started.elapsed().as_millis() as u64,
            "messages signed"
        );
        for delivery in to_sign {
            let copy = copy_of(delivery);
            // Neither signed nor failed: a body not read (sent in no pass), or a signing
            // part that panicked (deferred below).
            let (passing, why) = match failed.get(&copy) {
                Some(NotSigned::Passing(why)) => (true, why.clone()),
                Some(NotSigned::Final(why)) => (false, why.clone()),
                None if seen.contains(&copy) => (true, "signing failed".to_string()),
                None => continue,
            };
            unsendable.insert(delivery.id);
            self.not_built(delivery, "signed", passing, why).await?;
        }
        Ok(())
    }

    /// Records a copy that could not be `step` (rendered, signed) for this attempt: deferred
    /// when the cause passes (storage), dropped when it is final.
    async fn not_built(
        &self,
        delivery: &LeasedDelivery,
        step: &str,
        passing: bool,
        why: String,
    ) -> Result<(), StoreError> {
        if passing {
            tracing::warn!(message_id = %delivery.message_id, error = %why, "message not {step}; deferred");
            let reason = format!("the message could not be {step} yet: {why}");
            self.record(delivery, Outcome::Deferred(reason)).await
        } else {
            tracing::warn!(message_id = %delivery.message_id, recipient = %delivery.recipient, error = %why, "message cannot be {step}; dropped");
            let reason = format!("not sent: the message could not be {step}: {why}");
            self.record_attempt(delivery, Attempt::Unsendable { reason })
                .await
        }
    }

    /// Checks every third of the lease time, until cancelled, whether each pass in flight has
    /// held its leases that long, and renews them then (by id), so a long delivery keeps its
    /// rows while a crashed worker's rows come back within one lease. A lease is renewed
    /// before two thirds of it have passed; most passes end before their first renewal.
    async fn heartbeat(&self, cancel: CancellationToken) {
        let period = (self.settings.lease / 3).max(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            let due: Vec<(u64, Vec<i64>)> = self
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(_, held)| held.since.elapsed() >= period)
                .map(|(pass, held)| (*pass, held.ids.clone()))
                .collect();
            for (pass, ids) in due {
                let renewed_at = std::time::Instant::now();
                let until = sesame_core::time::now_unix() + self.settings.lease.as_secs() as i64;
                match self.store.renew_leases(&self.owner, &ids, until).await {
                    Ok(_) => {
                        if let Some(held) = self
                            .held
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_mut(&pass)
                        {
                            held.since = renewed_at;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not renew delivery leases"),
                }
            }
        }
    }

    async fn record(&self, delivery: &LeasedDelivery, outcome: Outcome) -> Result<(), StoreError> {
        let attempt = self.attempt_of(delivery, outcome).await?;
        self.record_attempt(delivery, attempt).await
    }

    /// What `outcome` makes of a delivery: delivered, deferred to its next retry or expired,
    /// bounced (a hard bounce black-lists the address now).
    async fn attempt_of(
        &self,
        delivery: &LeasedDelivery,
        outcome: Outcome,
    ) -> Result<Attempt, StoreError> {
        let now = sesame_core::time::now_unix();
        let attempt = match outcome {
            Outcome::Delivered(reply) => Attempt::Delivered {
                reply: reply.to_string(),
            },
            Outcome::Deferred(reason) => {
                let age = now - delivery.created_at;
                if age >= self.settings.max_queue_lifetime.as_secs() as i64 {
                    Attempt::Expired {
                        reason: format!("gave up after {age}s in the queue: {reason}"),
                    }
                } else {
                    let step = (delivery.n_attempts as usize)
                        .min(self.settings.retry_schedule.len().saturating_sub(1));
                    let wait = self
                        .settings
                        .retry_schedule
                        .get(step)
                        .copied()
                        .unwrap_or(Duration::from_secs(60));
                    Attempt::Deferred {
                        reason,
                        retry_at: now + wait.as_secs().max(1) as i64,
                    }
                }
            }
            Outcome::Bounced { reason, hard } => {
                if hard {
                    let until = now + BLACK_LIST_DAYS * 86_400;
                    self.store
                        .add_black(
                            delivery.account_id,
                            &delivery.recipient,
                            &reason,
                            now,
                            until,
                        )
                        .await?;
                }
                Attempt::Bounced { reason, hard }
            }
        };
        Ok(attempt)
    }

    /// Records `attempt` of a leased delivery, its metric and its log line.
    async fn record_attempt(
        &self,
        delivery: &LeasedDelivery,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        self.record_attempts(&[(delivery, attempt)]).await
    }

    /// Records the attempts of leased deliveries (one connection's) in one transaction, with
    /// their metrics and log lines.
    async fn record_attempts(
        &self,
        attempts: &[(&LeasedDelivery, Attempt)],
    ) -> Result<(), StoreError> {
        let now = sesame_core::time::now_unix();
        let started = std::time::Instant::now();
        let rows: Vec<(i64, &Attempt)> = attempts.iter().map(|(d, a)| (d.id, a)).collect();
        let kept = self.store.record_attempts(&self.owner, &rows, now).await?;
        let m = sesame_core::metrics::get();
        m.storage("record", started.elapsed());
        m.queue_alive(now);
        for ((delivery, attempt), kept) in attempts.iter().zip(kept) {
            log_attempt(delivery, attempt, kept);
        }
        Ok(())
    }
    /// Runs passes until cancelled: immediately while there is work, otherwise on a wake-up
    /// (a new message) or every second. While one pass sends, the next one is prepared
    /// (leased, signed), so the CPU work of one overlaps the network work of the other; the
    /// sends themselves never overlap, so the caps per destination hold. On cancel, the pass
    /// sending finishes and records its outcomes; a pass only prepared is dropped and its
    /// leases handed back (nothing of it was sent).
    pub async fn run(self, cancel: CancellationToken) {
        // One `sesame serve` per SQLite file: leases found at start belong to a process that
        // died (kill -9, power loss), so its deliveries are due again now rather than when
        // the leases expire. With PostgreSQL other live processes may hold leases: those
        // expire on their own, as they are short and renewed while in use.
        if self.store.backend_name() == "sqlite" {
            match self.store.release_all_leases().await {
                Ok(n) if n > 0 => tracing::info!(n, "took back deliveries leased before a crash"),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "could not clear stale leases; they will expire")
                }
            }
        }
        let heartbeat = self.heartbeat(cancel.clone());
        tokio::pin!(heartbeat);
        let mut heartbeat_done = false;
        // The pass prepared while the previous one sent.
        let mut next: Option<Pass<'_>> = None;
        loop {
            sesame_core::metrics::get().queue_alive(sesame_core::time::now_unix());
            if cancel.is_cancelled() {
                break;
            }
            let ready = match next.take() {
                Some(pass) => Ok(Some(pass)),
                None => alongside(self.prepare(), &mut heartbeat, &mut heartbeat_done).await,
            };
            if heartbeat_done {
                break;
            }
            let pass = match ready {
                Ok(Some(pass)) => pass,
                Ok(None) => {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = &mut heartbeat => break,
                        _ = self.wakeup.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "queue pass failed");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = &mut heartbeat => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            };
            // A pass sending at shutdown finishes and records its outcomes: dropping it would
            // hand back deliveries the remote side already accepted, and they would be sent
            // again after the restart.
            let (sent, prepared) = alongside(
                async { tokio::join!(self.send(pass), self.prepare()) },
                &mut heartbeat,
                &mut heartbeat_done,
            )
            .await;
            if let Err(e) = sent {
                tracing::error!(error = %e, "queue pass failed");
            }
            match prepared {
                Ok(pass) => next = pass,
                Err(e) => tracing::error!(error = %e, "queue pass failed"),
            }
            if heartbeat_done {
                break;
            }
        }
        // Its leases are handed back just below.
        drop(next);
        match self.store.release_leases(&self.owner).await {
            Ok(n) if n > 0 => tracing::info!(n, "handed back leased deliveries"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not hand back leases; they will expire"),
        }
    }
}

/// Runs `work` to its end while the heartbeat goes on beside it; `done` is set when the
/// heartbeat ended (cancelled) meanwhile.
async fn alongside<T>(
    work: impl std::future::Future<Output = T>,
    heartbeat: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    done: &mut bool,
) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = heartbeat.as_mut(), if !*done => *done = true,
        }
    }
}

/// Connections one pass opens to a destination at most (Postfix's default limit is 20).
const CONNECTIONS_PER_DESTINATION: usize = 8;
/// The fewest messages that earn a connection of their own: a small group shares one.
const MESSAGES_PER_CONNECTION: usize = 10;

/// Splits one destination's deliveries of a pass over its connections: a large group goes
/// out in parallel, as evenly as it divides, instead of queueing behind one connection.
fn connections_for<T>(mut deliveries: Vec<T>) -> Vec<Vec<T>> {
    let n = deliveries
        .len()
        .div_ceil(MESSAGES_PER_CONNECTION)
        .clamp(1, CONNECTIONS_PER_DESTINATION);
    let size = deliveries.len().div_ceil(n).max(1);
    let mut parts = Vec::with_capacity(n);
    while deliveries.len() > size {
        let rest = deliveries.split_off(size);
        parts.push(std::mem::replace(&mut deliveries, rest));
    }
    parts.push(deliveries);
    parts
}

/// The metric and the log line of one recorded attempt.
fn log_attempt(delivery: &LeasedDelivery, attempt: &Attempt, kept: bool) {
    let m = sesame_core::metrics::get();
    let (result, detail) = match attempt {
        Attempt::Delivered { reply } => ("delivered", reply.as_str()),
        Attempt::Deferred { reason, .. } => ("deferred", reason.as_str()),
        Attempt::Expired { reason } | Attempt::Unsendable { reason } => {
            ("dropped", reason.as_str())
        }
        Attempt::Bounced { reason, .. } => ("bounced", reason.as_str()),
    };
    m.delivery(result);
    // One line per delivery attempt: an operator follows a message by its MessageId.
    tracing::info!(
        message_id = %delivery.message_id,
        delivery = delivery.id,
        recipient = %delivery.recipient,
        attempt = delivery.n_attempts + 1,
        result,
        detail,
        "delivery"
    );
    if !kept {
        tracing::warn!(
            delivery = delivery.id,
            "lease lost before the outcome was recorded"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::connections_for;

    #[test]
    fn large_groups_spread_over_connections() {
        let sizes = |n: usize| -> Vec<usize> {
            connections_for((0..n).collect::<Vec<_>>())
                .iter()
                .map(Vec::len)
                .collect()
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(10), [10]);
        assert_eq!(sizes(11), [6, 5]);
        assert_eq!(sizes(35), [9, 9, 9, 8]);
        assert_eq!(sizes(200), [25; 8]);
        assert_eq!(sizes(201), [26, 26, 26, 26, 26, 26, 26, 19]);
        // Nothing lost or repeated, order kept.
        let parts = connections_for((0..57).collect::<Vec<_>>());
        assert_eq!(parts.concat(), (0..57).collect::<Vec<_>>());
    }
}
