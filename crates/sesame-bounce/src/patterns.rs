//! Reading a remote server's words: enhanced status codes (RFC 3463) found in free text, and the
//! table of diagnostic phrases that decides whether a failure means the address itself is bad
//! (hard) or anything else (soft). Pure string work, linear in the text; no allocation beyond one
//! lowercase copy.

use crate::Kind;
use crate::status::parse_status;

/// Why a failure happened, coarsely: the bucket a diagnostic phrase falls into. Only
/// [`Reason::is_hard`] reasons (the address, its domain or its MX are bad) make a hard bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The mailbox does not exist.
    UserUnknown,
    /// The recipient's domain does not exist.
    HostUnknown,
    /// The address moved away (RFC 3463 X.1.6).
    HasMoved,
    /// The domain accepts no mail at all (RFC 7505 null MX).
    NotAccept,
    /// The mailbox exists but is full.
    MailboxFull,
    /// The mailbox exists but is disabled or suspended.
    Suspend,
    /// The sender, its IP, its authentication or its content was refused; rate limits; relaying.
    Policy,
    /// Time-outs, network and system trouble, messages that expired in a queue.
    Temporary,
}

impl Reason {
    /// True for the reasons that say the recipient address itself is bad.
    pub(crate) fn is_hard(self) -> bool {
        matches!(
            self,
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved | Reason::NotAccept
        )
    }
}

/// Bytes of a diagnostic that the phrase table looks at: what a server says comes first, and the
/// cap keeps hostile input cheap.
const MAX_JUDGED: usize = 4096;

/// Phrases that say the mailbox is full. Checked before anything else: a full mailbox often comes
/// with a "user" code such as 5.1.1 or 5.2.1 and must stay soft.
const MAILBOX_FULL: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "mailbox quota",
    "mail box full",
    "mailbox size limit",
    "mailbox has exceeded",
    "mailbox exceeded",
    "mailfolder is full",
    "quota exceeded",
    "exceeded storage",
    "storage quota",
    "over quota",
    "overquota",
    "over its quota",
    "exceeds quota",
    "exceeded its quota",
    "disk quota",
    "quota full",
    "user is over",
    "exceeded the local limit",
    "insufficient disk space",
    "mailbox is over",
    "out of storage",
    "is full and cannot accept",
    "inbox is full",
    "mailbox has reached",
    "mailbox size exceeded",
    "insufficient storage",
    "exceeded its storage",
    "storage limit",
];

/// Phrases that say a mailbox exists but is switched off.
const SUSPEND: &[&str] = &[
    "account disabled",
    "account is disabled",
    "account has been disabled",
    "account is suspended",
    "account has been suspended",
    "account suspended",
    "mailbox disabled",
    "mailbox is disabled",
    "mailbox has been disabled",
    "disabled recipient",
    "recipient disabled",
    "user disabled",
    "user account disabled",
    "account is inactive",
    "inactive account",
    "account inactive",
    "mailbox is inactive",
    "mailbox inactive",
    "is deactivated",
    "has been deactivated",
    "account expired",
    "account is frozen",
    "temporarily disabled",
    "is disabled",
    "account is locked",
    "suspended",
    "account is not active",
    "mailbox is frozen",
    "account has been closed",
];

