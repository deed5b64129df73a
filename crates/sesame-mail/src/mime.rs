//! Builds the RFC 5322 message of one send from a [`Draft`] with mail-builder: headers,
//! multipart/alternative text and HTML, attachments in multipart/mixed, CRLF line endings,
//! RFC 2047 encoded words for non-ASCII subjects and names, and QP or base64 so no line
//! exceeds 998 bytes. It is the only place headers are written, so it is where header
//! injection is stopped: no field may carry CR, LF or another control character into a
//! header. Bcc never becomes a header (a [`Draft`] has no Bcc). No signing here (see `sign`).

use std::borrow::Cow;

use base64::Engine;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use sha2::{Digest, Sha256};

use crate::attachment;

/// One address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Display name; `None` (or empty) writes the bare address.
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    pub fn new(name: Option<&str>, address: &str) -> Self {
        Mailbox {
            name: name.map(str::to_string),
            address: address.to_string(),
        }
    }
}

/// One attachment: its file name (checked with `attachment::check_name` by the caller) and
/// raw, already decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentPart {
    pub name: String,
    pub content: Vec<u8>,
}

/// Everything that goes into one message. Each recipient's copy is its own draft, since
/// tracking tokens differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The header From (HeaderFrom when given, else FromEmailAddress).
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    /// Rendered subject, UTF-8.
    pub subject: String,
    /// Rendered HTML body; at least one of `html` and `text` is required.
    pub html: Option<String>,
    pub text: Option<String>,
    pub attachments: Vec<AttachmentPart>,
    /// The Message-ID without angle brackets, e.g. from [`message_id`].
    pub message_id: String,
    /// The Date header, Unix seconds (written in UTC).
    pub date_unix: i64,
    /// Further headers in order (List-Unsubscribe, SmtpHeaders …). Headers that Sesame
    /// writes itself are refused, see [`is_reserved_header`].
    pub extra_headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// A header name or value (named here) holds CR, LF or another control character.
    #[error("{0} contains a line break or control character")]
    HeaderInjection(String),
    /// An extra header that Sesame writes itself.
    #[error("header `{0}` is set by sesame and cannot be given")]
    ReservedHeader(String),
    /// Not an RFC 5322 field name (printable ASCII without ':').
    #[error("`{0}` is not a valid header name")]
    InvalidHeaderName(String),
    #[error("`{0}` is not a valid address for a header")]
    InvalidAddress(String),
    #[error("`{0}` is not a valid message id")]
    InvalidMessageId(String),
    /// A field that would make a header line longer than 998 bytes.
    #[error("{0} is too long")]
    TooLong(String),
    #[error("message has neither an HTML nor a text body")]
    NoBody,
    #[error("writing the message: {0}")]
    Write(String),
}

/// Longest display name in bytes: its base64 encoded word must fit on one header line.
const MAX_NAME_BYTES: usize = 512;
/// Longest address in bytes (RFC 5321 path limit).
const MAX_ADDRESS_BYTES: usize = 254;
/// Longest subject in bytes; mail-builder folds it, this only bounds the work.
const MAX_SUBJECT_BYTES: usize = 4 * 998;
/// Longest header line (RFC 5322 §2.1.1), without CRLF.
const MAX_LINE: usize = 998;

