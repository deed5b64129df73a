//! Closing the loop: a bounce (DSN) or complaint (ARF report) that arrives by mail at a
//! Return-Path is parsed (`sesame-bounce`), matched to the delivery it is about, and has the
//! same effects as a bounce during delivery: the delivery is marked bounced, and a hard
//! bounce or a complaint puts the address on the account's black list. Complaints are kept
//! for GetAbuseReport.
//!
//! Matching, most trusted first: the envelope recipient (our Return-Path names the delivery
//! and carries a MAC), the original message's Return-Path header, then its Message-ID with
//! the reported recipient.

use sesame_bounce::{Kind, Report};
use sesame_store::inbound::{DeliveryInfo, NewComplaint};
use sesame_store::{Store, StoreError};

use crate::queue::{BLACK_LIST_DAYS, RETURN_PATH_KEY_LABEL};

/// How long a complaint keeps the address on the account's black list.
pub const COMPLAINT_BLACK_LIST_DAYS: i64 = 3650;

/// What the inbound listener needs to know.
#[derive(Clone)]
pub struct InboundSettings {
    pub return_path_domain: String,
    secret: [u8; 32],
}

impl std::fmt::Debug for InboundSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSettings")
            .field("return_path_domain", &self.return_path_domain)
            .finish_non_exhaustive()
    }
}

impl InboundSettings {
    pub fn new(store: &Store, return_path_domain: &str) -> InboundSettings {
        InboundSettings {
            return_path_domain: return_path_domain.to_string(),
            secret: store.derive_key(RETURN_PATH_KEY_LABEL),
        }
    }

    /// The delivery a Return-Path address names, if it is one of ours with a valid MAC.
    pub fn delivery_of(&self, address: &str) -> Option<i64> {
        sesame_mail::return_path::decode(address, &self.secret, &self.return_path_domain)
    }

    /// Whether the listener takes mail for `address`: one of our Return-Paths, or one of the
    /// role addresses at the return-path domain that feedback loops are registered with.
    pub fn accepts(&self, address: &str) -> bool {
        if self.delivery_of(address).is_some() {
            return true;
        }
        let Some((local, domain)) = address.rsplit_once('@') else {
            return false;
        };
        let roles = ["postmaster", "abuse", "fbl", "feedback"];
        domain
            .trim_end_matches('.')
            .eq_ignore_ascii_case(self.return_path_domain.trim_end_matches('.'))
            && roles.iter().any(|r| local.eq_ignore_ascii_case(r))
    }
}

/// What one inbound message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Neither a bounce nor a complaint (an auto-reply, say): refused.
    NotAReport,
    /// A bounce or complaint; `matched` of its recipients were found and recorded.
    Recorded {
        kind: Kind,
        matched: usize,
        unmatched: usize,
    },
}

/// Parses and records one message received for `envelope_recipients`.
pub async fn process(
    store: &Store,
    settings: &InboundSettings,
    envelope_recipients: &[String],
    raw: Vec<u8>,
    now: i64,
) -> Result<Processed, StoreError> {
    let report = tokio::task::spawn_blocking(move || sesame_bounce::parse(&raw))
        .await
        .map_err(|e| StoreError::Open(format!("bounce parser failed: {e}")))?;
    if report.kind == Kind::None || report.recipients.is_empty() {
        return Ok(Processed::NotAReport);
    }
    let by_return_path =
        return_path_deliveries(store, settings, envelope_recipients, &report).await?;
    let (mut matched, mut unmatched) = (0, 0);
    for recipient in &report.recipients {
        let delivery = match_delivery(store, &by_return_path, &report, recipient).await?;
        let Some(delivery) = delivery else {
            tracing::info!(
                recipient = recipient.address.as_deref().unwrap_or("(redacted)"),
                kind = ?recipient.kind,
                "inbound report about no message of ours"
            );
            unmatched += 1;
            continue;
        };
        record(store, &delivery, &report, recipient, now).await?;
        matched += 1;
    }
    Ok(Processed::Recorded {
        kind: report.kind,
        matched,
        unmatched,
    })
}