/// Phrases about the sender, its host, its authentication or its content, about rate limits and
/// relaying: the recipient may well exist, so these are soft whatever code comes with them.
const POLICY: &[&str] = &[
    // Authentication (SPF, DKIM, DMARC).
    "dmarc",
    "authentication checks",
    "unauthenticated",
    "spf check",
    "spf record",
    "spf fail",
    "spf validation",
    "sender policy framework",
    "dkim",
    "not pass",
    // Reputation, block lists.
    "blocked",
    "blocklist",
    "block list",
    "blacklist",
    "black list",
    "banned",
    "denylist",
    "reputation",
    "spamhaus",
    "spamcop",
    "barracuda",
    "listed at",
    "listed on",
    "listed in rbl",
    "dnsbl",
    "rbl",
    "access denied",
    "not allowed to send",
    "not authorized",
    "unauthorized",
    "permission denied",
    "no permission",
    "complaints",
    "recipient preferences",
    // Reverse DNS.
    "reverse dns",
    "reverse lookup",
    "ptr record",
    "rdns",
    "no ptr",
    "reverse-dns",
    "dynamic ip",
    "dialup",
    // Spam, viruses, content.
    "spam",
    "virus",
    "malware",
    "infected",
    "content rejected",
    "message content",
    "header error",
    "message rejected",
    "mail rejected",
    "mail rejete",
    "rejected by policy",
    "policy",
    "rfc 5322",
    "rfc5322",
    "rfc 2822",
    "rfc2822",
    "not compliant",
    "mesg too big",
    "message too big",
    "message too large",
    "too large",
    "size limit",
    "exceeds size",
    "message size",
    "maximum size",
    "message length exceeds",
    // Rate limits.
    "too many",
    "rate limit",
    "ratelimit",
    "rate-limit",
    "rate exceeded",
    "temporarily deferred",
    "unexpected volume",
    "try again later",
    "try later",
    "exceeded the limit",
    "sending limit",
    // Relaying.
    "relaying",
    "relay access denied",
    "relay denied",
    "relay not permitted",
    "unable to relay",
    "not permitted to relay",
    "relay not allowed",
    "open relay",
    "we do not relay",
    // The sender was refused.
    "sender address rejected",
    "domain of sender",
    "sender address",
    "sender rejected",
    "sender was rejected",
    "sender domain",
    "sender verify",
    "invalid sender",
    "sender is not",
    "valid from",
    "mail_from",
    "after mail from",
    "from address",
    "you cannot send",
    "redundant",
    "ip address",
    // Encryption required.
    "starttls",
    "tls required",
    "encryption required",
    "sender denied",
    "not permitted",
    "prohibited",
    "greylist",
];

/// Phrases for temporary trouble: time-outs, network errors, expiry, full or failing systems.
const TEMPORARY: &[&str] = &[
    "timed out",
    "timeout",
    "time out",
    "connection refused",
    "connection reset",
    "connection closed",
    "connection dropped",
    "lost connection",
    "socket error",
    "unable to connect",
    "could not connect",
    "couldn't connect",
    "not responding",
    "not reachable",
    "no route to host",
    "network is unreachable",
    "hop count exceeded",
    "mail loop",
    "loop detected",
    "routing loop",
    "too many hops",
    "expired",
    "in the queue too long",
    "retry time",
    "retry timeout",
    "delivery time expired",
    "could not deliver for",
    "giving up",
    "system error",
    "internal error",
    "internal server error",
    "mailer error",
    "insufficient system",
    "system resources",
    "resources temporarily",
    "temporarily unavailable",
    "temporary failure",
    "temporary error",
    "service unavailable",
    "service not available",
    "server busy",
    "system busy",
    "try again",
    "ldap server",
    "local configuration error",
    "read-only",
    "unable to deliver message after multiple",
    "duplicated message",
    "failed to read",
    "name service error",
    "malformed",
];

/// Phrases that say the domain accepts no mail (RFC 7505 null MX or no MX at all).
const NOT_ACCEPT: &[&str] = &[
    "null mx",
    "no mx record",
    "no mx for",
    "no mail exchanger",
    "find a mail exchanger",
    "indicated no smtp service",
    "does not accept mail",
    "does not accept any mail",
    "accepts no mail",
    "not accept mail",
];

/// Phrases that say the recipient's domain does not exist.
const HOST_UNKNOWN: &[&str] = &[
    "host unknown",
    "unknown host",
    "host not found",
    "hostname not found",
    "domain not found",
    "domain does not exist",
    "domain doesn't exist",
    "domain name not found",
    "no such domain",
    "unknown domain",
    "unrouteable mail domain",
    "unroutable mail domain",
    "couldn't find any host",
    "could not find any host",
    "name or service not known",
    "nxdomain",
    "bad destination system",
    "domain is not valid",
    "domain could not be found",
    "dns lookup failed",
    "no such host",
    "domain is not reachable",
    "does not exist",
];

/// Phrases that say the address moved.
const HAS_MOVED: &[&str] = &[
    "has moved",
    "address has changed",
    "no longer valid",
    "user has moved",
    "mailbox has moved",
    "address has been replaced",
    "has been replaced by",
];

