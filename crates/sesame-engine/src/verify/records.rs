//! The records a sender domain must publish and the rules that decide whether the values found
//! in DNS satisfy them (docs/control-plane.md, "Sender domains").
//!
//! Pure: no I/O, no clock. The rules parse SPF, DKIM and DMARC records just far enough to compare
//! the parts that matter, because users publish equivalent records in many spellings (merged SPF
//! includes, extra spaces, keys split over several strings).

/// Deployment settings that shape the expected records (the `[sending]` config section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    /// Domain named in the SPF `include:` term, e.g. `spf.sesame.example`.
    pub spf_include: String,
    /// DKIM selector; the key is published at `<dkim_selector>._domainkey.<domain>`.
    pub dkim_selector: String,
    /// Our inbound SMTP host, which the domain's MX must point at (bounces, replies).
    pub mx_host: String,
}

/// One DKIM public key the domain must publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimPublicKey {
    /// Full selector, e.g. `sesame` or `sesame1024` for the second key of `DKIMOption` 2.
    pub selector: String,
    /// Base64 of the DER public key, exactly as it goes in the DKIM `p=` tag.
    pub public_key_b64: String,
}

/// What a record is for; decides which comparison rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordPurpose {
    Spf,
    Dkim,
    Dmarc,
    Mx,
}

/// A record the domain must publish, as shown to the user in `Attributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRecord {
    pub purpose: RecordPurpose,
    /// `"TXT"` or `"MX"`, Tencent's `Type` field.
    pub record_type: &'static str,
    /// Full name of the record, without the trailing dot (`SendDomain`).
    pub name: String,
    /// What we ask the user to publish (`ExpectedValue`). For MX, the exchange host.
    pub expected_value: String,
}

/// The records `domain` must publish, in the order of `Attributes`: SPF, each DKIM key, DMARC, MX.
pub fn expected_records(
    domain: &str,
    settings: &RecordSettings,
    dkim_keys: &[DkimPublicKey],
) -> Vec<ExpectedRecord> {
    // Domains arrive normalised; a stray trailing dot would still give "x..y" names below.
    let domain = domain.trim_end_matches('.');
    let mut records = Vec::with_capacity(dkim_keys.len() + 3);
    records.push(ExpectedRecord {
        purpose: RecordPurpose::Spf,
        record_type: "TXT",
        name: domain.to_owned(),
        expected_value: format!("v=spf1 include:{} ~all", settings.spf_include),
    });
    for key in dkim_keys {
        records.push(ExpectedRecord {
            purpose: RecordPurpose::Dkim,
            record_type: "TXT",
            name: format!("{}._domainkey.{domain}", key.selector),
            expected_value: format!("v=DKIM1; k=rsa; p={}", key.public_key_b64),
        });
    }
    records.push(ExpectedRecord {
        purpose: RecordPurpose::Dmarc,
        record_type: "TXT",
        name: format!("_dmarc.{domain}"),
        expected_value: "v=DMARC1; p=none".to_owned(),
    });
    records.push(ExpectedRecord {
        purpose: RecordPurpose::Mx,
        record_type: "MX",
        name: domain.to_owned(),
        expected_value: settings.mx_host.clone(),
    });
    records
}

/// Whether the values found at `expected.name` satisfy `expected`.
///
/// `found` holds one entry per DNS record: for TXT, the record's strings concatenated; for MX,
/// the exchange host.
pub fn record_passes(expected: &ExpectedRecord, found: &[String]) -> bool {
    match expected.purpose {
        RecordPurpose::Spf => spf_passes(&expected.expected_value, found),
        RecordPurpose::Dkim => dkim_passes(&expected.expected_value, found),
        RecordPurpose::Dmarc => found.iter().any(|record| is_dmarc_record(record)),
        RecordPurpose::Mx => {
            let wanted = normalise_host(&expected.expected_value);
            found.iter().any(|host| normalise_host(host) == wanted)
        }
    }
}

/// SPF passes when exactly one SPF record exists (two make every check a permerror,
/// RFC 7208 §4.5) and it carries every `include:` term of the expected record. Other mechanisms
/// and includes are the user's business: merging ours into an existing record is the usual case.
fn spf_passes(expected_value: &str, found: &[String]) -> bool {
    let mut spf_records = found.iter().filter(|record| is_spf_record(record));
    let (Some(record), None) = (spf_records.next(), spf_records.next()) else {
        return false;
    };
    let wanted: Vec<&str> = expected_value
        .split_ascii_whitespace()
        .filter_map(spf_include_target)
        .collect();
    wanted.iter().all(|target| {
        record
            .split_ascii_whitespace()
            .filter_map(spf_include_target)
            .any(|found_target| same_domain(found_target, target))
    })
}