/// A new, globally unique Message-ID at `domain`, without angle brackets:
/// `<32 hex digits of a UUIDv7>@<domain>`. Version 7 starts with the time (74 random bits
/// follow), so the store's index on Message-IDs grows at its end instead of at random places.
pub fn message_id(domain: &str) -> String {
    format!(
        "{}@{}",
        uuid::Uuid::now_v7().simple(),
        domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// `timestamp` (Unix seconds) as an RFC 5322 date, for a Date header.
pub fn rfc2822_date(timestamp: i64) -> String {
    Date::new(timestamp).to_rfc822()
}

/// Whether Sesame writes header `name` itself, so a caller may not add it.
pub fn is_reserved_header(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "dkim-signature",
        "return-path",
        "received",
        "sender",
    ];
    let lower = name.to_ascii_lowercase();
    RESERVED.contains(&lower.as_str()) || lower.starts_with("content-")
}

/// Builds the message. The output uses CRLF line endings throughout and has no
/// DKIM-Signature yet.
pub fn build(draft: &Draft) -> Result<Vec<u8>, MimeError> {
    if draft.html.is_none() && draft.text.is_none() {
        return Err(MimeError::NoBody);
    }
    let message_id = check_message_id(&draft.message_id)?;
    check_value("subject", &draft.subject)?;
    if draft.subject.len() > MAX_SUBJECT_BYTES {
        return Err(MimeError::TooLong("subject".into()));
    }

    let mut builder = MessageBuilder::new().from(address("from", &draft.from)?);
    if !draft.to.is_empty() {
        builder = builder.to(address_list("to", &draft.to)?);
    }
    if !draft.cc.is_empty() {
        builder = builder.cc(address_list("cc", &draft.cc)?);
    }
    if let Some(reply_to) = &draft.reply_to {
        builder = builder.reply_to(address("reply-to", reply_to)?);
    }
    builder = builder
        .subject(Text::new(draft.subject.as_str()))
        .date(Date::new(draft.date_unix))
        .message_id(MessageId::new(message_id))
        .header("MIME-Version", Raw::new("1.0"));
    for (name, value) in &draft.extra_headers {
        builder = builder.header(name.as_str(), extra_header_value(name, value)?);
    }

    let boundary = boundary_seed(draft);
    let text = draft
        .text
        .as_deref()
        .map(|t| MimePart::new("text/plain", BodyPart::Text(crlf(t))));
    let html = draft
        .html
        .as_deref()
        .map(|h| MimePart::new("text/html", BodyPart::Text(crlf(h))));
    let content = match (text, html) {
        (Some(text), Some(html)) => MimePart::new(
            ContentType::new("multipart/alternative").attribute("boundary", format!("{boundary}a")),
            vec![text, html],
        ),
        (Some(part), None) | (None, Some(part)) => part,
        (None, None) => return Err(MimeError::NoBody),
    };
    let body = if draft.attachments.is_empty() {
        content
    } else {
        let mut parts = Vec::with_capacity(draft.attachments.len() + 1);
        parts.push(content);
        for part in &draft.attachments {
            parts.push(attachment_part(part)?);
        }
        MimePart::new(
            ContentType::new("multipart/mixed").attribute("boundary", format!("{boundary}m")),
            parts,
        )
    };

    builder
        .body(body)
        .write_to_vec()
        .map_err(|e| MimeError::Write(e.to_string()))
}

/// Refuses CR, LF and other control characters (HTAB is folding whitespace and allowed).
fn check_value(field: &str, value: &str) -> Result<(), MimeError> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(MimeError::HeaderInjection(field.to_string()));
    }
    Ok(())
}

fn check_message_id(id: &str) -> Result<&str, MimeError> {
    let id = id
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(id);
    let valid = !id.is_empty()
        && id.len() <= 250
        && id.contains('@')
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>'));
    if !valid {
        check_value("message id", id)?;
        return Err(MimeError::InvalidMessageId(id.to_string()));
    }
    Ok(id)
}

fn address<'a>(field: &str, mailbox: &'a Mailbox) -> Result<Address<'a>, MimeError> {
    check_value(&format!("{field} address"), &mailbox.address)?;
    let valid = mailbox.address.len() <= MAX_ADDRESS_BYTES
        && mailbox.address.contains('@')
        && !mailbox
            .address
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'));
    if !valid {
        return Err(MimeError::InvalidAddress(mailbox.address.clone()));
    }
    let name = match mailbox.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => {
            check_value(&format!("{field} display name"), name)?;
            if name.len() > MAX_NAME_BYTES {
                return Err(MimeError::TooLong(format!("{field} display name")));
            }
            Some(name)
        }
        _ => None,
    };
    Ok(Address::new_address(name, mailbox.address.as_str()))
}

fn address_list<'a>(field: &str, mailboxes: &'a [Mailbox]) -> Result<Address<'a>, MimeError> {
    let list = mailboxes
        .iter()
        .map(|m| address(field, m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Address::new_list(list))
}

/// Checks an extra header and picks its encoding: ASCII values go out as they are (so
/// `List-Unsubscribe: <https://…>` stays readable to receivers), others as encoded words.
fn extra_header_value<'a>(
    name: &str,
    value: &'a str,
) -> Result<mail_builder::headers::HeaderType<'a>, MimeError> {
    if name.chars().any(|c| c.is_control()) {
        return Err(MimeError::HeaderInjection(format!("header name {name:?}")));
    }
    let valid_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if !valid_name {
        return Err(MimeError::InvalidHeaderName(name.to_string()));
    }
    if is_reserved_header(name) {
        return Err(MimeError::ReservedHeader(name.to_string()));
    }
    check_value(&format!("header {name}"), value)?;
    if value.is_ascii() {
        // Raw folds only at whitespace, so bound the whole line.
        if name.len() + 2 + value.len() > MAX_LINE {
            return Err(MimeError::TooLong(format!("header {name}")));
        }
        Ok(Raw::new(value).into())
    } else {
        if value.len() > MAX_SUBJECT_BYTES {
            return Err(MimeError::TooLong(format!("header {name}")));
        }
        Ok(Text::new(value).into())
    }
}

