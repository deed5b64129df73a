//! The batch task scheduler: takes due tasks (BatchSendEmail) one chunk at a time and fans
//! their recipients out into the durable queue through the submit pipeline, one message per
//! recipient (each sees only themselves), rendered with the task's TemplateData overridden by
//! the recipient's own, as bulk mail (TriggerType 0) so transactional mail stays ahead.
//!
//! A task is held under a lease while a chunk runs. A chunk is prepared by the batch door of
//! the submit pipeline (`submit::prepare_batch`: the per-task checks once, frozen into the
//! task's snapshot, each recipient's data checked, in parallel) and committed in ONE
//! transaction together with the task's cursor and counts (`Store::enqueue_task_chunk`), so a
//! crash, even kill -9, neither loses nor doubles a recipient: a resumed task starts after the
//! last committed chunk. The messages are queued without bodies: the delivery worker renders
//! and signs each at its first attempt (`queue`, `submit::render_pending`).
//!
//! Never holds a transaction while it checks a chunk; knows no API protocol.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_store::bulk::{ChunkCommit, ReceiverDetail, Task, task_status};
use sesame_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::submit::{
    self, Batch, BatchOutcome, BatchRecipient, PreparedBatch, SubmitError, SubmitSettings,
};

/// The advertisement mark ADLocation puts before (1) or after (2) the subject.
pub const AD_MARK: &str = "<AD>";

/// How long a task's lease lasts; renewed by every chunk.
const LEASE: Duration = Duration::from_secs(60);
/// Longest a chunk waits for the account's rate limit before the turn gives up.
const RATE_WAIT_LIMIT: Duration = Duration::from_secs(30);
/// Share of the account's mail rate batch tasks use, leaving the rest to transactional mail.
const BULK_SHARE_OF_RATE: f64 = 0.8;
/// How long an unpaced task's turn may go on chunk after chunk before other due tasks get
/// theirs.
const TURN_TIME: Duration = Duration::from_secs(1);

/// What was read ahead while the chunk before committed.
// One lives at a time, on the scheduler's stack: the small `End` costs nothing.
#[allow(clippy::large_enum_variant)]
enum Ahead {
    /// The list ends there: the run is over.
    End,
    /// The next chunk, read and prepared.
    Chunk {
        rows: Vec<ReceiverDetail>,
        prepared: Result<(PreparedBatch, i64), SubmitError>,
        started: Instant,
    },
}

/// Settings of the scheduler (`[bulk]`, `[sending] mail_rate`, `[api] time_zone`).
#[derive(Debug, Clone)]
pub struct BulkSettings {
    /// How often due tasks are looked for.
    pub tick: Duration,
    /// The length of one IntervalTime unit (an hour in production).
    pub cycle_unit: Duration,
    /// Recipients fanned out per turn of a task (one transaction) before other tasks get
    /// theirs; with a mail rate, at most 80 % of one second's worth.
    pub chunk: usize,
    /// Recipients per second per account (0 = unlimited); tasks pace at 80 % of it.
    pub mail_rate: u32,
}

/// What happened to one task in one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A chunk went out; the task stays due.
    Chunk,
    /// The run (pass over the list) finished; the task is done or waits for its next cycle.
    RunFinished,
    /// The daily quota ran out: status 6 until the next day.
    Paused,
    /// The sender, template or list became unusable: status 7.
    Failed,
    /// Stopped for shutdown or a storage failure; the task is due again at once.
    Interrupted,
    /// Someone else held the task or it was not due any more.
    Skipped,
}

