//! Inbound feedback parsing: turns a bounce (an RFC 3464 DSN or the free text of a non-standard
//! MTA bounce), a complaint (an RFC 5965 ARF report) or an Amazon SES notification into a
//! [`Report`] of failed recipients, each hard (the address is bad), soft (anything else) or a
//! complaint. Auto-replies and success notices give [`Kind::None`] and no recipients.
//!
//! Pure: no I/O, no storage, no clock. [`parse`] never panics and does bounded work on hostile
//! input (the input, the parts walked, the lines scanned and the recipients kept are capped, and
//! every scan is linear).

mod arf;
mod dsn;
mod fields;
mod message;
mod patterns;
mod ses;
mod signs;
mod status;
mod text;

use std::collections::HashSet;

use serde::Serialize;

pub use patterns::classify;

use fields::{Field, address_in, find_addresses, first, parse_fields, strip_angles};
use message::View;

/// Bytes of input looked at; the rest is ignored. A DSN's report parts come before the returned
/// message, so a cut through a large attachment loses nothing that matters.
pub const MAX_INPUT: usize = 4 * 1024 * 1024;
/// Longest diagnostic kept, in bytes.
const MAX_DIAGNOSTIC: usize = 500;

/// What a message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The address itself is bad: unknown user, unknown host, moved, or a domain that accepts no
    /// mail (null MX). Safe to suppress.
    Hard,
    /// Delivery failed for another reason: temporary trouble, a full mailbox, policy, spam,
    /// reputation, authentication. The address may work later.
    Soft,
    /// The recipient complained (an ARF feedback report).
    Complaint,
    /// Not a bounce nor a complaint: an auto-reply, a success DSN, a delivery notice, or mail we
    /// cannot read as any of these.
    None,
}

/// One recipient a report is about.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// The failed recipient (for a complaint: the complained-about recipient), as written in the
    /// report; None when the report redacts it.
    pub address: Option<String>,
    /// RFC 3463 enhanced status code such as "5.1.1", when the report carries one.
    pub status: Option<String>,
    /// Hard, Soft or Complaint; never None.
    pub kind: Kind,
    /// The remote server's words or the report's diagnostic: one line, trimmed, at most 500
    /// bytes. Empty for complaints.
    pub diagnostic: String,
}

/// Headers of the returned or reported original message, where the report includes them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Original {
    /// Message-ID without the angle brackets.
    pub message_id: Option<String>,
    /// Return-Path without the angle brackets (the VERP address Sesame sent from).
    pub return_path: Option<String>,
    /// From, as written.
    pub from: Option<String>,
    /// To, as written.
    pub to: Option<String>,
    /// Subject, decoded.
    pub subject: Option<String>,
}

/// Everything [`parse`] found in one message.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Complaint if any recipient is a complaint, else Hard if any is hard, else Soft if there
    /// are recipients, else None.
    pub kind: Kind,
    /// The failed or complained-about recipients, in the report's order.
    pub recipients: Vec<Recipient>,
    /// Headers of the returned or reported message, where present.
    pub original: Option<Original>,
    /// ARF Feedback-Type (abuse, fraud, opt-out, auth-failure, ...), lowercased.
    pub feedback_type: Option<String>,
    /// ARF Source-IP.
    pub source_ip: Option<String>,
    /// ARF Arrival-Date (or Received-Date), raw text.
    pub arrival_date: Option<String>,
    /// ARF User-Agent.
    pub user_agent: Option<String>,
}

impl Report {
    fn empty() -> Report {
        Report {
            kind: Kind::None,
            recipients: Vec::new(),
            original: None,
            feedback_type: None,
            source_ip: None,
            arrival_date: None,
            user_agent: None,
        }
    }

    /// Sets `kind` from the recipients.
    fn settle_kind(&mut self) {
        let has = |kind: Kind| self.recipients.iter().any(|r| r.kind == kind);
        self.kind = if has(Kind::Complaint) {
            Kind::Complaint
        } else if has(Kind::Hard) {
            Kind::Hard
        } else if has(Kind::Soft) {
            Kind::Soft
        } else {
            Kind::None
        };
    }
}