/// Phrases that say the mailbox does not exist.
const USER_UNKNOWN: &[&str] = &[
    "user unknown",
    "unknown user",
    "unknown recipient",
    "recipient unknown",
    "unknown address",
    "address unknown",
    "addressee unknown",
    "unknown local part",
    "unknown local-part",
    "unknown mailbox",
    "mailbox unknown",
    "unknown or illegal",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such account",
    "no such address",
    "no such person",
    "no such local user",
    "no mailbox here",
    "no mailbox by that name",
    "invalid recipient",
    "invalid mailbox",
    "invalid address",
    "invalid user",
    "invalid final delivery",
    "invalid e-mail address",
    "invalid email address",
    "not a valid mailbox",
    "not a valid recipient",
    "not a valid user",
    "is not a known user",
    "recipient not found",
    "recipientnotfound",
    "exrecipnotfound",
    "user not found",
    "mailbox not found",
    "address not found",
    "account not found",
    "mailbox does not exist",
    "mailbox doesn't exist",
    "user does not exist",
    "user doesn't exist",
    "account does not exist",
    "account doesn't exist",
    "address does not exist",
    "address doesn't exist",
    "recipient does not exist",
    "recipient doesn't exist",
    "does not exist here",
    "user not exist",
    "unrouteable address",
    "unroutable address",
    "bad destination mailbox",
    "bad recipient",
    "recipient name is not recognized",
    "not listed in",
    "no valid recipients",
    "address couldn't be found",
    "address could not be found",
    "not our customer",
    "no longer exists",
    "mailbox unavailable or not local",
    "recipient address rejected: access denied",
    "is not a valid",
    "user invalid",
    "user doesn't have a",
    "user does not have a",
    "user is unknown",
    "wasn't found at",
    "was not found at",
    "unknown or invalid",
    "no account by that name",
];

/// Decides hard or soft for one failed recipient from its status code and diagnostic text.
///
/// Order matters, and follows what the status code can and cannot say: a phrase about a full
/// mailbox, a disabled account, the sender, policy or a transient problem wins over a "bad
/// mailbox" code, because servers send 5.1.1 or 5.2.1 with those too; otherwise a status that
/// names a bad address (X.1.1, X.1.2, X.1.6, X.1.10, X.4.4, X.7.27) or a phrase that does makes it
/// hard. Everything else, including unrecognised text, is soft: a soft bounce is never wrongly
/// black-listed.
pub fn classify(status: Option<&str>, diagnostic: &str) -> Kind {
    classify_in_context(status, diagnostic, diagnostic)
}

/// [`classify`] with more of the report's text around the diagnostic (`context`, e.g. the SMTP
/// transcript lines before it), used to tell which SMTP command the server refused.
pub(crate) fn classify_in_context(status: Option<&str>, diagnostic: &str, context: &str) -> Kind {
    classify_after(status, diagnostic, smtp_command(context))
}

/// [`classify`] knowing which SMTP command the refusal answered (see [`smtp_command`]).
pub(crate) fn classify_after(
    status: Option<&str>,
    diagnostic: &str,
    command: Option<Command>,
) -> Kind {
    let reason = reason(status, diagnostic);
    if reason == Reason::UserUnknown && !is_sure_user_unknown(status, diagnostic, command) {
        return Kind::Soft;
    }
    if reason.is_hard() {
        Kind::Hard
    } else {
        Kind::Soft
    }
}

/// Phrases that say outright that the mailbox does not exist, whenever they are said.
const USER_UNKNOWN_OUTRIGHT: &[&str] = &[
    "doesn't have a",
    "does not have a",
    "does not exist",
    "doesn't exist",
    "recipientnotfound",
    "recipient not found",
    "no mailbox here by that name",
];

/// Whether a "user unknown" phrase really means the mailbox does not exist.
///
/// A remote server says "550 User unknown" at RCPT TO for a missing mailbox, but content filters
/// (Japanese mobile carriers, spam gateways) say the same after DATA for mail they refuse, and a
/// bare "550 user unknown" whose SMTP command the report does not name may be either. So it is
/// hard when a code names the address (X.1.1), when the refusal answered RCPT TO, when the words
/// are unambiguous, or when no SMTP reply is quoted at all (the reporting system looked the user
/// up itself: Exchange, Domino, IMail); otherwise soft.
fn is_sure_user_unknown(status: Option<&str>, diagnostic: &str, command: Option<Command>) -> bool {
    // X.1.X is about addresses (RFC 3463 section 3.2); X.1.7 to X.1.9 are about the sender's.
    let coded = status
        .and_then(parse_status)
        .is_some_and(|(_, subject, detail)| subject == 1 && !matches!(detail, 7..=9));
    let lower = crate::fields::truncate_at_char(diagnostic, MAX_JUDGED).to_ascii_lowercase();
    if coded || contains_any(&lower, USER_UNKNOWN_OUTRIGHT) {
        return true;
    }
    match command {
        Some(Command::Rcpt) => true,
        Some(Command::Data) => false,
        None => !has_reply_code(&lower),
    }
}