/// The scheduler task: `run` until cancelled; `run_once` for one round.
pub struct Scheduler {
    store: Store,
    submit: SubmitSettings,
    settings: BulkSettings,
    wakeup: Arc<Notify>,
    queue_wakeup: Arc<Notify>,
    owner: String,
    /// When each account may submit its next batch recipient.
    pacer: std::sync::Mutex<HashMap<i64, Instant>>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        submit: SubmitSettings,
        settings: BulkSettings,
        wakeup: Arc<Notify>,
        queue_wakeup: Arc<Notify>,
    ) -> Scheduler {
        Scheduler {
            store,
            submit,
            settings,
            wakeup,
            queue_wakeup,
            owner: format!("bulk-{}-{:016x}", std::process::id(), rand::random::<u64>()),
            pacer: Default::default(),
        }
    }

    /// Runs rounds on every tick and wake-up until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        if self.store.backend_name() == "sqlite" {
            // One `sesame serve` per SQLite file: leases left by a crash are stale.
            if let Err(e) = self.store.release_task_leases().await {
                tracing::error!(error = %e, "cannot release batch task leases");
            }
        }
        loop {
            loop {
                match self.run_once(&cancel).await {
                    // Tasks still due after a busy round get the next one at once.
                    Ok(n) if n > 0 && !cancel.is_cancelled() => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "batch scheduler round failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(self.settings.tick) => {}
                _ = self.wakeup.notified() => {}
            }
        }
        tracing::info!("batch scheduler stopped");
    }

    /// Gives every due task one turn; returns how many turns sent chunks.
    pub async fn run_once(&self, cancel: &CancellationToken) -> Result<usize, StoreError> {
        let now = sesame_core::time::now_unix();
        let due = self.store.due_tasks(now, 20).await?;
        let mut n_chunks = 0;
        for id in due {
            if cancel.is_cancelled() {
                break;
            }
            if self.turn(id, cancel).await? == Turn::Chunk {
                n_chunks += 1;
            }
        }
        Ok(n_chunks)
    }

    /// One turn of task `id`: claim it, submit up to one chunk, save.
    pub async fn turn(&self, id: i64, cancel: &CancellationToken) -> Result<Turn, StoreError> {
        let now = sesame_core::time::now_unix();
        let lease_until = now + LEASE.as_secs() as i64;
        let Some(mut task) = self
            .store
            .claim_task(id, &self.owner, now, lease_until)
            .await?
        else {
            return Ok(Turn::Skipped);
        };
        if !task.run_started {
            if self
                .store
                .receiver(task.account_id, task.receiver_id)
                .await?
                .is_none()
            {
                return self
                    .fail(&mut task, "the recipient list was deleted".into())
                    .await;
            }
            task.run_started = true;
            task.cursor_id = 0;
            task.cache_count = 0;
            task.request_count += self
                .store
                .count_receiver_details_after(task.receiver_id, 0)
                .await?;
            tracing::info!(
                task_id = task.id,
                cycle = task.n_cycles + 1,
                n = task.request_count,
                "batch task run starts"
            );
        }
        task.status = task_status::SENDING;
        task.err_msg.clear();
        self.save(&task, true).await?;

        let batch = batch_of(&task);
        let turn_started = Instant::now();
        // The next chunk, read and prepared while the previous one commits.
        let mut ahead: Option<Ahead> = None;
        loop {
            let (rows, prepared, started) = match ahead.take() {
                Some(Ahead::End) => return self.finish_run(&mut task).await,
                Some(Ahead::Chunk {
                    rows,
                    prepared,
                    started,
                }) => (rows, prepared, started),
                None => {
                    let rows = self
                        .store
                        .receiver_details_after(
                            task.receiver_id,
                            task.cursor_id,
                            self.chunk_size() as i64,
                        )
                        .await?;
                    if rows.is_empty() {
                        return self.finish_run(&mut task).await;
                    }
                    self.pace(task.account_id, rows.len(), cancel).await;
                    if cancel.is_cancelled() {
                        return self.interrupt(&mut task).await;
                    }
                    let started = Instant::now();
                    let prepared = self.prepare(&batch, &task, &rows, cancel).await;
                    (rows, prepared, started)
                }
            };
            let (prepared, now) = match prepared {
                Ok(prepared) => prepared,
                Err(e) if e.is_temporary() => {
                    tracing::error!(task_id = task.id, error = %e, "batch chunk not prepared; retrying later");
                    return self.interrupt(&mut task).await;
                }
                // The sender, the template, the subject or the reply-to address cannot pass
                // any more: no recipient of the task can be sent.
                Err(e) => return self.fail(&mut task, e.to_string()).await,
            };
            for (row, outcome) in rows.iter().zip(&prepared.outcomes) {
                if let BatchOutcome::Skipped(e) = outcome {
                    tracing::debug!(task_id = task.id, recipient = %row.email, error = %e, "batch recipient skipped");
                }
            }
            let prepared_in = started.elapsed();
            let committing = Instant::now();
            let chunk = prepared.chunk(task.id);
            let lease_until = now + LEASE.as_secs() as i64;
            // Unpaced, the turn goes on while its time lasts: the next chunk is read and
            // prepared during this commit (a paced task waits between chunks anyway).
            let go_on = self.settings.mail_rate == 0
                && turn_started.elapsed() < TURN_TIME
                && !cancel.is_cancelled();
            let last_row = rows.last().map_or(task.cursor_id, |row| row.id);
            let commit = self.store.enqueue_task_chunk(
                &chunk,
                &self.owner,
                Some(lease_until),
                |n_queued| advance(&task, &prepared, &rows, n_queued),
                now,
            );
            let look_ahead = async {
                if !go_on {
                    return None;
                }
                let started = Instant::now();
                let rows = self
                    .store
                    .receiver_details_after(task.receiver_id, last_row, self.chunk_size() as i64)
                    .await
                    .ok()?;
                if rows.is_empty() {
                    return Some(Ahead::End);
                }
                let prepared = self.prepare(&batch, &task, &rows, cancel).await;
                Some(Ahead::Chunk {
                    rows,
                    prepared,
                    started,
                })
            };
            let (committed, next) = tokio::join!(commit, look_ahead);
            let (n_queued, short_of) = match committed {
                Ok(ChunkCommit::Committed { n_queued, short_of }) => (n_queued, short_of),
                Ok(ChunkCommit::LeaseLost) => {
                    tracing::warn!(
                        task_id = task.id,
                        "batch task lease lost; chunk not committed"
                    );
                    return Ok(Turn::Skipped);
                }
                Err(e) => {
                    tracing::error!(task_id = task.id, error = %e, "batch chunk not committed; retrying later");
                    return self.interrupt(&mut task).await;
                }
            };
            // Each recipient of a task is a message of its own.
            sesame_core::metrics::get().accepted_many("bulk", n_queued as u64, n_queued as u64);
            task = advance(&task, &prepared, &rows, n_queued);
            tracing::debug!(
                task_id = task.id,
                n = rows.len(),
                n_queued,
                prepare_ms = prepared_in.as_millis() as u64,
                commit_ms = committing.elapsed().as_millis() as u64,
                "batch chunk committed"
            );
            if n_queued > 0 {
                self.queue_wakeup.notify_one();
            }
            if let Some(SubmitError::ExceedSendLimit(why)) = prepared.quota_stop(n_queued, short_of)
            {
                return self.pause(&mut task, &why).await;
            }
            // The chunk read ahead starts where this one ended only when all of it settled
            // (a quota stop paused the task above).
            ahead = next.filter(|_| task.cursor_id == last_row);
            if ahead.is_none() {
                break;
            }
        }
        // Still due: other tasks come first (they were due earlier), then this one again.
        task.next_run_at = Some(sesame_core::time::now_unix());
        self.save(&task, false).await?;
        Ok(Turn::Chunk)
    }

    /// Checks a chunk of recipients through the batch door of the submit pipeline, waiting
    /// (a bounded time) for the account's rate limit when transactional mail took it.
    async fn prepare(
        &self,
        batch: &Batch,
        task: &Task,
        rows: &[ReceiverDetail],
        cancel: &CancellationToken,
    ) -> Result<(PreparedBatch, i64), SubmitError> {
        let recipients: Vec<BatchRecipient> = rows
            .iter()
            .map(|row| BatchRecipient {
                email: row.email.clone(),
                template_data: merge_data(&task.template_data, row.template_data.as_deref()),
            })
            .collect();
        let started = Instant::now();
        loop {
            let now = sesame_core::time::now_unix();
            match submit::prepare_batch(&self.store, &self.submit, batch, &recipients, now).await {
                Ok(prepared) => return Ok((prepared, now)),
                Err(SubmitError::RateLimited(per_second))
                    if started.elapsed() < RATE_WAIT_LIMIT && !cancel.is_cancelled() =>
                {
                    // Transactional mail took the account's bucket: wait for it to refill.
                    let wait = (recipients.len() as f64 / f64::from(per_second.max(1))).min(1.0);
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Recipients of one turn: `[bulk] chunk`, and with a mail rate at most 80 % of one
    /// second's worth, so that a chunk never needs more of the account's bucket than it holds.
    fn chunk_size(&self) -> usize {
        if self.settings.mail_rate == 0 {
            return self.settings.chunk.max(1);
        }
        let per_second = (f64::from(self.settings.mail_rate) * BULK_SHARE_OF_RATE) as usize;
        self.settings.chunk.min(per_second).max(1)
    }

    /// Ends a turn early (shutdown, a storage failure): the task stays due, its cursor where
    /// the last committed chunk left it.
    async fn interrupt(&self, task: &mut Task) -> Result<Turn, StoreError> {
        task.next_run_at = Some(sesame_core::time::now_unix());
        self.save(task, false).await?;
        Ok(Turn::Interrupted)
    }

    /// Waits until the account may fan out its next `n` batch recipients (80 % of the
    /// mail rate); the slots of one chunk are taken at once.
    async fn pace(&self, account_id: i64, n: usize, cancel: &CancellationToken) {
        if self.settings.mail_rate == 0 {
            return;
        }
        let interval = Duration::from_secs_f64(
            n as f64 / (f64::from(self.settings.mail_rate) * BULK_SHARE_OF_RATE),
        );
        let wait = {
            let Ok(mut next) = self.pacer.lock() else {
                return;
            };
            let now = Instant::now();
            let slot = next.entry(account_id).or_insert(now);
            if *slot < now {
                *slot = now;
            }
            let wait = *slot - now;
            *slot += interval;
            wait
        };
        if !wait.is_zero() {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The list is done for this run: finished, or waiting for the next cycle.
    async fn finish_run(&self, task: &mut Task) -> Result<Turn, StoreError> {
        task.n_cycles += 1;
        task.run_started = false;
        task.cache_count = 0;
        let now = sesame_core::time::now_unix();
        match next_cycle(task, now, self.settings.cycle_unit) {
            Some(at) => {
                task.status = task_status::WAITING;
                task.next_run_at = Some(at);
            }
            None => {
                task.status = task_status::FINISHED;
                task.next_run_at = None;
            }
        }
        tracing::info!(task_id = task.id, sent = task.send_count, next = ?task.next_run_at, "batch task run finished");
        self.save(task, false).await?;
        Ok(Turn::RunFinished)
    }

    /// The daily quota ran out: status 6, the rest cached until the next day.
    async fn pause(&self, task: &mut Task, why: &str) -> Result<Turn, StoreError> {
        let now = sesame_core::time::now_unix();
        let zone = &self.submit.time_zone;
        let today = sesame_core::time::start_of_day(now, zone);
        task.status = task_status::PAUSED;
        task.cache_count = self
            .store
            .count_receiver_details_after(task.receiver_id, task.cursor_id)
            .await?;
        task.next_run_at = Some(sesame_core::time::next_day_start(today, zone));
        task.err_msg = format!("paused until tomorrow: {why}");
        tracing::info!(
            task_id = task.id,
            cached = task.cache_count,
            "batch task paused for the daily quota"
        );
        self.save(task, false).await?;
        Ok(Turn::Paused)
    }

    /// The task cannot go on: status 7 with the reason.
    async fn fail(&self, task: &mut Task, why: String) -> Result<Turn, StoreError> {
        tracing::warn!(task_id = task.id, error = %why, "batch task stopped");
        task.status = task_status::ERROR;
        task.next_run_at = None;
        task.run_started = false;
        task.cache_count = 0;
        task.err_msg = why;
        self.save(task, false).await?;
        Ok(Turn::Failed)
    }

    /// Writes the task back, keeping the lease (`keep`) or releasing it.
    async fn save(&self, task: &Task, keep: bool) -> Result<(), StoreError> {
        let now = sesame_core::time::now_unix();
        let lease = keep.then_some(now + LEASE.as_secs() as i64);
        if !self.store.save_task(task, &self.owner, lease, now).await? {
            tracing::warn!(task_id = task.id, "batch task lease lost");
        }
        Ok(())
    }
}

/// The batch of `task`: its sender, subject (with the advertisement mark), template and
/// footer, as bulk mail (TriggerType 0).
fn batch_of(task: &Task) -> Batch {
    Batch {
        account_id: task.account_id,
        from: task.from_address.clone(),
        reply_to: task.reply_to.clone(),
        subject: marked_subject(&task.subject, task.ad_location),
        template_id: task.template_id.unwrap_or(0),
        unsubscribe: task.unsubscribe.and_then(|u| u8::try_from(u).ok()),
        trigger_type: 0,
    }
}

/// `task` after a chunk whose first `n_queued` messages were committed: its cursor moved
/// past the recipients that settles, their outcomes counted.
fn advance(
    task: &Task,
    prepared: &PreparedBatch,
    rows: &[ReceiverDetail],
    n_queued: usize,
) -> Task {
    let mut task = task.clone();
    let settled = prepared.settled(n_queued).min(rows.len());
    for outcome in &prepared.outcomes[..settled] {
        match outcome {
            BatchOutcome::Ready => task.send_count += 1,
            BatchOutcome::Skipped(SubmitError::AllBlackListed | SubmitError::AllUnsubscribed) => {
                task.n_suppressed += 1
            }
            BatchOutcome::Skipped(SubmitError::AllFrequencyLimited) => task.n_limited += 1,
            BatchOutcome::Skipped(_) => task.n_failed += 1,
            BatchOutcome::NoRoom => {}
        }
    }
    if let Some(last) = settled.checked_sub(1) {
        task.cursor_id = rows[last].id;
    }
    task
}

/// The subject with the advertisement mark of ADLocation (1 before, 2 after, else none).
pub fn marked_subject(subject: &str, ad_location: i64) -> String {
    match ad_location {
        1 => format!("{AD_MARK}{subject}"),
        2 => format!("{subject}{AD_MARK}"),
        _ => subject.to_string(),
    }
}

/// The task's TemplateData overridden key by key by the recipient's. A part that is not a
/// JSON object is left to the submit pipeline to refuse (the row's own data is checked at
/// upload, the task's at creation).
pub fn merge_data(task_data: &str, row_data: Option<&str>) -> String {
    let parse = |text: &str| -> Option<serde_json::Map<String, serde_json::Value>> {
        if text.trim().is_empty() {
            return Some(Default::default());
        }
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        }
    };
    let row_data = row_data.unwrap_or("");
    match (parse(task_data), parse(row_data)) {
        (Some(mut merged), Some(row)) => {
            merged.extend(row);
            serde_json::Value::Object(merged).to_string()
        }
        (None, _) => task_data.to_string(),
        (_, None) => row_data.to_string(),
    }
}

/// When a finished run's task runs next: cyclic tasks (TaskType 3, TermCycle 0) at the next
/// `BeginTime + k × IntervalTime` still ahead (missed cycles are not made up); others never.
pub fn next_cycle(task: &Task, now: i64, cycle_unit: Duration) -> Option<i64> {
    if task.task_type != 3 || task.term_cycle != 0 {
        return None;
    }
    let begin = task.begin_at?;
    let interval = task
        .interval_hours
        .max(1)
        .saturating_mul(cycle_unit.as_secs().max(1) as i64);
    let elapsed_cycles = if now >= begin {
        (now - begin) / interval + 1
    } else {
        0
    };
    let k = task.n_cycles.max(elapsed_cycles);
    Some(begin + k * interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_merge_and_subject_mark() {
        assert_eq!(
            merge_data(r#"{"a":"task","b":"task"}"#, Some(r#"{"b":"row"}"#)),
            r#"{"a":"task","b":"row"}"#
        );
        assert_eq!(merge_data("", None), "{}");
        assert_eq!(merge_data("", Some(r#"{"x":1}"#)), r#"{"x":1}"#);
        assert_eq!(marked_subject("Hi", 1), "<AD>Hi");
        assert_eq!(marked_subject("Hi", 2), "Hi<AD>");
        assert_eq!(marked_subject("Hi", 0), "Hi");
    }

    fn task(task_type: i64, term_cycle: i64, n_cycles: i64) -> Task {
        Task {
            id: 1,
            account_id: 1,
            from_address: String::new(),
            receiver_id: 1,
            receivers_name: String::new(),
            subject: String::new(),
            template_id: None,
            template_data: String::new(),
            reply_to: None,
            unsubscribe: None,
            ad_location: 0,
            task_type,
            begin_at: Some(1000),
            interval_hours: 2,
            term_cycle,
            created_at: 0,
            status: task_status::SENDING,
            next_run_at: None,
            run_started: false,
            cursor_id: 0,
            n_cycles,
            request_count: 0,
            send_count: 0,
            cache_count: 0,
            n_suppressed: 0,
            n_limited: 0,
            n_failed: 0,
            err_msg: String::new(),
            updated_at: 0,
        }
    }

    #[test]
    fn cycles() {
        let hour = Duration::from_secs(3600);
        // A run that ends within its interval: the next slot.
        assert_eq!(next_cycle(&task(3, 0, 1), 1010, hour), Some(1000 + 7200));
        // Missed slots are not made up: the next one still ahead.
        assert_eq!(
            next_cycle(&task(3, 0, 1), 1000 + 7200 * 3 + 5, hour),
            Some(1000 + 7200 * 4)
        );
        assert_eq!(next_cycle(&task(3, 1, 1), 1010, hour), None);
        assert_eq!(next_cycle(&task(1, 0, 1), 1010, hour), None);
        assert_eq!(next_cycle(&task(2, 0, 1), 1010, hour), None);
    }
}
