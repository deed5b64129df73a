//! RFC 3463 enhanced status codes: checking them, finding them in free text (skipping IP
//! addresses and version numbers), and choosing the one to report from a DSN Status field and a
//! diagnostic. Linear, allocation only for the codes found.

/// Splits "5.1.1" into (5, 1, 1); None unless it is an RFC 3463 code (class 2, 4 or 5, subject
/// 0 to 7, detail of one to three digits).
pub(crate) fn parse_status(status: &str) -> Option<(u8, u16, u16)> {
    let mut it = status.trim().splitn(3, '.');
    let class = it.next()?;
    let subject = it.next()?;
    let detail = it.next()?;
    let class: u8 = match class {
        "2" | "4" | "5" => class.parse().ok()?,
        _ => return None,
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(subject, 3) || !digits(detail, 3) {
        return None;
    }
    let subject: u16 = subject.parse().ok()?;
    if subject > 7 {
        return None;
    }
    Some((class, subject, detail.parse().ok()?))
}

/// Every RFC 3463 enhanced status code in `text`, in order. A code must stand alone: no digit or
/// dot-digit right before or after it, so IP addresses and version numbers do not count.
pub(crate) fn enhanced_codes(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let starts = matches!(b, b'2' | b'4' | b'5')
            && bytes.get(i + 1) == Some(&b'.')
            && (i == 0 || !(bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        let subject_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() && j - subject_start < 4 {
            j += 1;
        }
        if j == subject_start || j >= bytes.len() || bytes[j] != b'.' {
            i += 1;
            continue;
        }
        j += 1;
        let detail_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() && j - detail_start < 4 {
            j += 1;
        }
        let followed_by_number = j < bytes.len()
            && (bytes[j].is_ascii_digit()
                || (bytes[j] == b'.' && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)));
        if j > detail_start && !followed_by_number {
            let code = &text[i..j];
            if parse_status(code).is_some() {
                found.push(code.to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

/// True for a code whose subject and detail are both zero (X.0.0): it says only "failed".
pub(crate) fn is_generic(status: &str) -> bool {
    parse_status(status).is_some_and(|(_, subject, detail)| subject == 0 && detail == 0)
}

/// Picks the status to report from the DSN `Status:` field (if any) and the diagnostic text.
///
/// The DSN field wins unless it is a generic X.0.0 and the text carries a more specific code of
/// the same class (`Status: 5.0.0` with `550 5.7.1 ...` gives 5.7.1). Without a field, the first
/// specific code in the text is taken, then any code.
pub(crate) fn choose_status(dsn_status: Option<&str>, diagnostic: &str) -> Option<String> {
    let dsn = dsn_status
        .map(str::trim)
        .filter(|s| parse_status(s).is_some());
    // A success code in a transcript ("250 2.1.5 Ok") is not why delivery failed.
    let codes: Vec<String> = enhanced_codes(diagnostic)
        .into_iter()
        .filter(|c| !c.starts_with('2'))
        .collect();
    match dsn {
        Some(field) if !is_generic(field) => Some(field.to_string()),
        Some(field) => {
            let class = &field[..1];
            codes
                .iter()
                .rev()
                .find(|c| c.starts_with(class) && !is_generic(c))
                .cloned()
                .or_else(|| Some(field.to_string()))
        }
        None => codes
            .iter()
            .find(|c| !is_generic(c))
            .or_else(|| codes.first())
            .cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_skip_addresses_and_versions() {
        assert_eq!(enhanced_codes("550 5.1.1 <x@y> ok"), vec!["5.1.1"]);
        assert_eq!(enhanced_codes("from 192.0.2.5 said"), Vec::<String>::new());
        assert_eq!(enhanced_codes("(#5.5.0)"), vec!["5.5.0"]);
        assert_eq!(enhanced_codes("[#4.1.9]."), vec!["4.1.9"]);
        assert_eq!(enhanced_codes("4.16.55.1"), Vec::<String>::new());
        assert_eq!(enhanced_codes("Exim 4.72 and 5.7.606 x"), vec!["5.7.606"]);
        assert_eq!(enhanced_codes("5.9.1"), Vec::<String>::new());
        assert_eq!(enhanced_codes("2.0.0."), vec!["2.0.0"]);
    }

    #[test]
    fn choose_status_prefers_a_specific_code() {
        assert_eq!(
            choose_status(Some("5.0.0"), "550 5.7.1 no"),
            Some("5.7.1".into())
        );
        assert_eq!(
            choose_status(Some("5.1.1"), "550 5.7.1 no"),
            Some("5.1.1".into())
        );
        assert_eq!(choose_status(None, "550 user unknown"), None);
        assert_eq!(
            choose_status(None, "550 5.0.0 x 5.1.1"),
            Some("5.1.1".into())
        );
        assert_eq!(choose_status(Some("bogus"), "nothing"), None);
    }
}