/// True when `text` quotes an SMTP reply code (a standalone 2xx, 4xx or 5xx number).
fn has_reply_code(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(3).enumerate().any(|(i, w)| {
        matches!(w[0], b'2' | b'4' | b'5')
            && w[1].is_ascii_digit()
            && w[2].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.'))
            && bytes
                .get(i + 3)
                .is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'.'))
    })
}

/// The SMTP command a refusal of `address` answered: what the wording says (see
/// [`smtp_command`]), else RCPT when the reply names the recipient the way servers answer RCPT
/// TO ("550 <a@b.example>: User unknown", "550 <a@b.example>... User unknown").
pub(crate) fn command_for(
    address: Option<&str>,
    diagnostic: &str,
    context: &str,
) -> Option<Command> {
    if let Some(command) = smtp_command(context) {
        return Some(command);
    }
    let address = address?.to_ascii_lowercase();
    let lower = crate::fields::truncate_at_char(diagnostic, MAX_JUDGED).to_ascii_lowercase();
    let echoed = [":", "..."]
        .iter()
        .any(|end| lower.contains(&format!("<{address}>{end}")));
    echoed.then_some(Command::Rcpt)
}

/// The SMTP command a refusal answered, as far as the text tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Command {
    Rcpt,
    Data,
}

/// Reads which SMTP command was refused from wording such as "in reply to RCPT TO command",
/// "after end of data", ">>> DATA" or "[RCPT_TO]". RCPT wins when both appear.
pub(crate) fn smtp_command(text: &str) -> Option<Command> {
    let text = crate::fields::truncate_at_char(text, 2 * MAX_JUDGED).to_ascii_lowercase();
    const RCPT: &[&str] = &[
        "rcpt to",
        "rcpt command",
        "[rcpt_to]",
        "smtp:rcpt",
        "rcpt:",
        "does not like recipient",
        "recipient address rejected",
    ];
    const DATA: &[&str] = &[
        "end of data",
        "after data",
        "data command",
        ">>> data",
        "smtp command data",
        "final data",
        "(data)",
        "data send",
    ];
    if contains_any(&text, RCPT) {
        Some(Command::Rcpt)
    } else if contains_any(&text, DATA) {
        Some(Command::Data)
    } else {
        None
    }
}

/// The coarse reason behind a failure; see [`classify`].
pub(crate) fn reason(status: Option<&str>, diagnostic: &str) -> Reason {
    let text = crate::fields::truncate_at_char(diagnostic, MAX_JUDGED).to_ascii_lowercase();
    let status = status.and_then(parse_status);
    if contains_any(&text, MAILBOX_FULL) {
        return Reason::MailboxFull;
    }
    let temporary = status.is_some_and(|s| s.0 == 4);
    // Microsoft's directory-based edge blocking: "5.4.1 Recipient address rejected: Access
    // denied" means the mailbox does not exist.
    if status.is_some_and(|s| s.1 == 4 && s.2 == 1)
        && text.contains("recipient address rejected: access denied")
    {
        return Reason::UserUnknown;
    }
    if let Some((_, subject, detail)) = status {
        // A code that names the address is trusted unless the words speak of something else.
        let names_address = matches!(
            (subject, detail),
            (1, 0) | (1, 1) | (1, 2) | (1, 6) | (1, 10)
        );
        if names_address && !contains_any(&text, SUSPEND) && !is_policy(&text) {
            return match detail {
                2 => Reason::HostUnknown,
                6 => Reason::HasMoved,
                _ => Reason::UserUnknown,
            };
        }
    }
    if contains_any(&text, SUSPEND) {
        return Reason::Suspend;
    }
    if contains_any(&text, NOT_ACCEPT) {
        // A temporary (4xx) "no MX" may heal; only a permanent one is hard.
        return if temporary {
            Reason::Temporary
        } else {
            Reason::NotAccept
        };
    }
    if is_policy(&text) {
        return Reason::Policy;
    }
    // X.7.X is security or policy (RFC 3463 section 3.8), whatever the words say.
    if status.is_some_and(|(_, subject, detail)| subject == 7 && detail != 27) {
        return Reason::Policy;
    }
    if contains_any(&text, HAS_MOVED) {
        return Reason::HasMoved;
    }
    if contains_any(&text, USER_UNKNOWN) {
        return Reason::UserUnknown;
    }
    if contains_any(&text, HOST_UNKNOWN) {
        // A temporary DNS failure (Gmail's "4.0.0 DNS Error ... NXDOMAIN") may heal.
        return if temporary {
            Reason::Temporary
        } else {
            Reason::HostUnknown
        };
    }
    if contains_any(&text, TEMPORARY) {
        return Reason::Temporary;
    }
    match status {
        Some((_, 4, 4)) | Some((5, 7, 27)) if !temporary => Reason::NotAccept,
        _ => Reason::Policy,
    }
}