/// An SPF record's first term is exactly `v=spf1` (RFC 7208 §4.5): `v=spf10` is not SPF.
fn is_spf_record(record: &str) -> bool {
    record
        .split_ascii_whitespace()
        .next()
        .is_some_and(|version| version.eq_ignore_ascii_case("v=spf1"))
}

/// The domain of an `include:` term that authorises mail. `+` is the default qualifier
/// (RFC 7208 §4.6.2), so `+include:` counts; `~`, `-` and `?` includes do not authorise.
fn spf_include_target(term: &str) -> Option<&str> {
    let term = term.strip_prefix('+').unwrap_or(term);
    let (mechanism, target) = term.split_once(':')?;
    mechanism.eq_ignore_ascii_case("include").then_some(target)
}

/// DKIM passes when a record publishes the expected key and does not declare another key type.
fn dkim_passes(expected_value: &str, found: &[String]) -> bool {
    // An empty p= means "key revoked" (RFC 6376 §3.6.1), never a key to match.
    let Some(wanted_key) = dkim_tag(expected_value, "p")
        .map(strip_whitespace)
        .filter(|key| !key.is_empty())
    else {
        return false;
    };
    found.iter().any(|record| {
        let key_matches =
            dkim_tag(record, "p").map(strip_whitespace).as_deref() == Some(wanted_key.as_str());
        // k= defaults to rsa (RFC 6376 §3.6.1); an ed25519 record with our bytes is not our key.
        let type_matches = dkim_tag(record, "k").is_none_or(|k| k.eq_ignore_ascii_case("rsa"));
        key_matches && type_matches
    })
}

/// Value of the first `name=` tag of a tag list (RFC 6376 §3.2), trimmed. Tag names are
/// case-sensitive there, so `P=` is not `p=`.
fn dkim_tag<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    tags(record)
        .find(|(tag, _)| *tag == name)
        .map(|(_, value)| value)
}

/// A DMARC record starts with the `v=DMARC1` tag and has a `p=` tag (RFC 7489 §6.3). We accept
/// any case: receivers do, and a user who wrote `v=dmarc1` should not be told DNS is wrong.
fn is_dmarc_record(record: &str) -> bool {
    let mut record_tags = tags(record);
    let starts_with_version = record_tags.next().is_some_and(|(tag, value)| {
        tag.eq_ignore_ascii_case("v") && value.eq_ignore_ascii_case("DMARC1")
    });
    starts_with_version && record_tags.any(|(tag, _)| tag.eq_ignore_ascii_case("p"))
}

/// Splits a `tag=value; tag=value` list, trimming both sides. Empty entries (a trailing `;`)
/// and entries without `=` are skipped.
fn tags(record: &str) -> impl Iterator<Item = (&str, &str)> {
    record.split(';').filter_map(|entry| {
        let (tag, value) = entry.split_once('=')?;
        Some((tag.trim(), value.trim()))
    })
}

/// Base64 in `p=` may be folded with whitespace (RFC 6376 §3.2), which is not part of the key.
fn strip_whitespace(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace()).collect()
}