/// Parses one inbound message. Never panics; anything unreadable gives a report of kind None.
pub fn parse(raw: &[u8]) -> Report {
    parse_at(raw, 0)
}

/// Levels of forwarded bounces (a bounce attached to another message) looked into.
const MAX_FORWARDS: usize = 2;

fn parse_at(raw: &[u8], depth: usize) -> Report {
    let raw = &raw[..raw.len().min(MAX_INPUT)];
    let Some(view) = message::view(raw) else {
        return Report::empty();
    };
    let mut report = read(&view, false);
    if report.recipients.is_empty()
        && depth < MAX_FORWARDS
        && let Some(nested) = &view.nested
    {
        let inner = parse_at(nested, depth + 1);
        if !inner.recipients.is_empty() {
            return inner;
        }
    }
    if report.recipients.is_empty() {
        report = read(&view, true);
    }
    if report.original.is_none() {
        report.original = original(&view);
    }
    // A recipient is never of kind None; those are dropped (success notices).
    report.recipients.retain(|r| r.kind != Kind::None);
    report.settle_kind();
    report
}

/// Picks the format and reads the recipients. `guess_from_to`: when a bounce's text names no
/// recipient, take the returned message's To.
fn read(view: &View, guess_from_to: bool) -> Report {
    if let Some(feedback) = view.feedback.first() {
        return read_arf(view, &parse_fields(feedback));
    }
    for text in &view.texts {
        if let Some(report) = ses::parse(text) {
            return report;
        }
    }
    let mut dsn_fields: Vec<Vec<Field>> = view
        .delivery_status
        .iter()
        .map(|text| parse_fields(text))
        .collect();
    if dsn_fields.is_empty() {
        // Some services paste the DSN fields into the text part.
        dsn_fields = view
            .texts
            .iter()
            .filter(|t| has_line_starting(t, "final-recipient:"))
            .map(|t| parse_fields(t))
            .collect();
    }
    let dsn: Vec<dsn::DsnRecipient> = dsn_fields.iter().flat_map(|f| dsn::recipients(f)).collect();
    if !dsn.is_empty() {
        return read_dsn(view, &dsn);
    }
    if signs::is_auto_reply(view) && !signs::looks_like_bounce(view) {
        return Report::empty();
    }
    if !signs::looks_like_bounce(view) {
        return Report::empty();
    }
    read_text(view, guess_from_to)
}

fn read_arf(view: &View, fields: &[Field]) -> Report {
    let feedback = arf::read(fields);
    let mut report = Report::empty();
    let mut addresses: Vec<Option<String>> =
        feedback.recipients.iter().cloned().map(Some).collect();
    if addresses.is_empty() {
        let to = view
            .original
            .as_deref()
            .and_then(|o| first(o, "to"))
            .and_then(address_in);
        addresses.push(to);
    }
    report.recipients = addresses
        .into_iter()
        .map(|address| Recipient {
            address,
            status: None,
            kind: Kind::Complaint,
            diagnostic: String::new(),
        })
        .collect();
    report.feedback_type = feedback.feedback_type;
    report.source_ip = feedback.source_ip;
    report.arrival_date = feedback.arrival_date;
    report.user_agent = feedback.user_agent;
    report
}