/// The deliveries named by the envelope recipients and by the original's Return-Path.
async fn return_path_deliveries(
    store: &Store,
    settings: &InboundSettings,
    envelope_recipients: &[String],
    report: &Report,
) -> Result<Vec<DeliveryInfo>, StoreError> {
    let original_return_path = report.original.as_ref().and_then(|o| o.return_path.clone());
    let mut found: Vec<DeliveryInfo> = Vec::new();
    for address in envelope_recipients
        .iter()
        .chain(original_return_path.iter())
    {
        let Some(id) = settings.delivery_of(address) else {
            continue;
        };
        if found.iter().any(|d| d.id == id) {
            continue;
        }
        if let Some(info) = store.delivery_info(id).await? {
            found.push(info);
        }
    }
    Ok(found)
}

async fn match_delivery(
    store: &Store,
    by_return_path: &[DeliveryInfo],
    report: &Report,
    recipient: &sesame_bounce::Recipient,
) -> Result<Option<DeliveryInfo>, StoreError> {
    let same = |d: &&DeliveryInfo| {
        recipient
            .address
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(&d.recipient))
    };
    if let Some(d) = by_return_path.iter().find(same) {
        return Ok(Some(d.clone()));
    }
    // A Return-Path names exactly one delivery: a report about one recipient is about it,
    // even when the remote side rewrote or redacted the address.
    if by_return_path.len() == 1 && report.recipients.len() == 1 {
        return Ok(Some(by_return_path[0].clone()));
    }
    let original = report.original.as_ref();
    let header_id = original.and_then(|o| o.message_id.as_deref());
    let address = recipient
        .address
        .as_deref()
        .or_else(|| original.and_then(|o| o.to.as_deref()));
    match (header_id, address) {
        (Some(id), Some(address)) => store.delivery_by_header_id(id, address).await,
        _ => Ok(None),
    }
}

async fn record(
    store: &Store,
    delivery: &DeliveryInfo,
    report: &Report,
    recipient: &sesame_bounce::Recipient,
    now: i64,
) -> Result<(), StoreError> {
    match recipient.kind {
        Kind::Complaint => {
            let complaint = NewComplaint {
                delivery,
                source_ip: report.source_ip.as_deref().unwrap_or(""),
                feedback_type: report.feedback_type.as_deref().unwrap_or("abuse"),
                complain_time: report
                    .arrival_date
                    .as_deref()
                    .and_then(parse_date)
                    .unwrap_or(now),
            };
            let new = store.record_complaint(&complaint, now).await?;
            let reason = format!("complaint ({})", complaint.feedback_type);
            store
                .add_black(
                    delivery.account_id,
                    &delivery.recipient,
                    &reason,
                    now,
                    now + COMPLAINT_BLACK_LIST_DAYS * 86_400,
                )
                .await?;
            tracing::info!(delivery = delivery.id, new, "complaint recorded");
        }
        Kind::Hard | Kind::Soft => {
            let reason = match &recipient.status {
                Some(status) if !recipient.diagnostic.contains(status.as_str()) => {
                    format!("{status} {}", recipient.diagnostic)
                }
                _ => recipient.diagnostic.clone(),
            };
            let reason = if reason.trim().is_empty() {
                "bounced after delivery".to_string()
            } else {
                reason.trim().to_string()
            };
            // Queues the bounce event (bounceType from the kind) in the same transaction.
            let hard = recipient.kind == Kind::Hard;
            store
                .record_late_bounce(delivery.id, &reason, hard, now)
                .await?;
            if recipient.kind == Kind::Hard {
                store
                    .add_black(
                        delivery.account_id,
                        &delivery.recipient,
                        &reason,
                        now,
                        now + BLACK_LIST_DAYS * 86_400,
                    )
                    .await?;
            }
            tracing::info!(delivery = delivery.id, kind = ?recipient.kind, "bounce recorded");
        }
        Kind::None => {}
    }
    Ok(())
}

/// An RFC 5322 date (ARF Arrival-Date) as Unix seconds.
fn parse_date(text: &str) -> Option<i64> {
    let header = format!("Date: {text}\r\n\r\n");
    mail_parser::MessageParser::default()
        .parse_headers(header.as_bytes())
        .and_then(|m| m.date().map(|d| d.to_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::parse_date;

    #[test]
    fn arrival_dates() {
        assert_eq!(
            parse_date("Thu, 8 Mar 2005 14:00:00 +0000"),
            Some(1_110_290_400)
        );
        assert_eq!(parse_date("not a date"), None);
    }
}
