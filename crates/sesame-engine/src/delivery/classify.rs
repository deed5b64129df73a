//! Turns SMTP replies and session failures into per-recipient outcomes, and decides whether a
//! permanent failure is a hard bounce (the address or its domain does not exist).
//!
//! Pure functions, no I/O. The same `is_hard_bounce` rule is meant for asynchronous DSNs too, so
//! a 5xx seen during delivery and the same text arriving later in a bounce agree. Anything not
//! recognised counts as temporary (deferred) or, for a 5xx, as a soft bounce: only positive
//! evidence that an address is bad may suppress it.

use super::smtp::{Reply, SendReport};

/// What happened to one recipient of one message. A delivery result is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiving server took responsibility for the message (its 2xx reply to DATA).
    Delivered(Reply),
    /// A temporary failure (4xx, timeout, refused connection, TLS or I/O error, DNS trouble): try
    /// again later. The string says why, for the log and the attempt record.
    Deferred(String),
    /// A permanent failure (5xx, or the domain does not accept mail). `hard` is true only when the
    /// address or its domain does not exist; policy, spam, size and full-mailbox rejections are
    /// soft.
    Bounced { reason: String, hard: bool },
}

impl Outcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered(_))
    }

    pub fn is_deferred(&self) -> bool {
        matches!(self, Outcome::Deferred(_))
    }

    pub fn is_bounced(&self) -> bool {
        matches!(self, Outcome::Bounced { .. })
    }
}

/// The outcome a final reply means: 2xx delivered, 5xx bounced, anything else deferred.
pub fn classify_reply(reply: &Reply) -> Outcome {
    if reply.is_positive() {
        Outcome::Delivered(reply.clone())
    } else if reply.is_permanent() {
        let status = reply.enhanced_status();
        Outcome::Bounced {
            reason: reply.to_string(),
            hard: is_hard_bounce(status.as_deref(), &reply.text),
        }
    } else {
        Outcome::Deferred(reply.to_string())
    }
}

/// The outcome for each of `recipients` (in order) after one `SmtpClient::send`.
///
/// A rejected MAIL FROM applies to every recipient, and is never a hard bounce: it says nothing
/// about the recipient's address. A recipient accepted at RCPT takes the DATA reply. A recipient
/// left without a final reply because the session broke is deferred.
pub fn classify_report(recipients: &[String], report: &SendReport) -> Vec<(String, Outcome)> {
    let broken_reason = || match &report.broken {
        Some(error) => error.to_string(),
        None => "no reply from the server".to_owned(),
    };
    if let Some(mail_from) = report
        .mail_from
        .as_ref()
        .filter(|reply| !reply.is_positive())
    {
        let outcome = match classify_reply(mail_from) {
            Outcome::Bounced { reason, .. } => Outcome::Bounced {
                reason,
                hard: false,
            },
            other => other,
        };
        return recipients
            .iter()
            .map(|recipient| (recipient.clone(), outcome.clone()))
            .collect();
    }
    recipients
        .iter()
        .enumerate()
        .map(|(index, recipient)| {
            let rcpt_reply = report
                .per_recipient
                .get(index)
                .filter(|(address, _)| address == recipient)
                .map(|(_, reply)| reply);
            let outcome = match (rcpt_reply, &report.data) {
                (None, _) => Outcome::Deferred(broken_reason()),
                (Some(reply), _) if !reply.is_positive() => classify_reply(reply),
                (Some(_), Some(data)) => classify_reply(data),
                (Some(_), None) => Outcome::Deferred(broken_reason()),
            };
            (recipient.clone(), outcome)
        })
        .collect()
}

/// Enhanced status codes (subject.detail, RFC 3463) that say the address or its domain does not
/// exist, whatever the class: bad mailbox (1.1), bad system (1.2), bad syntax (1.3), moved (1.6),
/// null MX (1.10, RFC 7505) and no route / host not found (4.4).
const HARD_STATUS: &[(u16, u16)] = &[(1, 1), (1, 2), (1, 3), (1, 6), (1, 10), (4, 4)];

