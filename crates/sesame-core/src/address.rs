//! Checked mail names: `DomainName` (normalised: lower case, no trailing dot, IDN as
//! punycode), `EmailAddress` (`local@domain`) and `Sender` (`addr` or `Alias <addr>`).
//! Built only through `parse`, so a value of these types never holds CR, LF or other
//! characters that could break a header.

use std::fmt;

/// A validated, normalised domain name such as `mail.example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Normalises and validates a sender domain: at least two labels, each 1–63 of
    /// `[a-z0-9-]` without a leading or trailing `-`, 253 characters at most, and a
    /// non-numeric last label.
    pub fn parse(text: &str) -> Option<DomainName> {
        let name = Self::normalise(text)?;
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 || name.len() > 253 {
            return None;
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return None;
            }
        }
        let last = labels[labels.len() - 1];
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(DomainName(name))
    }

    /// Like `parse`, but also allows `_` (for names such as `_spf.example.com` in config).
    pub fn parse_lenient(text: &str) -> Option<DomainName> {
        let name = Self::normalise(text)?;
        let ok = name.split('.').count() >= 2
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        ok.then_some(DomainName(name))
    }

    fn normalise(text: &str) -> Option<String> {
        let trimmed = text.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() || trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        if trimmed.is_ascii() {
            return Some(trimmed.to_ascii_lowercase());
        }
        idna::domain_to_ascii(trimmed).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mailbox `local@domain`: a dot-atom local part of at most 64 characters (kept as
/// given) and a normalised domain; 128 characters at most in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    local: String,
    domain: DomainName,
}

/// Characters RFC 5322 allows in a dot-atom besides letters and digits.
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

impl EmailAddress {
    pub fn parse(text: &str) -> Option<EmailAddress> {
        let text = text.trim();
        let (local, domain) = text.rsplit_once('@')?;
        if local.is_empty() || local.len() > 64 || text.len() > 128 {
            return None;
        }
        let atom_ok = local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(c))
        });
        if !atom_ok {
            return None;
        }
        let domain = DomainName::parse(domain)?;
        Some(EmailAddress {
            local: local.to_string(),
            domain,
        })
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &DomainName {
        &self.domain
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// A sender as written in the API: `addr` or `Alias <addr>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub alias: Option<String>,
    pub address: EmailAddress,
}

/// Why a sender string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderError {
    Address,
    Alias,
}

impl Sender {
    /// Parses `addr` or `Alias <addr>` (exactly one space before `<`, as Tencent writes it;
    /// more spaces are tolerated).
    pub fn parse(text: &str) -> Result<Sender, SenderError> {
        let text = text.trim();
        match text.strip_suffix('>').and_then(|t| t.rsplit_once('<')) {
            Some((alias, address)) => {
                let address = EmailAddress::parse(address).ok_or(SenderError::Address)?;
                if alias.is_empty() {
                    return Ok(Sender {
                        alias: None,
                        address,
                    });
                }
                // Tencent's form has exactly one space between the alias and `<`.
                let Some(alias) = alias.strip_suffix(' ').filter(|a| !a.ends_with(' ')) else {
                    return Err(SenderError::Address);
                };
                let alias = check_alias(alias).ok_or(SenderError::Alias)?;
                Ok(Sender {
                    alias: Some(alias),
                    address,
                })
            }
            None => Ok(Sender {
                alias: None,
                address: EmailAddress::parse(text).ok_or(SenderError::Address)?,
            }),
        }
    }
}

/// A display name: 1–64 characters without CR, LF, other control characters, `:`, `<`,
/// `>` or `"`.
pub fn check_alias(alias: &str) -> Option<String> {
    let alias = alias.trim();
    let count = alias.chars().count();
    let ok = (1..=64).contains(&count)
        && !alias
            .chars()
            .any(|c| c.is_control() || matches!(c, ':' | '<' | '>' | '"'));
    ok.then(|| alias.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_domain(input: &str, expected: Option<&str>) {
        assert_eq!(
            DomainName::parse(input).as_ref().map(DomainName::as_str),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn domains() {
        check_domain("Mail.Example.COM.", Some("mail.example.com"));
        check_domain("  example.com ", Some("example.com"));
        check_domain("bücher.example", Some("xn--bcher-kva.example"));
        check_domain("例子.测试", Some("xn--fsqu00a.xn--0zwm56d"));
        check_domain("example", None);
        check_domain("-bad.example.com", None);
        check_domain("bad-.example.com", None);
        check_domain("a..b", None);
        check_domain("1.2.3.4", None);
        check_domain("under_score.com", None);
        check_domain("ex ample.com", None);
        check_domain("evil.com\r\nBcc: x", None);
        check_domain(&format!("{}.com", "a".repeat(64)), None);
        check_domain("", None);
    }

    #[test]
    fn addresses() {
        let a = EmailAddress::parse("Noreply@Mail.Example.com").unwrap();
        assert_eq!(a.to_string(), "Noreply@mail.example.com");
        assert!(EmailAddress::parse("a.b+c@example.com").is_some());
        assert!(EmailAddress::parse("a..b@example.com").is_none());
        assert!(EmailAddress::parse("@example.com").is_none());
        assert!(EmailAddress::parse("a@b").is_none());
        assert!(EmailAddress::parse("a b@example.com").is_none());
        assert!(EmailAddress::parse("a\r\n@example.com").is_none());
        assert!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(65))).is_none());
    }

    #[test]
    fn senders() {
        let s = Sender::parse("Sesame Team <team@example.com>").unwrap();
        assert_eq!(s.alias.as_deref(), Some("Sesame Team"));
        assert_eq!(s.address.to_string(), "team@example.com");
        let s = Sender::parse("team@example.com").unwrap();
        assert_eq!(s.alias, None);
        assert_eq!(
            Sender::parse("Bad: Alias <a@example.com>"),
            Err(SenderError::Alias)
        );
        assert_eq!(
            Sender::parse("Alias<a@example.com>"),
            Err(SenderError::Address)
        );
        assert_eq!(
            Sender::parse("Alias  <a@example.com>"),
            Err(SenderError::Address)
        );
        assert_eq!(Sender::parse("Alias <nope>"), Err(SenderError::Address));
        assert_eq!(
            Sender::parse("x\r\nBcc: y <a@example.com>"),
            Err(SenderError::Alias)
        );
    }
}
