//! What the world tells us after delivery: a bounce (DSN) that arrives by mail marks its
//! delivery bounced; a complaint (ARF report) is kept for GetAbuseReport and marks its
//! delivery complained. Deliveries are found by id (the Return-Path names it) or by the
//! original message's Message-ID and recipient. Each change queues its event (bounce,
//! spamreport) and moves the statistics counters in its own transaction (`events`).

use sqlx::FromRow;

use sesame_core::event::EventKind;

use crate::events::{StatDelta, bump_stats, domain_of, event_of, queue_event};
use crate::queue::deliver_status;
use crate::{Result, Store, on_pool};

/// A delivery with the facts of its message that bounces and complaints report.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryInfo {
    pub id: i64,
    pub account_id: i64,
    pub recipient: String,
    pub recipient_domain: String,
    pub deliver_status: i64,
    pub delivered_at: Option<i64>,
    pub message_id: String,
    pub header_message_id: String,
    pub from_address: String,
    pub subject: String,
    pub template_id: Option<i64>,
    /// When the message was submitted (`sentTimestamp` of its events).
    pub sent_at: i64,
    /// Start of the request's day: the statistics row the delivery counts in.
    pub stat_day: i64,
}

/// A complaint to record.
#[derive(Debug, Clone)]
pub struct NewComplaint<'a> {
    pub delivery: &'a DeliveryInfo,
    pub source_ip: &'a str,
    pub feedback_type: &'a str,
    pub complain_time: i64,
}

/// One row of GetAbuseReport.
#[derive(Debug, Clone, FromRow)]
pub struct Complaint {
    pub message_id: String,
    pub header_message_id: String,
    pub original_mail_from: String,
    pub original_rcpt_to: String,
    pub from_domain: String,
    pub mta: String,
    pub source_ip: String,
    pub subject: String,
    pub template_id: Option<i64>,
    pub deliver_time: Option<i64>,
    pub complain_time: i64,
    pub created_at: i64,
}

/// Filters of GetAbuseReport; empty strings match everything.
#[derive(Debug, Clone, Default)]
pub struct ComplaintQuery<'a> {
    pub account_id: i64,
    pub from: i64,
    pub until: i64,
    pub from_domain: &'a str,
    pub from_address: &'a str,
    pub mta: &'a str,
    pub to_address: &'a str,
    pub template_id: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

pub(crate) const INFO_SELECT: &str = "SELECT d.id, d.account_id, d.recipient, d.recipient_domain, \
     d.deliver_status, d.delivered_at, m.message_id, m.header_message_id, m.from_address, \
     m.subject, m.template_id, m.created_at AS sent_at, m.stat_day \
     FROM deliveries d JOIN messages m ON m.id = d.message_row";

const COMPLAINT_FILTER: &str = "WHERE account_id = $1 AND complain_time >= $2 AND complain_time < $3 \
     AND ($4 = '' OR from_domain = $4) AND ($5 = '' OR original_mail_from = $5) \
     AND ($6 = '' OR mta = $6) AND ($7 = '' OR original_rcpt_to = $7) \
     AND ($8 < 0 OR template_id = $8)";