/// Phrases that show the failure is about something other than the address existing: the
/// sender, policy, content, size, a full or locked mailbox. They win over everything else,
/// because servers often pair them with a misleading status (Office 365 "5.1.0 Unknown address
/// error ... 5.2.2 Mailbox Full", Cox "5.1.0 sender rejected", rate limits under 5.1.1).
const SOFT_PHRASES: &[&str] = &[
    "sender",
    "mailbox full",
    "mailbox is full",
    "full mailbox",
    "over quota",
    "quota",
    "insufficient storage",
    "too many",
    "rate limit",
    "preferences",
    "spam",
    "blacklist",
    "blocklist",
    "black list",
    "block list",
    "blocked",
    "policy",
    "spf",
    "dkim",
    "dmarc",
    "reputation",
    "too big",
    "too large",
    "size limit",
    "exceeds",
    "virus",
    "relay access denied",
    "relaying denied",
    "not permitted to relay",
    "relay not permitted",
    "malformed",
    "temporar",
    "greylist",
    "try again later",
    "authenticat",
    "reverse dns",
    "content",
    "locked",
    "access denied",
    "disabled",
    "suspended",
    "inactive",
];

/// Phrases that say the address or its domain does not exist.
const HARD_PHRASES: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such address",
    "no such domain",
    "mailbox not found",
    "mailbox does not exist",
    "mailbox unavailable",
    "user does not exist",
    "user doesn't exist",
    "user not found",
    "recipient not found",
    "recipnotfound",
    "recipientnotfound",
    "recipient unknown",
    "unknown recipient",
    "unknown address",
    "unknown mailbox",
    "invalid recipient",
    "invalid mailbox",
    "invalid address",
    "address rejected",
    "does not exist",
    "doesn't have a",
    "not our user",
    "no longer on server",
    "no longer available",
    "bad destination mailbox",
    "host not found",
    "domain not found",
    "domain is not reachable",
    "does not accept mail",
    "unrouteable address",
    "unroutable address",
];

/// Whether a permanent failure means the address or its domain does not exist (a hard bounce,
/// which suppresses the address), as opposed to a rejection for policy, content, spam, size or
/// a full mailbox (soft: the address itself is not known to be bad).
///
/// `status` is the enhanced status code ("5.1.1") when known; when it is `None` the first code
/// found in `text` is used. Text wins over the code: soft phrases first ("sender", "quota",
/// "spam" ...), then hard phrases ("user unknown", "does not exist" ...), then the code
/// (x.1.1, x.1.2, x.1.3, x.1.6, x.1.10, x.4.4). Checked against the bounce corpus in
/// `testdata/bounces`: the remaining disagreements are Sisimai calling a plain "550 User
/// unknown" after DATA "filtered", which a sender cannot tell apart.
pub fn is_hard_bounce(status: Option<&str>, text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    if SOFT_PHRASES.iter().any(|phrase| text.contains(phrase)) {
        return false;
    }
    if HARD_PHRASES.iter().any(|phrase| text.contains(phrase)) {
        return true;
    }
    let status = status
        .and_then(parse_status)
        .or_else(|| find_status_in(&text));
    matches!(status, Some((_, subject, detail)) if HARD_STATUS.contains(&(subject, detail)))
}

/// Parses an RFC 3463 status "class.subject.detail" with class 2, 4 or 5.
pub(crate) fn parse_status(status: &str) -> Option<(u8, u16, u16)> {
    let mut parts = status.trim().splitn(3, '.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let is_short_number = |part: &str| {
        !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit())
    };
    if !matches!(class, 2 | 4 | 5) || !is_short_number(subject) || !is_short_number(detail) {
        return None;
    }
    Some((class, subject.parse().ok()?, detail.parse().ok()?))
}

