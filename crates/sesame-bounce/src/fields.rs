//! Header-style field lists ("Name: value", folded continuation lines, blank lines between
//! groups) as found in message/delivery-status, message/feedback-report and text/rfc822-headers
//! parts, and the small address helpers every format needs. Tolerant of junk lines; linear time.

/// One field: the name lowercased, the value unfolded and trimmed; `group` counts the blank lines
/// seen before it, so per-recipient groups of a DSN can be told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    pub value: String,
    pub group: usize,
}

/// Most fields a caller will get from one text; the rest are dropped (hostile input).
const MAX_FIELDS: usize = 4096;
/// Longest value kept for one field, in bytes.
const MAX_VALUE: usize = 4096;

/// Reads `Name: value` fields. A line that starts with a space or tab continues the previous
/// field; a blank line starts a new group; any other line without a colon-terminated token is
/// ignored (it ends the previous field).
pub(crate) fn parse_fields(text: &str) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    let mut group = 0;
    let mut open = false;
    let mut blank_pending = false;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            open = false;
            blank_pending = true;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if open && let Some(last) = fields.last_mut() {
                push_value(&mut last.value, line.trim());
            }
            continue;
        }
        if blank_pending {
            if !fields.is_empty() {
                group += 1;
            }
            blank_pending = false;
        }
        open = false;
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let is_token = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !is_token || fields.len() >= MAX_FIELDS {
            continue;
        }
        let mut stored = String::new();
        push_value(&mut stored, value.trim());
        fields.push(Field {
            name: name.to_ascii_lowercase(),
            value: stored,
            group,
        });
        open = true;
    }
    fields
}

fn push_value(value: &mut String, more: &str) {
    if more.is_empty() || value.len() >= MAX_VALUE {
        return;
    }
    if !value.is_empty() {
        value.push(' ');
    }
    let room = MAX_VALUE - value.len();
    value.push_str(truncate_at_char(more, room));
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The first value of field `name` (lowercase).
pub(crate) fn first<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.as_str())
        .filter(|v| !v.is_empty())
}

/// Strips an RFC 3464 address-type or diagnostic-type prefix ("rfc822;", "smtp;").
pub(crate) fn strip_type(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest))
            if !kind.is_empty()
                && kind.len() <= 20
                && kind
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            rest.trim()
        }
        _ => value.trim(),
    }
}

/// Characters allowed around the `@` of an address we pick out of free text.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

/// One address found in free text: where it starts and ends (bytes) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub start: usize,
    pub end: usize,
    pub address: String,
}

/// Every plausible `local@domain.tld` in `text`, in order. Each byte is looked at a bounded number
/// of times (a local part or domain cannot contain `@`), so this stays linear.
pub(crate) fn find_addresses(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut search_from = 0;
    while let Some(offset) = text[search_from..].find('@') {
        let at = search_from + offset;
        search_from = at + 1;
        let mut start = at;
        while start > 0 && at - start < 128 {
            let c = bytes[start - 1] as char;
            if bytes[start - 1] < 0x80 && is_local_char(c) {
                start -= 1;
            } else {
                break;
            }
        }
        // A local part does not start with a dot, nor with the quote or slash of a URL.
        while start < at && matches!(bytes[start], b'.' | b'\'' | b'/') {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len()
            && end - at < 256
            && bytes[end] < 0x80
            && is_domain_char(bytes[end] as char)
        {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start == at || end <= at + 1 {
            continue;
        }
        let domain = &text[at + 1..end];
        let Some((_, tld)) = domain.rsplit_once('.') else {
            continue;
        };
        if tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_alphabetic()) || domain.contains("..") {
            continue;
        }
        found.push(Found {
            start,
            end,
            address: text[start..end].to_string(),
        });
        search_from = end.max(search_from);
    }
    found
}

/// The address inside a field value such as `"Name" <a@b.example>` or `rfc822; a@b.example`.
pub(crate) fn address_in(value: &str) -> Option<String> {
    let value = strip_type(value);
    if let (Some(open), Some(close)) = (value.find('<'), value.rfind('>'))
        && open < close
        && let Some(found) = find_addresses(&value[open + 1..close]).into_iter().next()
    {
        return Some(found.address);
    }
    find_addresses(value).into_iter().next().map(|f| f.address)
}

/// A field value without surrounding `<>` and blanks (for Message-ID and Return-Path).
pub(crate) fn strip_angles(value: &str) -> String {
    value
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_unfold_and_group() {
        let fields = parse_fields(
            "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nDiagnostic-Code: smtp; 550\r\n  user unknown\r\njunk line\r\n\r\n\r\nStatus: 5.1.1\r\n",
        );
        let names: Vec<_> = fields.iter().map(|f| (f.name.as_str(), f.group)).collect();
        assert_eq!(
            names,
            [
                ("reporting-mta", 0),
                ("final-recipient", 1),
                ("diagnostic-code", 1),
                ("status", 2)
            ]
        );
        assert_eq!(fields[2].value, "smtp; 550 user unknown");
    }

    #[test]
    fn addresses_in_free_text() {
        let found: Vec<_> =
            find_addresses("<a.b@x.example>... and 'c@d.example'. mail@host and e@@f.g")
                .into_iter()
                .map(|f| f.address)
                .collect();
        assert_eq!(found, ["a.b@x.example", "c@d.example"]);
        assert_eq!(
            address_in("rfc822; <K@Ex.Example>"),
            Some("K@Ex.Example".into())
        );
        assert_eq!(address_in("rfc822; redacted"), None);
        assert_eq!(strip_type("smtp; 550 x; y"), "550 x; y");
    }
}