fn is_policy(text: &str) -> bool {
    contains_any(text, POLICY) || contains_word_any(text, &["spf", "ptr"])
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|needle| haystack.contains(needle))
}

/// True when one of `words` occurs in `haystack` with no letter or digit on either side.
fn contains_word_any(haystack: &str, words: &[&str]) -> bool {
    words.iter().any(|word| {
        haystack.match_indices(word).any(|(at, _)| {
            let before = haystack[..at].chars().next_back();
            let after = haystack[at + word.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric())
                && !after.is_some_and(|c| c.is_alphanumeric())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Option<&str>, diagnostic: &str, expected: Kind) {
        assert_eq!(
            classify(status, diagnostic),
            expected,
            "{status:?} {diagnostic}"
        );
    }

    #[test]
    fn classify_follows_the_address_not_the_code() {
        check(
            Some("5.1.1"),
            "550 5.1.1 <a@b.example>... User Unknown",
            Kind::Hard,
        );
        // A bare remote "550 User unknown" may be a content filter after DATA...
        check(Some("5.0.0"), "550 User unknown", Kind::Soft);
        // ...unless the report says it answered RCPT TO, or no SMTP reply is quoted.
        assert_eq!(
            classify_in_context(
                Some("5.0.0"),
                "550 User unknown",
                "after RCPT TO:<a@b.example>: 550 User unknown"
            ),
            Kind::Hard
        );
        assert_eq!(
            classify_in_context(None, "550 User unknown", ">>> DATA <<< 550 User unknown"),
            Kind::Soft
        );
        check(None, "The recipient name is not recognized", Kind::Hard);
        check(
            Some("5.0.0"),
            "554 dd This user doesn't have a yahoo.com account",
            Kind::Hard,
        );
        check(Some("5.1.351"), "550 5.1.351 unknown recipient", Kind::Hard);
        check(
            Some("4.0.0"),
            "DNS Error: NXDOMAIN Domain name not found",
            Kind::Soft,
        );
        check(
            Some("5.1.8"),
            "553 5.1.8 Domain of sender address does not exist",
            Kind::Soft,
        );
        check(
            None,
            "Sorry, I couldn't find any host named x.example",
            Kind::Hard,
        );
        check(Some("5.2.2"), "552 5.2.2 Mailbox full", Kind::Soft);
        check(Some("5.1.1"), "550 5.1.1 mailbox is full", Kind::Soft);
        check(
            Some("5.7.1"),
            "554 5.7.1 Service unavailable; blocked using zen",
            Kind::Soft,
        );
        check(Some("5.2.1"), "550 5.2.1 account disabled", Kind::Soft);
        check(
            Some("5.2.1"),
            "550 5.2.1 User unknown [RCPT_TO]",
            Kind::Hard,
        );
        check(Some("4.4.7"), "Message expired", Kind::Soft);
        check(
            None,
            "an MX or SRV record indicated no SMTP service",
            Kind::Hard,
        );
        check(Some("4.4.4"), "no MX record found", Kind::Soft);
        check(
            Some("5.1.1"),
            "User unknown in relay recipient table",
            Kind::Hard,
        );
        check(None, "550 Your IP is listed at spamhaus", Kind::Soft);
        check(None, "something nobody has seen", Kind::Soft);
        check(
            Some("5.4.1"),
            "550 5.4.1 Recipient address rejected: Access denied",
            Kind::Hard,
        );
    }

    #[test]
    fn command_from_wording_or_echoed_recipient() {
        let rcpt = Some(Command::Rcpt);
        assert_eq!(
            command_for(None, "", "550 x (in reply to RCPT TO command)"),
            rcpt
        );
        assert_eq!(
            command_for(None, "", "after end of data: 550 x"),
            Some(Command::Data)
        );
        let echoed = "550 <A@b.example>: User unknown";
        assert_eq!(command_for(Some("a@b.example"), echoed, echoed), rcpt);
        assert_eq!(
            command_for(Some("a@b.example"), "550 : User unknown", ""),
            None
        );
    }
}