/// The first token of `text` that is an enhanced status code, like `#5.1.0` or `5.1.1`.
fn find_status_in(text: &str) -> Option<(u8, u16, u16)> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '#' | '(' | ')' | '\'' | ',' | ';' | ':'))
        .find_map(parse_status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Option<&str>, text: &str, expected_hard: bool) {
        assert_eq!(
            is_hard_bounce(status, text),
            expected_hard,
            "status {status:?}, text {text:?}"
        );
    }

    #[test]
    fn addresses_that_do_not_exist_are_hard() {
        let cases = [
            (
                Some("5.1.1"),
                "<neko@example.co.jp>: Recipient address rejected: User unknown in virtual mailbox table",
            ),
            (Some("5.1.1"), "user unknown"),
            (Some("5.1.1"), "RESOLVER.ADR.RecipNotFound; not found"),
            (None, "<otsu@ezweb.ne.jp>: User unknown"),
            (
                Some("5.1.351"),
                "Remote server returned unknown recipient or mailbox unavailable -> 550 Unknown user a@example.ne.jp",
            ),
            (
                Some("5.1.10"),
                "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            ),
            (
                None,
                "The mail could not be delivered to the recipient because the domain is not reachable. Please check the domain and try again",
            ),
            (
                Some("4.1.1"),
                "<kijitora@example.org>: Recipient address rejected: User unknown in virtual alias table",
            ),
            (Some("5.2.1"), "<kijitora@example.jp>... User Unknown"),
            (
                Some("5.1.1"),
                "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos",
            ),
            (Some("5.1.1"), "Mailbox does not exist"),
            (Some("5.1.6"), "not our user"),
            (
                Some("5.1.1"),
                "Requested action not taken: mailbox unavailable",
            ),
            (
                None,
                "delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0]",
            ),
            (
                Some("5.1.1"),
                "Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]",
            ),
            (None, "Host does not accept mail"),
            (None, "#5.1.0 Address rejected."),
            (
                Some("5.4.4"),
                "Host or domain name not found. Name service error for name=example.jp type=A: Host not found",
            ),
            (
                Some("5.1.6"),
                "recipient no longer on server: kijitora@example.jp",
            ),
            (
                Some("5.1.1"),
                "<test@privaterelay.appleid.com>: user not found",
            ),
            (
                Some("5.1.1"),
                "User does not exist - <kijitora@zoho.example.com>",
            ),
            (
                None,
                "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table",
            ),
            (None, "No such user here"),
            (Some("5.1.1"), ""),
            (Some("5.1.2"), "bad destination system"),
            (Some("5.1.3"), "bad recipient address syntax"),
            (Some("5.1.10"), "recipient address has null MX"),
            (
                None,
                "5.1.1 The email account that you tried to reach does not exist.",
            ),
        ];
        for (status, text) in cases {
            check(status, text, true);
        }
    }

    #[test]
    fn policy_content_and_capacity_rejections_are_soft() {
        let cases = [
            (Some("5.1.8"), "Sender address rejected"),
            (
                Some("5.1.0"),
                "192.0.2.222 is not allowed to send from <example.net> per it's SPF Record",
            ),
            (
                Some("5.1.8"),
                "<root@vagrant.example>... Domain of sender address root@vagrant.example does not exist",
            ),
            (
                Some("5.4.4"),
                "Name service error for name=example.org type=MX: Malformed or unexpected name server reply",
            ),
            (
                Some("5.1.0"),
                "<bounce@mailer.example.com> sender rejected. Refer to Error Codes section",
            ),
            (
                Some("5.1.1"),
                "RCP-P2 http://postmaster.facebook.com/response_codes Refused due to recipient preferences",
            ),
            (
                Some("5.1.1"),
                "<kijitora@example.com> - 203.0.113.222 has sent to too many recipients this hour. IB607",
            ),
            (Some("5.2.2"), "<kijitora@example.jp>... Mailbox Full"),
            (
                None,
                "5.1.0 - Unknown address error 550-'5.2.2 <kijitora@example.jp>... Mailbox Full'",
            ),
            (
                Some("5.7.1"),
                "<kijitora@example.com>: Recipient address rejected: User kijitora@example.com temporary locked. Please try again later!",
            ),
            (Some("5.2.2"), "mailbox full"),
            (
                Some("5.7.1"),
                "Message rejected as spam by Content Filtering.",
            ),
            (
                Some("5.7.1"),
                "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
            ),
            (
                Some("5.7.26"),
                "This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.",
            ),
            (
                Some("5.3.4"),
                "Message size exceeds fixed maximum message size",
            ),
            (Some("5.2.3"), "Message too big"),
            (Some("5.7.1"), "Relay access denied"),
            (
                Some("5.7.0"),
                "Our system has detected that this message is likely unsolicited mail.",
            ),
            (
                Some("5.2.1"),
                "The email account that you tried to reach is disabled.",
            ),
            (Some("5.7.9"), "Message not accepted for policy reasons"),
            (None, "Requested action aborted: local error in processing"),
            (Some("5.5.0"), ""),
            (Some("5.0.0"), "Service unavailable"),
            (None, ""),
        ];
        for (status, text) in cases {
            check(status, text, false);
        }
    }

    #[test]
    fn the_status_is_found_in_the_text_when_not_given() {
        check(None, "550 5.1.1 <a@example.test>... refused", true);
        check(None, "550 #5.1.2 host unknown", true);
        check(None, "550 5.7.1 refused", false);
        check(Some("x.y.z"), "refused", false);
        assert_eq!(parse_status("5.1.10"), Some((5, 1, 10)));
        assert_eq!(parse_status("3.1.1"), None);
        assert_eq!(parse_status("5.1"), None);
    }

    fn reply(code: u16, enhanced: Option<(u8, u16, u16)>, text: &str) -> Reply {
        Reply {
            code,
            enhanced,
            text: text.to_owned(),
        }
    }

    #[test]
    fn replies_map_to_outcomes() {
        assert!(classify_reply(&reply(250, Some((2, 0, 0)), "ok")).is_delivered());
        assert!(classify_reply(&reply(451, Some((4, 3, 0)), "try later")).is_deferred());
        assert!(classify_reply(&reply(421, None, "closing")).is_deferred());
        assert_eq!(
            classify_reply(&reply(550, Some((5, 1, 1)), "user unknown")),
            Outcome::Bounced {
                reason: "550 5.1.1 user unknown".to_owned(),
                hard: true
            }
        );
        assert_eq!(
            classify_reply(&reply(552, Some((5, 2, 2)), "mailbox full")),
            Outcome::Bounced {
                reason: "552 5.2.2 mailbox full".to_owned(),
                hard: false
            }
        );
        // Unexpected classes count as temporary.
        assert!(classify_reply(&reply(354, None, "go ahead")).is_deferred());
    }

    #[test]
    fn a_report_gives_each_recipient_its_outcome() {
        let recipients = vec![
            "ok@example.test".to_owned(),
            "nouser@example.test".to_owned(),
            "lost@example.test".to_owned(),
        ];
        let report = SendReport {
            mail_from: Some(reply(250, None, "ok")),
            per_recipient: vec![
                (recipients[0].clone(), reply(250, None, "ok")),
                (recipients[1].clone(), reply(550, Some((5, 1, 1)), "no")),
            ],
            data: Some(reply(250, None, "queued")),
            broken: None,
        };
        let outcomes = classify_report(&recipients, &report);
        assert!(outcomes[0].1.is_delivered());
        assert!(matches!(outcomes[1].1, Outcome::Bounced { hard: true, .. }));
        assert!(outcomes[2].1.is_deferred());

        let rejected_sender = SendReport {
            mail_from: Some(reply(550, Some((5, 1, 1)), "no such user")),
            per_recipient: Vec::new(),
            data: None,
            broken: None,
        };
        for (_, outcome) in classify_report(&recipients, &rejected_sender) {
            assert!(matches!(outcome, Outcome::Bounced { hard: false, .. }));
        }
    }
}
