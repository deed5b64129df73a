//! Signs read from a message's headers and opening words: whether it is an RFC 3834
//! auto-reply, and whether it looks like a bounce at all (the free-text scanner runs only on those,
//! so ordinary mail never yields recipients).

use crate::fields::truncate_at_char;
use crate::message::View;

/// RFC 3834 auto-replies and vacation notices (checked only when no report part is present).
pub(crate) fn is_auto_reply(view: &View) -> bool {
    let auto_submitted = view
        .header("auto-submitted")
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("auto-replied"));
    let marked = [
        "x-autoreply",
        "x-autorespond",
        "x-autoresponder",
        "x-vacation",
    ]
    .iter()
    .any(|h| view.header(h).is_some())
        || view
            .header("precedence")
            .is_some_and(|v| v.eq_ignore_ascii_case("auto_reply"));
    let subject = view.subject.to_ascii_lowercase();
    let subject_says = [
        "auto:",
        "auto reply",
        "auto-reply",
        "autoreply",
        "automatic reply",
        "automatische antwort",
        "out of office",
        "out of the office",
        "vacation",
        "away from",
        "absence",
        "abwesenheit",
    ]
    .iter()
    .any(|s| subject.contains(s));
    auto_submitted || marked || subject_says
}

/// True when the sender, subject or opening words say "delivery failed".
pub(crate) fn looks_like_bounce(view: &View) -> bool {
    if view.header("x-failed-recipients").is_some() || view.content_type == "multipart/report" {
        return true;
    }
    let from = view.header("from").unwrap_or_default().to_ascii_lowercase();
    let from_daemon = [
        "mailer-daemon",
        "mailer_daemon",
        "mailerdaemon",
        "mail-daemon",
        "maildaemon",
        "postmaster",
        "mail delivery",
        "mail.delivery",
        "delivery subsystem",
        "ndr administrator",
    ]
    .iter()
    .any(|s| from.contains(s));
    if from_daemon {
        return true;
    }
    let subject = view.subject.to_ascii_lowercase();
    const SUBJECT: &[&str] = &[
        "undeliver",
        "undelivered",
        "delivery fail",
        "delivery status notification",
        "failure notice",
        "returned mail",
        "returned to sender",
        "returning message",
        "delivery failure",
        "failed delivery",
        "failure delivery",
        "could not be delivered",
        "non-delivery",
        "nondelivery",
        "non delivery",
        "delivery problem",
        "mail system error",
        "not delivered",
        "delivery notification",
        "has failed",
        "error sending",
        "mail failure",
        "delayed",
        "loop alert",
    ];
    if SUBJECT.iter().any(|s| subject.contains(s)) {
        return true;
    }
    let opening = view
        .texts
        .first()
        .map(|t| truncate_at_char(t, 4096).to_ascii_lowercase())
        .unwrap_or_default();
    const OPENING: &[&str] = &[
        "could not be delivered",
        "couldn't be delivered",
        "undeliverable",
        "unable to deliver",
        "was not delivered",
        "did not reach",
        "delivery failed",
        "delivery has failed",
        "failed permanently",
        "permanent error",
        "permanent failure",
        "not be delivered",
        "delivery to the following",
        "error delivering",
        "trouble delivering",
        "could not deliver",
        "has not yet been delivered",
        "delivery failure",
    ];
    OPENING.iter().any(|s| opening.contains(s))
}
