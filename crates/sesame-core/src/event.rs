//! Events: what happened to a delivery after the API answered, in the shape of Tencent's email
//! event notification (SES-REFERENCE §12.2). This module names the kinds and builds the JSON
//! body a callback receives; the store queues that body, the webhook worker posts it.
//! No I/O here.

use base64::Engine;
use serde_json::{Map, Value, json};

/// An event kind with Tencent's `event` name and `eventid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The remote server accepted the mail.
    Delivered,
    /// Not sent: refused at submit (black list, frequency) or expired in the queue.
    Dropped,
    /// The remote side rejected the mail, during delivery or later by DSN.
    Bounce,
    /// The recipient opened the mail (tracking pixel).
    Open,
    /// The recipient followed a tracked link.
    Click,
    /// The recipient complained (ARF report).
    SpamReport,
    /// The recipient unsubscribed.
    Unsubscribe,
    /// A temporary failure; the delivery is retried.
    Deferred,
}

impl EventKind {
    /// The `event` field.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Delivered => "delivered",
            EventKind::Dropped => "dropped",
            EventKind::Bounce => "bounce",
            EventKind::Open => "open",
            EventKind::Click => "click",
            EventKind::SpamReport => "spamreport",
            EventKind::Unsubscribe => "unsubscribe",
            EventKind::Deferred => "deferred",
        }
    }

    /// The `eventid` field.
    pub fn id(self) -> i64 {
        match self {
            EventKind::Delivered => 1,
            EventKind::Dropped => 2,
            EventKind::Bounce => 3,
            EventKind::Open => 4,
            EventKind::Click => 5,
            EventKind::SpamReport => 6,
            EventKind::Unsubscribe => 7,
            EventKind::Deferred => 8,
        }
    }
}

/// One event about one delivery, as a callback receiver gets it.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub kind: EventKind,
    /// The recipient.
    pub email: &'a str,
    /// The API MessageId (`bulkId`).
    pub bulk_id: &'a str,
    /// The RFC 5322 Message-ID, without `<>` (`messageId`).
    pub header_message_id: &'a str,
    /// When it happened, Unix seconds.
    pub timestamp: i64,
    /// When the message was submitted, Unix seconds.
    pub sent_timestamp: i64,
    /// The AppId (`username`, sent as a string).
    pub account_id: i64,
    /// The sender address, without display name.
    pub from: &'a str,
    pub subject: &'a str,
    pub template_id: Option<i64>,
    /// Batch task (BatchSendEmail only).
    pub task_id: Option<i64>,
    /// Why (dropped, bounce, deferred): the remote reply or our refusal.
    pub reason: Option<&'a str>,
    /// `hard_bounce` (the address is bad) or `soft_bounce` (bounce only).
    pub hard_bounce: Option<bool>,
    /// The followed URL (click only).
    pub link: Option<&'a str>,
    /// The client's User-Agent (open and click).
    pub user_agent: Option<&'a str>,
}

impl Event<'_> {
    /// The JSON body posted to the callback URL.
    pub fn to_json(&self) -> String {
        let from_domain = self.from.rsplit_once('@').map_or("", |(_, d)| d);
        let mut body = json!({
            "event": self.kind.name(),
            "eventid": self.kind.id(),
            "email": self.email,
            "bulkId": self.bulk_id,
            "messageId": self.header_message_id,
            "timestamp": self.timestamp,
            "sentTimestamp": self.sent_timestamp,
            "username": self.account_id.to_string(),
            "from": self.from,
            "fromDomain": from_domain,
            "templateId": self.template_id.unwrap_or(0),
            "subject": encode_subject(self.subject),
        });
        let map: &mut Map<String, Value> = body.as_object_mut().expect("a JSON object");
        if let Some(reason) = self.reason {
            map.insert("reason".into(), reason.into());
        }
        if let Some(hard) = self.hard_bounce {
            let kind = if hard { "hard_bounce" } else { "soft_bounce" };
            map.insert("bounceType".into(), kind.into());
        }
        if let Some(link) = self.link {
            map.insert("link".into(), link.into());
        }
        if let Some(agent) = self.user_agent {
            map.insert("useragent".into(), agent.into());
        }
        if let Some(task) = self.task_id {
            map.insert("taskId".into(), task.into());
        }
        body.to_string()
    }
}

/// The subject as Tencent sends it: ASCII as is, anything else as one RFC 2047 encoded word
/// (UTF-8, base64).
fn encode_subject(subject: &str) -> String {
    if subject.is_ascii() {
        return subject.to_string();
    }
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(subject)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> Event<'static> {
        Event {
            kind,
            email: "ok@rcpt.test",
            bulk_id: "qcloudses-30-1000001-date-20260101000000-abc",
            header_message_id: "x@from.test",
            timestamp: 20,
            sent_timestamp: 10,
            account_id: 1_000_001,
            from: "noreply@from.test",
            subject: "Hi",
            template_id: Some(7),
            task_id: None,
            reason: None,
            hard_bounce: None,
            link: None,
            user_agent: None,
        }
    }

    fn check(event: &Event<'_>, expected: Value) {
        let got: Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn delivered_and_bounce_bodies() {
        check(
            &event(EventKind::Delivered),
            json!({"event": "delivered", "eventid": 1, "email": "ok@rcpt.test",
                   "bulkId": "qcloudses-30-1000001-date-20260101000000-abc", "messageId": "x@from.test",
                   "timestamp": 20, "sentTimestamp": 10, "username": "1000001",
                   "from": "noreply@from.test", "fromDomain": "from.test", "templateId": 7,
                   "subject": "Hi"}),
        );
        let mut bounce = event(EventKind::Bounce);
        bounce.reason = Some("550 5.1.1 user unknown");
        bounce.hard_bounce = Some(true);
        bounce.subject = "你好";
        bounce.template_id = None;
        let got: Value = serde_json::from_str(&bounce.to_json()).unwrap();
        assert_eq!(got["eventid"], 3);
        assert_eq!(got["bounceType"], "hard_bounce");
        assert_eq!(got["reason"], "550 5.1.1 user unknown");
        assert_eq!(got["subject"], "=?UTF-8?B?5L2g5aW9?=");
        assert_eq!(got["templateId"], 0);
    }

    #[test]
    fn ids_follow_tencent() {
        use EventKind::*;
        let kinds = [
            Delivered,
            Dropped,
            Bounce,
            Open,
            Click,
            SpamReport,
            Unsubscribe,
            Deferred,
        ];
        let ids: Vec<i64> = kinds.iter().map(|k| k.id()).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
