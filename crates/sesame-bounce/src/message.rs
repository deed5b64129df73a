//! The MIME side: turns raw bytes into the few things the report formats need (top-level header
//! values, the human-readable text, delivery-status and feedback-report bodies, the returned
//! message's headers) using mail-parser for structure, transfer encodings and charsets. Walks a
//! bounded number of parts to a bounded depth.

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::fields::{Field, parse_fields, truncate_at_char};

/// Parts looked at in one message, nested messages included; the rest are ignored.
const MAX_PARTS: usize = 256;
/// Multipart and message/rfc822 nesting followed; deeper parts are ignored.
const MAX_DEPTH: usize = 12;
/// Bytes of one text part kept for scanning.
const MAX_TEXT: usize = 256 * 1024;

/// What a report parser needs from one message.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// Top-level header fields (name lowercased, value unfolded raw text).
    pub headers: Vec<Field>,
    /// Decoded Subject.
    pub subject: String,
    /// Top-level content type, "type/subtype" lowercased.
    pub content_type: String,
    /// Human-readable text parts of the report itself (not of the returned message), in order.
    pub texts: Vec<String>,
    /// Bodies of message/delivery-status parts.
    pub delivery_status: Vec<String>,
    /// Bodies of message/feedback-report parts.
    pub feedback: Vec<String>,
    /// Header fields of the returned or reported message, where a part carries them.
    pub original: Option<Vec<Field>>,
    /// Decoded Subject of the returned message, where a message/rfc822 part carries it.
    pub original_subject: Option<String>,
    /// Raw bytes of the first attached message (message/rfc822): sometimes the real bounce,
    /// forwarded inside another.
    pub nested: Option<Vec<u8>>,
}

impl View {
    /// The first top-level header `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        crate::fields::first(&self.headers, name)
    }
}

/// Parses `raw` (already size-capped by the caller) into a [`View`]; None when mail-parser finds
/// no message at all.
pub(crate) fn view(raw: &[u8]) -> Option<View> {
    let raw = strip_mbox_line(raw);
    let message = MessageParser::default().parse(raw)?;
    let mut view = View {
        headers: raw_headers(&message),
        subject: message.subject().unwrap_or_default().to_string(),
        content_type: message
            .root_part()
            .content_type()
            .map(content_type_name)
            .unwrap_or_else(|| "text/plain".to_string()),
        ..View::default()
    };
    let mut budget = MAX_PARTS;
    let mut html = Vec::new();
    walk(&message, 0, 0, &mut view, &mut html, &mut budget);
    if view.texts.is_empty() {
        view.texts = html;
    }
    Some(view)
}

/// Drops a leading mbox "From sender date" line, which is not a header.
fn strip_mbox_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        match raw.iter().position(|&b| b == b'\n') {
            Some(end) => &raw[end + 1..],
            None => raw,
        }
    } else {
        raw
    }
}

fn raw_headers(message: &Message<'_>) -> Vec<Field> {
    let mut text = String::new();
    for (name, value) in message.headers_raw().take(512) {
        text.push_str(name);
        text.push(':');
        text.push_str(truncate_at_char(value, 8192));
        if !value.ends_with('\n') {
            text.push('\n');
        }
    }
    parse_fields(&text)
}

fn content_type_name(ct: &mail_parser::ContentType<'_>) -> String {
    match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
        None => ct.ctype().to_ascii_lowercase(),
    }
}

fn part_type(part: &MessagePart<'_>) -> String {
    part.content_type()
        .map(content_type_name)
        .unwrap_or_else(|| "text/plain".to_string())
}

fn walk(
    message: &Message<'_>,
    index: usize,
    depth: usize,
    view: &mut View,
    html: &mut Vec<String>,
    budget: &mut usize,
) {
    if depth > MAX_DEPTH || *budget == 0 {
        return;
    }
    *budget -= 1;
    let Some(part) = message.parts.get(index) else {
        return;
    };
    let ctype = part_type(part);
    match &part.body {
        PartType::Multipart(children) => {
            for &child in children {
                // A part never contains itself or an earlier part; guard anyway.
                if (child as usize) > index {
                    walk(message, child as usize, depth + 1, view, html, budget);
                }
            }
        }
        PartType::Message(nested) => read_original(nested, view),
        PartType::Text(text) => match ctype.as_str() {
            "text/rfc822-headers" | "message/rfc822-headers" => set_original(view, text, None),
            "message/delivery-status" | "message/global-delivery-status" => {
                view.delivery_status.push(capped(text));
            }
            "message/feedback-report" => view.feedback.push(capped(text)),
            "message/rfc822" | "message/global" => set_original(view, text, None),
            _ => view.texts.push(capped(text)),
        },
        PartType::Html(text) => html.push(html_to_text(&capped(text))),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            let text = || capped(&String::from_utf8_lossy(bytes));
            match ctype.as_str() {
                "message/delivery-status" | "message/global-delivery-status" => {
                    view.delivery_status.push(text());
                }
                "message/feedback-report" => view.feedback.push(text()),
                "text/rfc822-headers"
                | "message/rfc822-headers"
                | "message/rfc822"
                | "message/global"
                | "message/partial" => set_original(view, &text(), None),
                _ => {}
            }
        }
    }
}

fn capped(text: &str) -> String {
    truncate_at_char(text, MAX_TEXT).to_string()
}

/// Keeps the headers of the first returned message found.
fn read_original(nested: &Message<'_>, view: &mut View) {
    if view.nested.is_none() {
        view.nested = Some(nested.raw_message().to_vec());
    }
    if view.original.is_some() {
        return;
    }
    let fields = raw_headers(nested);
    if fields.is_empty() {
        return;
    }
    view.original_subject = nested.subject().map(str::to_string);
    view.original = Some(fields);
}

fn set_original(view: &mut View, text: &str, subject: Option<String>) {
    if view.original.is_some() {
        return;
    }
    let fields = parse_fields(text);
    if !fields.is_empty() {
        view.original = Some(fields);
        view.original_subject = subject;
    }
}

/// A rough text rendering of HTML: tags dropped, line-breaking tags turned into newlines, the
/// commonest entities decoded. Enough to find addresses and diagnostics in HTML-only bounces.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    // Skipping a style or script body costs a scan of the rest; do it a bounded number of times.
    let mut skips_left = 16;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[1..close].trim_start_matches('/').to_ascii_lowercase();
        let name = tag.split([' ', '/', '\t', '\n']).next().unwrap_or("");
        if matches!(
            name,
            "br" | "p" | "div" | "tr" | "li" | "table" | "h1" | "h2" | "h3"
        ) {
            out.push('\n');
        } else if matches!(name, "td" | "th") {
            out.push(' ');
        }
        rest = &after[close + 1..];
        if matches!(name, "style" | "script") && !after[1..].starts_with('/') && skips_left > 0 {
            skips_left -= 1;
            // Skip the element's content.
            let lower = rest.to_ascii_lowercase();
            if let Some(end) = lower.find(&format!("</{name}")) {
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_to_text("<p>Hi&nbsp;<b>a@b.example</b></p><style>x{}</style>end"),
            "\nHi a@b.example\nend"
        );
    }

    #[test]
    fn multipart_report_is_split() {
        let raw = b"From: MAILER-DAEMON@x.example\r\nSubject: failed\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x.example\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m@x.example>\r\n--b--\r\n";
        let view = view(raw).expect("parses");
        assert_eq!(view.content_type, "multipart/report");
        assert_eq!(view.texts.len(), 1);
        assert_eq!(view.delivery_status.len(), 1);
        assert!(view.original.is_some());
    }
}
