//! Group commit of new messages (`Store::enqueue`, used by SendEmail and SMTP submission).
//!
//! Concurrent callers put their message on one list and take turns as the *leader*: the
//! leader takes every message waiting (up to `MAX_MESSAGES` / `MAX_DELIVERIES`) and commits
//! them in ONE write transaction, with multi-row inserts, then answers each caller. A caller
//! answers its client only after the transaction that holds its message committed, so the
//! durability rule is unchanged; what the batch saves is the transactions, the statements
//! and, on SQLite, the turns at the write gate of every message on its own.
//!
//! Each message keeps its own outcome: the daily caps are applied per message (a batch whose
//! messages fit under a cap together takes the counter once; otherwise they are counted one
//! by one, in arrival order, and the ones that do not fit answer `QuotaExceeded`). A batch
//! that fails for another reason (a database error) is retried message by message, so one
//! bad message cannot fail its neighbours.
//!
//! The commit runs in a task of its own that holds the leader's turn: a caller that goes away
//! (its client hung up) neither aborts the batch nor lets another leader start beside it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sesame_core::event::{Event, EventKind};
use tokio::sync::oneshot;

use crate::bulk::value_rows;
use crate::events::{StatDelta, StatKey, bump_stats_many, domain_of, queue_event};
use crate::queue::{NewDelivery, NewMessage, deliver_status};
use crate::{Result, Store, StoreError, on_pool};

/// Messages committed together at most.
const MAX_MESSAGES: usize = 64;
/// Deliveries committed together at most (a batch stops growing once past it).
const MAX_DELIVERIES: usize = 1_000;
/// Rows per multi-row INSERT: messages bind 11 parameters, deliveries 13 (statements stay
/// small, see `bulk::ROWS_PER_INSERT`).
const MESSAGES_PER_INSERT: usize = 50;
const DELIVERIES_PER_INSERT: usize = 50;

/// The waiting list and the leader's turn (one per `Store`, shared by its clones).
#[derive(Default)]
pub(crate) struct Intake {
    waiting: Mutex<VecDeque<Pending>>,
    leader: Arc<tokio::sync::Mutex<()>>,
}

/// A message waiting for its commit, owned, and where to send its outcome.
struct Pending {
    message: Message,
    deliveries: Vec<Delivery>,
    now: i64,
    answer: oneshot::Sender<Result<i64>>,
}

/// `NewMessage`, owned.
struct Message {
    account_id: i64,
    message_id: String,
    header_message_id: String,
    from_address: String,
    domain_id: i64,
    subject: String,
    template_id: Option<i64>,
    trigger_type: i64,
    body: Vec<u8>,
    sign_pending: bool,
    day: i64,
    account_cap: Option<i64>,
    domain_cap: Option<i64>,
}

/// `NewDelivery`, owned.
struct Delivery {
    recipient: String,
    recipient_domain: String,
    send_status: i64,
    deliver_message: String,
    body: Option<Vec<u8>>,
}

impl Pending {
    fn n_accepted(&self) -> i64 {
        self.deliveries
            .iter()
            .filter(|d| d.send_status == 0)
            .count() as i64
    }

    /// The id this message counts under in `scope`, and its cap there.
    fn scope(&self, scope: &str) -> (i64, Option<i64>) {
        match scope {
            "account" => (self.message.account_id, self.message.account_cap),
            _ => (self.message.domain_id, self.message.domain_cap),
        }
    }
}

impl Intake {
    /// The oldest waiting messages, as many as one batch takes.
    fn take_batch(&self) -> Vec<Pending> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = Vec::new();
        let mut n_deliveries = 0;
        while batch.len() < MAX_MESSAGES && n_deliveries < MAX_DELIVERIES {
            let Some(next) = waiting.pop_front() else {
                break;
            };
            n_deliveries += next.deliveries.len();
            batch.push(next);
        }
        batch
    }
}

/// Why a message got no answer: the task committing its batch ended first (a panic).
fn abandoned() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "the commit of this message's batch stopped without an answer".into(),
    ))
}

/// What the batch transaction gives each message: its row, or the cap it would pass.
type Outcomes = Vec<Result<i64>>;