/// The MIME part of one attachment, always base64 so its bytes survive exactly (a text/*
/// attachment left as 7bit could have its line endings changed on the way).
fn attachment_part(part: &AttachmentPart) -> Result<MimePart<'static>, MimeError> {
    check_value("attachment name", &part.name)?;
    if part.name.chars().count() > attachment::MAX_NAME_CHARS {
        return Err(MimeError::TooLong("attachment name".into()));
    }
    let content_type = attachment::content_type(&part.name);
    let (type_header, disposition) = if part.name.is_ascii() && !part.name.contains(['"', '\\']) {
        (
            format!("{content_type}; name=\"{}\"", part.name),
            format!("attachment; filename=\"{}\"", part.name),
        )
    } else {
        (content_type.to_string(), rfc2231_disposition(&part.name))
    };
    // A part with a Content-Transfer-Encoding header is written as given, so the body is
    // our own base64.
    Ok(
        MimePart::raw(BodyPart::Binary(Cow::Owned(base64_lines(&part.content))))
            .header("Content-Type", Raw::new(type_header))
            .header("Content-Disposition", Raw::new(disposition))
            .transfer_encoding("base64"),
    )
}

/// `attachment; filename*0*=utf-8''…; filename*1*=…` (RFC 2231 §3-4): percent-encoded
/// UTF-8 in pieces short enough that folding at the spaces keeps lines short. Pieces end on
/// character boundaries, since some parsers (mail-parser among them) decode each piece alone.
fn rfc2231_disposition(name: &str) -> String {
    const PIECE: usize = 60;
    let mut pieces = vec![String::new()];
    for ch in name.chars() {
        let mut encoded = String::new();
        if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_') {
            encoded.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for byte in ch.encode_utf8(&mut buf).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        let last = pieces.last_mut().expect("pieces starts non-empty");
        if !last.is_empty() && last.len() + encoded.len() > PIECE {
            pieces.push(encoded);
        } else {
            last.push_str(&encoded);
        }
    }
    let mut out = String::from("attachment");
    for (index, piece) in pieces.iter().enumerate() {
        let charset = if index == 0 { "utf-8''" } else { "" };
        out.push_str(&format!("; filename*{index}*={charset}{piece}"));
    }
    out
}

/// Base64 in 76-character lines joined by CRLF, without a final line break (the boundary
/// line that follows starts with one).
fn base64_lines(content: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for (i, line) in encoded.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    }
    out
}

/// Normalises CR, LF and CRLF to CRLF (bare LF is refused by some receivers and is an
/// SMTP smuggling ingredient).
fn crlf(text: &str) -> Cow<'static, str> {
    let mut out = String::with_capacity(text.len() + text.len() / 40);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// A boundary prefix derived from the message id, so the same draft builds the same bytes