fn read_dsn(view: &View, dsn: &[dsn::DsnRecipient]) -> Report {
    let mut report = Report::empty();
    let senders = senders(view);
    let known: Vec<String> = dsn.iter().filter_map(|r| r.address.clone()).collect();
    // What the human-readable part says about each recipient, for DSNs without Diagnostic-Code
    // and for the SMTP command the refusal answered.
    let from_text = scan_texts(view, &known, &senders);
    let mut unnamed_text = if known.is_empty() {
        scan_texts(view, &[], &senders)
    } else {
        Vec::new()
    }
    .into_iter();
    for r in dsn {
        if r.is_success() {
            continue;
        }
        let mut address = r.address.clone();
        let mut diagnostic = r.diagnostic.clone().unwrap_or_default();
        let mut context = diagnostic.clone();
        let said = match &address {
            Some(a) => from_text
                .iter()
                .find(|t| t.address.eq_ignore_ascii_case(a))
                .cloned(),
            // A Final-Recipient without a usable address: take the text's recipient.
            None => unnamed_text.next(),
        };
        if let Some(said) = said {
            if address.is_none() {
                address = Some(said.address.clone());
            }
            if diagnostic.is_empty() {
                diagnostic = said.diagnostic.clone();
            }
            context.push(' ');
            context.push_str(&said.context);
        }
        let status = status::choose_status(r.status.as_deref(), &diagnostic);
        // The Status field's comment ("5.2.1 (mailbox disabled)") is part of the diagnosis.
        let judged = match &r.status_comment {
            Some(comment) => format!("{diagnostic} {comment}"),
            None => diagnostic.clone(),
        };
        let command = patterns::command_for(address.as_deref(), &diagnostic, &context);
        let mut kind = patterns::classify_after(status.as_deref(), &judged, command);
        if r.action.as_deref() == Some("delayed")
            && kind == Kind::Hard
            && !status_is_permanent(&status)
        {
            kind = Kind::Soft;
        }
        report.recipients.push(Recipient {
            address,
            status,
            kind,
            diagnostic: clean_diagnostic(&diagnostic),
        });
    }
    report
}

fn status_is_permanent(status: &Option<String>) -> bool {
    status
        .as_deref()
        .is_some_and(|s| s.starts_with('5') || s.starts_with("4.1.1"))
}

/// Scans every text part; recipients come from the first part that names any, and their
/// diagnostics gather what every part says about them.
fn scan_texts(
    view: &View,
    known: &[String],
    senders: &HashSet<String>,
) -> Vec<text::TextRecipient> {
    let mut found: Vec<text::TextRecipient> = Vec::new();
    for body in &view.texts {
        let more = text::scan(body, known, senders);
        if found.is_empty() {
            found = more;
            continue;
        }
        for m in more {
            if let Some(f) = found
                .iter_mut()
                .find(|f| f.address.eq_ignore_ascii_case(&m.address))
                && m.diagnostic.len() + f.diagnostic.len() < 8192
            {
                f.diagnostic.push(' ');
                f.diagnostic.push_str(&m.diagnostic);
                f.context.push(' ');
                f.context.push_str(&m.context);
            }
        }
    }
    found
}

fn read_text(view: &View, guess_from_to: bool) -> Report {
    let mut report = Report::empty();
    let senders = senders(view);
    let failed_header: Vec<String> = view
        .headers
        .iter()
        .filter(|f| f.name == "x-failed-recipients")
        .flat_map(|f| find_addresses(&f.value))
        .map(|f| f.address)
        .take(text::MAX_RECIPIENTS)
        .collect();
    let mut found = scan_texts(view, &[], &senders);
    if found.is_empty() && !failed_header.is_empty() {
        found = scan_texts(view, &failed_header, &senders);
    }
    if found.is_empty() && guess_from_to {
        // Nothing names a recipient: the returned message's To is the one that failed.
        let to = view
            .original
            .as_deref()
            .and_then(|o| first(o, "to"))
            .map(str::to_string)
            .or_else(|| original(view).and_then(|o| o.to))
            .and_then(|to| address_in(&to));
        if let Some(to) = to {
            found = scan_texts(view, std::slice::from_ref(&to), &senders);
        }
    }
    // Recipients often share one diagnostic (the whole text): judge each distinct one once.
    type Judged = (Option<String>, Kind);
    let mut judged: std::collections::HashMap<(String, Option<patterns::Command>), Judged> =
        std::collections::HashMap::new();
    for r in found {
        let command = patterns::command_for(Some(&r.address), &r.diagnostic, &r.context);
        let (status, kind) = judged
            .entry((r.diagnostic.clone(), command))
            .or_insert_with(|| {
                let status = status::choose_status(None, &r.diagnostic);
                let kind = patterns::classify_after(status.as_deref(), &r.diagnostic, command);
                (status, kind)
            })
            .clone();
        report.recipients.push(Recipient {
            address: Some(r.address),
            status,
            kind,
            diagnostic: clean_diagnostic(&r.diagnostic),
        });
    }
    report
}