impl Store {
    /// Stores a message and its deliveries in one transaction (shared with other messages
    /// submitted at the same moment, see the module): when this returns `Ok`, the message is
    /// committed. Fails with `QuotaExceeded` when the accepted recipients would take the
    /// account's or the domain's count for the day over its cap, and then stores nothing.
    /// Returns the message's row id.
    pub async fn enqueue(
        &self,
        message: &NewMessage<'_>,
        deliveries: &[NewDelivery<'_>],
        now: i64,
    ) -> Result<i64> {
        let (answer, mut outcome) = oneshot::channel();
        let pending = Pending {
            message: Message {
                account_id: message.account_id,
                message_id: message.message_id.to_owned(),
                header_message_id: message.header_message_id.to_owned(),
                from_address: message.from_address.to_owned(),
                domain_id: message.domain_id,
                subject: message.subject.to_owned(),
                template_id: message.template_id,
                trigger_type: message.trigger_type,
                body: message.body.to_vec(),
                sign_pending: message.sign_pending,
                day: message.day,
                account_cap: message.account_cap,
                domain_cap: message.domain_cap,
            },
            deliveries: deliveries
                .iter()
                .map(|d| Delivery {
                    recipient: d.recipient.to_owned(),
                    recipient_domain: d.recipient_domain.to_owned(),
                    send_status: d.send_status,
                    deliver_message: d.deliver_message.to_owned(),
                    body: d.body.map(<[u8]>::to_vec),
                })
                .collect(),
            now,
            answer,
        };
        self.intake
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(pending);
        loop {
            tokio::select! {
                biased;
                result = &mut outcome => return result.unwrap_or_else(|_| Err(abandoned())),
                turn = self.intake.leader.clone().lock_owned() => {
                    // The previous leader answered before giving up its turn: an empty list
                    // means this message's answer is in `outcome`.
                    let batch = self.intake.take_batch();
                    if batch.is_empty() {
                        continue;
                    }
                    let store = self.clone();
                    tokio::spawn(async move {
                        let _turn = turn;
                        store.commit_batch(batch).await;
                    });
                }
            }
        }
    }

    /// Commits `batch` and answers each of its messages.
    async fn commit_batch(&self, batch: Vec<Pending>) {
        tracing::debug!(messages = batch.len(), "committing a batch of new messages");
        let outcomes = match self.enqueue_batch(&batch).await {
            Ok(outcomes) => outcomes,
            Err(e) if batch.len() == 1 => vec![Err(e)],
            // One message may be the cause (a row it refers to is gone): each alone.
            Err(_) => {
                let mut outcomes = Vec::with_capacity(batch.len());
                for pending in &batch {
                    outcomes.push(
                        match self.enqueue_batch(std::slice::from_ref(pending)).await {
                            Ok(mut alone) => alone.pop().unwrap_or_else(|| Err(abandoned())),
                            Err(e) => Err(e),
                        },
                    );
                }
                outcomes
            }
        };
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            let _ = pending.answer.send(outcome);
        }
    }