/// (mail-builder's default mixes in the clock).
fn boundary_seed(draft: &Draft) -> String {
    let digest = Sha256::digest(draft.message_id.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("=_sesame_{hex}_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    fn draft() -> Draft {
        Draft {
            from: Mailbox::new(Some("Sesame 团队"), "noreply@mail.example.test"),
            to: vec![
                Mailbox::new(Some("张三"), "zhang@example.test"),
                Mailbox::new(None, "bob@example.test"),
            ],
            cc: vec![Mailbox::new(Some("Carol"), "carol@example.test")],
            reply_to: Some(Mailbox::new(None, "help@example.test")),
            subject: "您的验证码 Your code".into(),
            html: Some("<p>你好 <b>Ann</b></p>\n".into()),
            text: Some("你好 Ann\n".into()),
            attachments: vec![],
            message_id: "abc.123@mail.example.test".into(),
            date_unix: 1_700_000_000,
            extra_headers: vec![(
                "List-Unsubscribe".into(),
                "<https://t.example.test/u/xyz>".into(),
            )],
        }
    }

    /// What a parsed message looks like, reduced to comparable text.
    #[derive(Debug, PartialEq, Eq)]
    struct Parsed {
        subject: String,
        from: String,
        to: Vec<String>,
        text: String,
        html: String,
        attachments: Vec<(String, String, Vec<u8>)>,
        has_bcc: bool,
    }

    fn parse(raw: &[u8]) -> Parsed {
        let message = MessageParser::default().parse(raw).expect("parses");
        let mailbox = |a: &mail_parser::Addr<'_>| {
            format!(
                "{} <{}>",
                a.name().unwrap_or_default(),
                a.address().unwrap_or_default()
            )
        };
        Parsed {
            subject: message.subject().unwrap_or_default().to_string(),
            from: message
                .from()
                .and_then(|f| f.first())
                .map(mailbox)
                .unwrap_or_default(),
            to: message
                .to()
                .map(|t| t.iter().map(mailbox).collect())
                .unwrap_or_default(),
            // Walk the parts: body_text/body_html would convert one body into the other.
            text: body_part(&message, false),
            html: body_part(&message, true),
            attachments: message
                .attachments()
                .map(|a| {
                    let ct = a
                        .content_type()
                        .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                        .unwrap_or_default();
                    (
                        a.attachment_name().unwrap_or_default().to_string(),
                        ct,
                        a.contents().to_vec(),
                    )
                })
                .collect(),
            has_bcc: message.bcc().is_some(),
        }
    }

    /// The first non-attachment text/plain (or text/html) part.
    fn body_part(message: &mail_parser::Message<'_>, html: bool) -> String {
        message
            .parts
            .iter()
            .enumerate()
            .filter(|(i, _)| !message.attachments.iter().any(|a| *a as usize == *i))
            .find_map(|(_, part)| match &part.body {
                mail_parser::PartType::Html(t) if html => Some(t.to_string()),
                mail_parser::PartType::Text(t) if !html => Some(t.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Builds `input`; on success checks the raw form (CRLF only, lines ≤ 998) and compares
    /// its parse with `expected`.
    fn check(input: &Draft, expected: Result<Parsed, MimeError>) {
        let got = build(input);
        match (got, expected) {
            (Ok(raw), Ok(expected)) => {
                for (i, &b) in raw.iter().enumerate() {
                    if b == b'\n' {
                        assert_eq!(raw.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF at {i}");
                    }
                    if b == b'\r' {
                        assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}");
                    }
                }
                for line in raw.split(|&b| b == b'\n') {
                    assert!(line.len() <= MAX_LINE + 1, "line of {} bytes", line.len());
                }
                assert_eq!(parse(&raw), expected);
            }
            (got, expected) => assert_eq!(got.map(|_| ()), expected.map(|_| ())),
        }
    }

    #[test]
    fn alternative_with_chinese_subject_and_names() {
        let d = draft();
        let raw = build(&d).expect("builds");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Message-ID: <abc.123@mail.example.test>\r\n"));
        assert!(text.contains("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
        assert!(text.contains("MIME-Version: 1.0\r\n"));
        assert!(text.contains("List-Unsubscribe: <https://t.example.test/u/xyz>\r\n"));
        assert!(text.contains("multipart/alternative"));
        assert!(!text.contains("multipart/mixed"));
        assert!(!text.contains("您的验证码"), "subject must be encoded");
        assert_eq!(build(&d), Ok(raw), "same draft, same bytes");
        check(
            &d,
            Ok(Parsed {
                subject: "您的验证码 Your code".into(),
                from: "Sesame 团队 <noreply@mail.example.test>".into(),
                to: vec![
                    "张三 <zhang@example.test>".into(),
                    " <bob@example.test>".into(),
                ],
                text: "你好 Ann\r\n".into(),
                html: "<p>你好 <b>Ann</b></p>\r\n".into(),
                attachments: vec![],
                has_bcc: false,
            }),
        );
    }

    #[test]
    fn attachments_go_in_mixed_with_exact_bytes() {
        let pdf: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let csv = "a,b\n1,2\r\n名字,é\n".as_bytes().to_vec();
        let mut d = draft();
        d.text = None;
        d.attachments = vec![
            AttachmentPart {
                name: "report.pdf".into(),
                content: pdf.clone(),
            },
            AttachmentPart {
                name: format!("数据{}.csv", "长".repeat(100)),
                content: csv.clone(),
            },
        ];
        let raw = build(&d).expect("builds");
        assert!(String::from_utf8_lossy(&raw).contains("multipart/mixed"));
        check(
            &d,
            Ok(Parsed {
                subject: d.subject.clone(),
                from: "Sesame 团队 <noreply@mail.example.test>".into(),
                to: vec![
                    "张三 <zhang@example.test>".into(),
                    " <bob@example.test>".into(),
                ],
                text: String::new(),
                html: "<p>你好 <b>Ann</b></p>\r\n".into(),
                attachments: vec![
                    ("report.pdf".into(), "application/pdf".into(), pdf),
                    (
                        format!("数据{}.csv", "长".repeat(100)),
                        "text/csv".into(),
                        csv,
                    ),
                ],
                has_bcc: false,
            }),
        );
    }

    #[test]
    fn long_body_lines_are_encoded() {
        let mut d = draft();
        d.text = Some("x".repeat(5000));
        d.html = None;
        let mut expected = parse(&build(&draft()).expect("builds"));
        expected.text = "x".repeat(5000);
        expected.html = String::new();
        check(&d, Ok(expected));
    }

    /// Regression: header injection through any field.
    #[test]
    fn header_injection_is_refused() {
        let evil = "hi\r\nBcc: evil@x";
        let mut d = draft();
        d.subject = evil.into();
        check(&d, Err(MimeError::HeaderInjection("subject".into())));

        let mut d = draft();
        d.to[0].name = Some(evil.into());
        check(
            &d,
            Err(MimeError::HeaderInjection("to display name".into())),
        );

        let mut d = draft();
        d.from.address = "a@b.test\r\nBcc: evil@x".into();
        check(&d, Err(MimeError::HeaderInjection("from address".into())));

        let mut d = draft();
        d.extra_headers = vec![("X-Tag".into(), "v\nBcc: evil@x".into())];
        check(&d, Err(MimeError::HeaderInjection("header X-Tag".into())));

        let mut d = draft();
        d.extra_headers = vec![("X-Tag\r\nBcc".into(), "evil@x".into())];
        check(
            &d,
            Err(MimeError::HeaderInjection(
                "header name \"X-Tag\\r\\nBcc\"".into(),
            )),
        );

        let mut d = draft();
        d.attachments = vec![AttachmentPart {
            name: "a\r\nBcc: evil@x.pdf".into(),
            content: vec![1],
        }];
        check(
            &d,
            Err(MimeError::HeaderInjection("attachment name".into())),
        );

        let mut d = draft();
        d.message_id = "a@b\r\nBcc: evil@x".into();
        check(&d, Err(MimeError::HeaderInjection("message id".into())));

        let mut d = draft();
        d.subject = "nul\0byte".into();
        check(&d, Err(MimeError::HeaderInjection("subject".into())));
    }

    #[test]
    fn extra_headers_are_checked() {
        for reserved in [
            "bcc",
            "From",
            "Content-Type",
            "DKIM-Signature",
            "Return-Path",
        ] {
            let mut d = draft();
            d.extra_headers = vec![(reserved.into(), "x".into())];
            check(&d, Err(MimeError::ReservedHeader(reserved.into())));
        }
        for bad in ["X Tag", "X:Tag", "", "X-标签"] {
            let mut d = draft();
            d.extra_headers = vec![(bad.into(), "x".into())];
            check(&d, Err(MimeError::InvalidHeaderName(bad.into())));
        }
        let mut d = draft();
        d.extra_headers = vec![("X-Long".into(), "y".repeat(1000))];
        check(&d, Err(MimeError::TooLong("header X-Long".into())));
    }

    #[test]
    fn message_ids_are_unique_and_valid() {
        let a = message_id("Mail.Example.TEST");
        let b = message_id("mail.example.test");
        assert_ne!(a, b);
        assert!(a.ends_with("@mail.example.test"), "{a}");
        assert_eq!(a.len(), 32 + 1 + "mail.example.test".len());
        let mut d = draft();
        d.message_id = a.clone();
        let raw = build(&d).expect("builds");
        assert!(String::from_utf8_lossy(&raw).contains(&format!("Message-ID: <{a}>\r\n")));
    }

    #[test]
    fn other_refusals() {
        let mut d = draft();
        d.html = None;
        d.text = None;
        check(&d, Err(MimeError::NoBody));

        let mut d = draft();
        d.to[1].address = "a b@example.test".into();
        check(
            &d,
            Err(MimeError::InvalidAddress("a b@example.test".into())),
        );

        let mut d = draft();
        d.message_id = "no-at-sign".into();
        check(&d, Err(MimeError::InvalidMessageId("no-at-sign".into())));
    }
}