fn normalise_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn same_domain(left: &str, right: &str) -> bool {
    normalise_host(left) == normalise_host(right)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1";

    fn settings() -> RecordSettings {
        RecordSettings {
            spf_include: "spf.sesame.test".to_owned(),
            dkim_selector: "sesame".to_owned(),
            mx_host: "mx.sesame.test".to_owned(),
        }
    }

    fn expected(purpose: RecordPurpose) -> ExpectedRecord {
        let keys = [DkimPublicKey {
            selector: "sesame".to_owned(),
            public_key_b64: KEY.to_owned(),
        }];
        expected_records("example.test", &settings(), &keys)
            .into_iter()
            .find(|record| record.purpose == purpose)
            .expect("expected_records yields every purpose")
    }

    /// Checks whether the DNS values `found` satisfy the record of `purpose` for example.test.
    #[track_caller]
    fn check(purpose: RecordPurpose, found: &[&str], passes: bool) {
        let found: Vec<String> = found.iter().map(|value| (*value).to_owned()).collect();
        assert_eq!(
            record_passes(&expected(purpose), &found),
            passes,
            "{purpose:?} with {found:?}"
        );
    }

    #[test]
    fn expected_records_in_attribute_order() {
        let keys = [
            DkimPublicKey {
                selector: "sesame".to_owned(),
                public_key_b64: "KEY2048".to_owned(),
            },
            DkimPublicKey {
                selector: "sesame1024".to_owned(),
                public_key_b64: "KEY1024".to_owned(),
            },
        ];
        let records = expected_records("mail.example.test", &settings(), &keys);
        let shown: Vec<(RecordPurpose, &str, &str, &str)> = records
            .iter()
            .map(|r| {
                (
                    r.purpose,
                    r.record_type,
                    r.name.as_str(),
                    r.expected_value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    RecordPurpose::Spf,
                    "TXT",
                    "mail.example.test",
                    "v=spf1 include:spf.sesame.test ~all"
                ),
                (
                    RecordPurpose::Dkim,
                    "TXT",
                    "sesame._domainkey.mail.example.test",
                    "v=DKIM1; k=rsa; p=KEY2048"
                ),
                (
                    RecordPurpose::Dkim,
                    "TXT",
                    "sesame1024._domainkey.mail.example.test",
                    "v=DKIM1; k=rsa; p=KEY1024"
                ),
                (
                    RecordPurpose::Dmarc,
                    "TXT",
                    "_dmarc.mail.example.test",
                    "v=DMARC1; p=none"
                ),
                (
                    RecordPurpose::Mx,
                    "MX",
                    "mail.example.test",
                    "mx.sesame.test"
                ),
            ]
        );
    }

    #[test]
    fn expected_records_drop_a_trailing_dot_of_the_domain() {
        let records = expected_records("example.test.", &settings(), &[]);
        let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["example.test", "_dmarc.example.test", "example.test"]
        );
    }

    #[test]
    fn expected_values_pass_their_own_rule() {
        for purpose in [
            RecordPurpose::Spf,
            RecordPurpose::Dkim,
            RecordPurpose::Dmarc,
            RecordPurpose::Mx,
        ] {
            let record = expected(purpose);
            assert!(
                record_passes(&record, std::slice::from_ref(&record.expected_value)),
                "{record:?}"
            );
        }
    }

    #[test]
    fn spf() {
        use RecordPurpose::Spf;
        check(Spf, &["v=spf1 include:spf.sesame.test ~all"], true);
        check(Spf, &["V=SPF1 INCLUDE:SPF.SESAME.TEST -all"], true);
        check(Spf, &["  v=spf1   include:spf.sesame.test   ~all  "], true);
        check(Spf, &["v=spf1 include:spf.sesame.test. ~all"], true);
        check(Spf, &["v=spf1 +include:spf.sesame.test ~all"], true);
        check(
            Spf,
            &["v=spf1 ip4:192.0.2.1 include:_spf.other.test include:spf.sesame.test mx -all"],
            true,
        );
        // Unrelated TXT records at the apex are normal (site verification tokens).
        check(
            Spf,
            &[
                "google-site-verification=abc",
                "v=spf1 include:spf.sesame.test ~all",
            ],
            true,
        );
        check(Spf, &["v=spf1 include:spf.sesame.test"], true);
    }

    #[test]
    fn spf_failures() {
        use RecordPurpose::Spf;
        check(Spf, &[], false);
        check(Spf, &["google-site-verification=abc"], false);
        check(Spf, &["v=spf1 include:_spf.other.test ~all"], false);
        check(Spf, &["v=spf1 ~all"], false);
        // Two SPF records are a permerror for every receiver, even if one is right.
        check(
            Spf,
            &[
                "v=spf1 include:spf.sesame.test ~all",
                "v=spf1 include:_spf.other.test ~all",
            ],
            false,
        );
        check(Spf, &["v=spf10 include:spf.sesame.test ~all"], false);
        check(Spf, &["spf1 include:spf.sesame.test ~all"], false);
        check(Spf, &["x v=spf1 include:spf.sesame.test ~all"], false);
        check(
            Spf,
            &["v=spf1 include:spf.sesame.test.evil.test ~all"],
            false,
        );
        check(Spf, &["v=spf1 include:sesame.test ~all"], false);
        check(Spf, &["v=spf1 -include:spf.sesame.test ~all"], false);
        check(Spf, &["v=spf1 ~include:spf.sesame.test ~all"], false);
        check(Spf, &["v=spf1 redirect=spf.sesame.test"], false);
    }

    #[test]
    fn dkim() {
        use RecordPurpose::Dkim;
        check(Dkim, &[&format!("v=DKIM1; k=rsa; p={KEY}")], true);
        check(Dkim, &[&format!("k=rsa;p={KEY}")], true);
        check(Dkim, &[&format!("v=DKIM1; p={KEY}")], true);
        check(Dkim, &[&format!("p={KEY}")], true);
        check(Dkim, &[&format!("v=DKIM1;k=RSA;p={KEY};")], true);
        check(
            Dkim,
            &[&format!("  v=DKIM1 ;  k = rsa ; p = {KEY}  ")],
            true,
        );
        check(
            Dkim,
            &[&format!("v=DKIM1; k=rsa; t=s; h=sha256; p={KEY}")],
            true,
        );
        // Long keys get folded by DNS consoles; whitespace inside base64 is not data.
        let (head, tail) = KEY.split_at(20);
        check(Dkim, &[&format!("v=DKIM1; k=rsa; p={head} {tail}")], true);
        check(Dkim, &[&format!("v=DKIM1; k=rsa; p={head}\t {tail}")], true);
        check(
            Dkim,
            &[
                "v=DKIM1; k=rsa; p=OLDKEY",
                &format!("v=DKIM1; k=rsa; p={KEY}"),
            ],
            true,
        );
    }

    #[test]
    fn dkim_failures() {
        use RecordPurpose::Dkim;
        check(Dkim, &[], false);
        check(Dkim, &["v=DKIM1; k=rsa; p=OTHERKEY"], false);
        check(Dkim, &["v=DKIM1; k=rsa; p="], false);
        check(Dkim, &["v=DKIM1; k=rsa"], false);
        check(Dkim, &[&format!("v=DKIM1; k=ed25519; p={KEY}")], false);
        check(Dkim, &[&format!("v=DKIM1; k=rsa; p={KEY}AB")], false);
        check(Dkim, &[&format!("v=DKIM1; k=rsa; p={}", &KEY[1..])], false);
        // Base64 is case-sensitive, and so are DKIM tag names (RFC 6376 §3.2).
        check(
            Dkim,
            &[&format!("v=DKIM1; k=rsa; p={}", KEY.to_ascii_lowercase())],
            false,
        );
        check(Dkim, &[&format!("v=DKIM1; k=rsa; P={KEY}")], false);
        check(Dkim, &[&format!("v=DKIM1; k=rsa; x{KEY}")], false);
    }

    #[test]
    fn dmarc() {
        use RecordPurpose::Dmarc;
        check(Dmarc, &["v=DMARC1; p=none"], true);
        check(Dmarc, &["v=DMARC1;p=reject"], true);
        check(
            Dmarc,
            &["v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test; pct=100"],
            true,
        );
        check(
            Dmarc,
            &["v=DMARC1; rua=mailto:dmarc@example.test; p=none"],
            true,
        );
        check(Dmarc, &[" v = DMARC1 ; p = none ; "], true);
        check(Dmarc, &["v=dmarc1; p=none"], true);
        check(Dmarc, &["unrelated", "v=DMARC1; p=none"], true);
    }

    #[test]
    fn dmarc_failures() {
        use RecordPurpose::Dmarc;
        check(Dmarc, &[], false);
        check(Dmarc, &["v=DMARC1"], false);
        check(Dmarc, &["v=DMARC1; rua=mailto:dmarc@example.test"], false);
        check(Dmarc, &["p=none; v=DMARC1"], false);
        check(Dmarc, &["v=DMARC2; p=none"], false);
        check(Dmarc, &["v=spf1 include:spf.sesame.test ~all"], false);
        check(Dmarc, &["v=DMARC1; pct=100; sp=none"], false);
    }

    #[test]
    fn mx() {
        use RecordPurpose::Mx;
        check(Mx, &["mx.sesame.test"], true);
        check(Mx, &["mx.sesame.test."], true);
        check(Mx, &["MX.Sesame.TEST"], true);
        check(Mx, &["mx1.other.test", "mx.sesame.test"], true);
    }

    #[test]
    fn mx_failures() {
        use RecordPurpose::Mx;
        check(Mx, &[], false);
        check(Mx, &["mx1.other.test"], false);
        check(Mx, &["mx.sesame.test.other.test"], false);
        check(Mx, &["sesame.test"], false);
        check(Mx, &[""], false);
    }
}