/// Addresses that are never failed recipients: the bounce's From and the returned message's From,
/// Sender, Reply-To and Return-Path, whether in a MIME part or quoted after the bounce text.
/// Lowercase. (The bounce's
/// own To is the sender too, but anonymised samples reuse it for the recipient, so it is not
/// trusted.)
fn senders(view: &View) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut add = |value: &str| {
        for found in find_addresses(value).into_iter().take(32) {
            out.insert(found.address.to_ascii_lowercase());
        }
    };
    // The bounce's own From (MAILER-DAEMON, postmaster) is not a recipient either.
    if let Some(from) = view.header("from") {
        add(from);
    }
    if let Some(original) = &view.original {
        for field in original.iter().take(200) {
            if matches!(
                field.name.as_str(),
                "from" | "sender" | "reply-to" | "return-path"
            ) {
                add(&field.value);
            }
        }
    }
    for body in &view.texts {
        let rest = &body[text::bounce_part(body).len()..];
        for field in parse_fields(fields::truncate_at_char(rest, 64 * 1024))
            .iter()
            .take(200)
        {
            if matches!(
                field.name.as_str(),
                "from" | "sender" | "reply-to" | "return-path"
            ) {
                add(&field.value);
            }
        }
    }
    out
}

/// The returned message's headers: from its own MIME part, or else quoted after the bounce text.
fn original(view: &View) -> Option<Original> {
    let (fields, subject) = match &view.original {
        Some(fields) => (fields.clone(), view.original_subject.clone()),
        None => {
            let body = view.texts.first()?;
            let rest = &body[text::bounce_part(body).len()..];
            (
                parse_fields(fields::truncate_at_char(rest, 64 * 1024)),
                None,
            )
        }
    };
    let get = |name: &str| first(&fields, name).map(str::to_string);
    let original = Original {
        message_id: get("message-id").map(|m| strip_angles(&m)),
        return_path: get("return-path").map(|m| strip_angles(&m)),
        from: get("from"),
        to: get("to"),
        subject: subject.or_else(|| get("subject")),
    };
    let empty = original.message_id.is_none()
        && original.return_path.is_none()
        && original.from.is_none()
        && original.to.is_none()
        && original.subject.is_none();
    (!empty).then_some(original)
}

/// One line, trimmed, at most [`MAX_DIAGNOSTIC`] bytes.
pub(crate) fn clean_diagnostic(text: &str) -> String {
    let line = text::one_line(text);
    fields::truncate_at_char(&line, MAX_DIAGNOSTIC)
        .trim()
        .to_string()
}

fn has_line_starting(text: &str, prefix: &str) -> bool {
    text.lines().take(2000).any(|l| {
        l.len() >= prefix.len()
            && l.is_char_boundary(prefix.len())
            && l[..prefix.len()].eq_ignore_ascii_case(prefix)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_none() {
        for raw in [&b""[..], b"\xff\xfe", b"Subject: hi\r\n\r\nhello"] {
            let report = parse(raw);
            assert_eq!(report.kind, Kind::None);
            assert!(report.recipients.is_empty());
        }
    }

    #[test]
    fn kind_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&Kind::Complaint).expect("serializes"),
            "\"complaint\""
        );
    }

    #[test]
    fn dsn_round_trip() {
        let raw = b"From: MAILER-DAEMON@x.example\r\nTo: s@x.example\r\nSubject: Undelivered Mail\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x.example\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nAction: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: smtp; 550 5.1.1 <a@b.example>: Recipient address rejected: User unknown\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m1@x.example>\r\nReturn-Path: <b-1-t@x.example>\r\nSubject: Hello\r\n--b--\r\n";
        let report = parse(raw);
        assert_eq!(report.kind, Kind::Hard);
        assert_eq!(report.recipients.len(), 1);
        let r = &report.recipients[0];
        assert_eq!(r.address.as_deref(), Some("a@b.example"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        let original = report.original.expect("headers part");
        assert_eq!(original.message_id.as_deref(), Some("m1@x.example"));
        assert_eq!(original.return_path.as_deref(), Some("b-1-t@x.example"));
        assert_eq!(original.subject.as_deref(), Some("Hello"));
    }
}