    /// The batch's one transaction. Locks are taken in the order every write transaction
    /// keeps (ARCHITECTURE.md): the day's account counters, then the domain counters, each in
    /// id order, then the statistics rows in key order.
    async fn enqueue_batch(&self, batch: &[Pending]) -> Result<Outcomes> {
        let n_accepted: Vec<i64> = batch.iter().map(Pending::n_accepted).collect();
        let outcomes = on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let mut refused: Vec<Option<&'static str>> = vec![None; batch.len()];
            // The counter row is updated only while it stays within the cap, so two
            // concurrent transactions cannot both take the last of the quota.
            macro_rules! take {
                ($scope:expr, $scope_id:expr, $day:expr, $n:expr, $cap:expr) => {
                    sqlx::query(
                        "INSERT INTO send_counters (scope, scope_id, day, accepted) \
                         SELECT $1, $2, $3, $4 WHERE $4 <= $5 \
                         ON CONFLICT (scope, scope_id, day) DO UPDATE SET accepted = send_counters.accepted + excluded.accepted \
                         WHERE send_counters.accepted + excluded.accepted <= $5",
                    )
                    .bind($scope)
                    .bind($scope_id)
                    .bind($day)
                    .bind($n)
                    .bind($cap)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0
                };
            }
            for scope in ["account", "domain"] {
                let mut counters: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
                for (i, pending) in batch.iter().enumerate() {
                    if refused[i].is_none() && n_accepted[i] > 0 {
                        counters
                            .entry((pending.scope(scope).0, pending.message.day))
                            .or_default()
                            .push(i);
                    }
                }
                for ((scope_id, day), members) in counters {
                    let cap_of = |i: usize| batch[i].scope(scope).1.unwrap_or(i64::MAX);
                    let total: i64 = members.iter().map(|&i| n_accepted[i]).sum();
                    let cap = members.iter().map(|&i| cap_of(i)).min().unwrap_or(i64::MAX);
                    if take!(scope, scope_id, day, total, cap) {
                        continue;
                    }
                    // Not all of them fit: one by one, in the order they came.
                    for i in members {
                        if take!(scope, scope_id, day, n_accepted[i], cap_of(i)) {
                            continue;
                        }
                        refused[i] = Some(scope);
                        if scope == "domain" {
                            // Its account counter (locked above) took it already.
                            sqlx::query(
                                "UPDATE send_counters SET accepted = accepted - $1 \
                                 WHERE scope = 'account' AND scope_id = $2 AND day = $3",
                            )
                            .bind(n_accepted[i])
                            .bind(batch[i].message.account_id)
                            .bind(day)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
            }
            let kept: Vec<&Pending> = batch
                .iter()
                .zip(&refused)
                .filter(|(_, r)| r.is_none())
                .map(|(p, _)| p)
                .collect();
            let mut rows: HashMap<String, i64> = HashMap::with_capacity(kept.len());
            for part in kept.chunks(MESSAGES_PER_INSERT) {
                let values = value_rows(part.len(), 12, 1, "");
                let sql = format!(
                    "INSERT INTO messages (account_id, message_id, header_message_id, from_address, domain_id, \
                     subject, template_id, trigger_type, body, sign_pending, created_at, stat_day) \
                     VALUES {values} RETURNING id, message_id"
                );
                let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
                for p in part {
                    let m = &p.message;
                    query = query
                        .bind(m.account_id)
                        .bind(&m.message_id)
                        .bind(&m.header_message_id)
                        .bind(&m.from_address)
                        .bind(m.domain_id)
                        .bind(&m.subject)
                        .bind(m.template_id)
                        .bind(m.trigger_type)
                        .bind(&m.body)
                        .bind(i64::from(m.sign_pending))
                        .bind(p.now)
                        .bind(m.day);
                }
                rows.extend(query.fetch_all(&mut *tx).await?.into_iter().map(|(id, mid)| (mid, id)));
            }
            let row_of = |p: &Pending| {
                rows.get(&p.message.message_id).copied().ok_or_else(|| {
                    sqlx::Error::Protocol(format!(
                        "message {} not returned by its insert",
                        p.message.message_id
                    ))
                })
            };
            let deliveries: Vec<(&Pending, &Delivery)> = kept
                .iter()
                .flat_map(|p| p.deliveries.iter().map(move |d| (*p, d)))
                .collect();
            for part in deliveries.chunks(DELIVERIES_PER_INSERT) {
                // updated_at is bound as created_at.
                let values = value_rows(part.len(), 13, 1, "");
                let sql = format!(
                    "INSERT INTO deliveries (message_row, account_id, domain_id, recipient, recipient_domain, \
                     send_status, deliver_status, deliver_message, priority, due_at, created_at, updated_at, body) \
                     VALUES {values}"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (p, d) in part {
                    let accepted = d.send_status == 0;
                    query = query
                        .bind(row_of(p)?)
                        .bind(p.message.account_id)
                        .bind(p.message.domain_id)
                        .bind(&d.recipient)
                        .bind(&d.recipient_domain)
                        .bind(d.send_status)
                        .bind(if accepted { deliver_status::QUEUED } else { deliver_status::DROPPED })
                        .bind(&d.deliver_message)
                        .bind(p.message.trigger_type)
                        .bind(accepted.then_some(p.now))
                        .bind(p.now)
                        .bind(p.now)
                        .bind(if accepted { d.body.as_deref() } else { None });
                }
                query.execute(&mut *tx).await?;
            }
            // Statistics: every recipient is a request; accepted ones count as accepted.
            let mut stats: BTreeMap<StatKey<'_>, StatDelta> = BTreeMap::new();
            for (p, d) in &deliveries {
                let key = (
                    p.message.account_id,
                    p.message.day,
                    domain_of(&p.message.from_address),
                    d.recipient_domain.as_str(),
                );
                let delta = stats.entry(key).or_default();
                delta.requests += 1;
                delta.accepted += i64::from(d.send_status == 0);
            }
            bump_stats_many!(tx, &stats);
            // Recipients refused at submit (black list, frequency) are dropped now.
            for (p, d) in deliveries.iter().filter(|(_, d)| d.send_status != 0) {
                let m = &p.message;
                let event = Event {
                    kind: EventKind::Dropped,
                    email: &d.recipient,
                    bulk_id: &m.message_id,
                    header_message_id: &m.header_message_id,
                    timestamp: p.now,
                    sent_timestamp: p.now,
                    account_id: m.account_id,
                    from: &m.from_address,
                    subject: &m.subject,
                    template_id: m.template_id,
                    task_id: None,
                    reason: Some(&d.deliver_message),
                    hard_bounce: None,
                    link: None,
                    user_agent: None,
                };
                queue_event!(tx, &event, p.now);
            }
            let mut outcomes: Outcomes = Vec::with_capacity(batch.len());
            for (p, r) in batch.iter().zip(&refused) {
                outcomes.push(match r {
                    Some(scope) => Err(StoreError::QuotaExceeded(scope)),
                    None => Ok(row_of(p)?),
                });
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(outcomes)
        })?;
        Ok(outcomes)
    }
}
