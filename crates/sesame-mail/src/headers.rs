//! Editing the header section of a message a client composed itself (SMTP submission): drop
//! headers that must not travel (Bcc, Return-Path, ...) and put new ones on top, leaving every
//! other byte (the rest of the headers and the whole body) exactly as sent. Pure.

/// Byte offset where the body starts (just after the empty line), or the length when the
/// message is headers only.
pub fn body_offset(raw: &[u8]) -> usize {
    let mut at = 0;
    while at < raw.len() {
        let end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| at + p + 1);
        let line = &raw[at..end];
        if line == b"\r\n" || line == b"\n" {
            return end;
        }
        at = end;
    }
    raw.len()
}

/// `raw` with the headers named in `drop` removed (case-insensitive, folded lines included)
/// and `prepend` written first, each as `Name: value\r\n`. Values must come from Sesame, not
/// from a client: they are written as given.
pub fn rewrite(raw: &[u8], drop: &[&str], prepend: &[(&str, &str)]) -> Vec<u8> {
    let split = body_offset(raw);
    let mut out = Vec::with_capacity(raw.len() + 256);
    for (name, value) in prepend {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut dropping = false;
    let mut at = 0;
    while at < split {
        let end = raw[at..split]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(split, |p| at + p + 1);
        let line = &raw[at..end];
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            dropping = header_name(line)
                .is_some_and(|name| drop.iter().any(|d| d.as_bytes().eq_ignore_ascii_case(name)));
        }
        if !dropping {
            out.extend_from_slice(line);
        }
        at = end;
    }
    out.extend_from_slice(&raw[split..]);
    out
}

/// Whether the header section has a header called `name` (case-insensitive).
pub fn has_header(raw: &[u8], name: &str) -> bool {
    let split = body_offset(raw);
    raw[..split]
        .split(|&b| b == b'\n')
        .filter_map(header_name)
        .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

fn header_name(line: &[u8]) -> Option<&[u8]> {
    if matches!(line.first(), Some(b' ' | b'\t') | None) {
        return None;
    }
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let name = name.strip_suffix(b" ").unwrap_or(name);
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"From: a@example.com\r\nBcc: hidden@example.org,\r\n  other@example.org\r\nSubject: hi\r\nreturn-path: <x@y>\r\n\r\nBcc: body line stays\r\n";

    #[test]
    fn drops_folded_headers_and_keeps_the_body() {
        let out = rewrite(
            MAIL,
            &["Bcc", "Return-Path"],
            &[("Message-ID", "<1@example.com>")],
        );
        assert_eq!(
            out,
            b"Message-ID: <1@example.com>\r\nFrom: a@example.com\r\nSubject: hi\r\n\r\nBcc: body line stays\r\n"
        );
    }

    #[test]
    fn finds_headers_only_in_the_header_section() {
        assert!(has_header(MAIL, "subject"));
        assert!(has_header(MAIL, "BCC"));
        assert!(!has_header(MAIL, "Message-ID"));
        assert!(!has_header(b"Subject: x\n\nDate: in body\n", "Date"));
        assert_eq!(body_offset(b"Subject: x\n\nbody"), 12);
        assert_eq!(body_offset(b"Subject: x"), 10);
    }
}