impl Store {
    /// The delivery with this id, with its message's facts.
    pub async fn delivery_info(&self, delivery_id: i64) -> Result<Option<DeliveryInfo>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{INFO_SELECT} WHERE d.id = $1")))
                .bind(delivery_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row)
    }

    /// The accepted delivery of the message with RFC 5322 Message-ID `header_id` (without
    /// `<>`) to `recipient` (case-insensitive), newest first.
    pub async fn delivery_by_header_id(
        &self,
        header_id: &str,
        recipient: &str,
    ) -> Result<Option<DeliveryInfo>> {
        let row = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{INFO_SELECT} WHERE m.header_message_id = $1 AND LOWER(d.recipient) = LOWER($2) \
                 AND d.send_status = 0 ORDER BY d.id DESC LIMIT 1"
            )))
            .bind(header_id)
            .bind(recipient)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Marks an accepted delivery bounced after the fact (a DSN by mail). A delivery still in
    /// the queue stops being retried. Returns false when there was nothing to mark.
    ///
    /// Statistics: a delivery counts once, as its status says. A bounce after "delivered"
    /// moves the count from delivered to bounced; a second bounce of a bounced delivery only
    /// updates the reason and reports no new event.
    pub async fn record_late_bounce(
        &self,
        delivery_id: i64,
        reason: &str,
        hard: bool,
        now: i64,
    ) -> Result<bool> {
        let reason: String = reason.chars().take(1000).collect();
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            // Touch the row first: this takes its write lock (PostgreSQL's row lock, SQLite's
            // database lock), so the status read next cannot change before the update.
            let touched = sqlx::query(
                "UPDATE deliveries SET updated_at = updated_at WHERE id = $1 AND send_status = 0",
            )
            .bind(delivery_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if touched == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            let info: DeliveryInfo =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{INFO_SELECT} WHERE d.id = $1")))
                    .bind(delivery_id)
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query(
                "UPDATE deliveries SET deliver_status = $1, deliver_message = $2, due_at = NULL, \
                 lease_owner = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4",
            )
            .bind(deliver_status::BOUNCED)
            .bind(&reason)
            .bind(now)
            .bind(delivery_id)
            .execute(&mut *tx)
            .await?;
            if info.deliver_status != deliver_status::BOUNCED {
                let delta = StatDelta {
                    delivered: if info.deliver_status == deliver_status::DELIVERED { -1 } else { 0 },
                    bounced: 1,
                    ..StatDelta::default()
                };
                bump_stats!(tx, info.account_id, info.stat_day, domain_of(&info.from_address),
                    &info.recipient_domain, &delta);
                let mut event = event_of(&info, EventKind::Bounce, now);
                event.reason = Some(&reason);
                event.hard_bounce = Some(hard);
                queue_event!(tx, &event, now);
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Records a complaint and marks its delivery complained, in one transaction. A second
    /// report about the same delivery is not recorded twice; returns whether this one was.
    pub async fn record_complaint(&self, complaint: &NewComplaint<'_>, now: i64) -> Result<bool> {
        let d = complaint.delivery;
        let from_domain = domain_of(&d.from_address);
        let source_ip: String = complaint.source_ip.chars().take(64).collect();
        let feedback_type: String = complaint.feedback_type.chars().take(64).collect();
        on_pool!(self, pool => {
            let (_gate, mut tx) = crate::begin_write!(self, pool);
            let marked = sqlx::query(
                "UPDATE deliveries SET complained = 1, updated_at = $1 WHERE id = $2 AND complained = 0",
            )
            .bind(now)
            .bind(d.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO complaints (account_id, delivery_id, message_id, header_message_id, \
                 original_mail_from, original_rcpt_to, from_domain, mta, source_ip, subject, \
                 template_id, feedback_type, deliver_time, complain_time, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(d.account_id)
            .bind(d.id)
            .bind(&d.message_id)
            .bind(&d.header_message_id)
            .bind(&d.from_address)
            .bind(&d.recipient)
            .bind(from_domain)
            .bind(&d.recipient_domain)
            .bind(&source_ip)
            .bind(&d.subject)
            .bind(d.template_id)
            .bind(&feedback_type)
            .bind(d.delivered_at)
            .bind(complaint.complain_time)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let event = event_of(d, EventKind::SpamReport, now);
            queue_event!(tx, &event, now);
            tx.commit().await?;
        });
        Ok(true)
    }

    /// One page of an account's complaints, newest first, and how many match in all.
    pub async fn list_complaints(
        &self,
        query: &ComplaintQuery<'_>,
    ) -> Result<(Vec<Complaint>, i64)> {
        let template = query.template_id.unwrap_or(-1);
        let (rows, (total,)) = on_pool!(self, pool => {
            let rows: Vec<Complaint> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT message_id, header_message_id, original_mail_from, original_rcpt_to, from_domain, mta, source_ip, \
                 subject, template_id, deliver_time, complain_time, created_at FROM complaints \
                 {COMPLAINT_FILTER} ORDER BY complain_time DESC, id DESC LIMIT $9 OFFSET $10"
            )))
            .bind(query.account_id)
            .bind(query.from)
            .bind(query.until)
            .bind(query.from_domain)
            .bind(query.from_address)
            .bind(query.mta)
            .bind(query.to_address)
            .bind(template)
            .bind(query.limit)
            .bind(query.offset)
            .fetch_all(pool)
            .await?;
            let total: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM complaints {COMPLAINT_FILTER}"
            )))
            .bind(query.account_id)
            .bind(query.from)
            .bind(query.until)
            .bind(query.from_domain)
            .bind(query.from_address)
            .bind(query.mta)
            .bind(query.to_address)
            .bind(template)
            .fetch_one(pool)
            .await?;
            (rows, total)
        });
        Ok((rows, total))
    }
}
