//! Deterministic stand-in for the fuzz target (cargo-fuzz needs nightly): every corpus file is
//! mutated (truncated at many offsets, bytes flipped, line ends removed) and hostile inputs are
//! built (a huge repeated header, 5 MB of garbage, deeply nested multiparts, many recipients);
//! `parse` must return on each, without panicking and within a time bound.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sesame_bounce::parse;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bounces");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the bounce corpus is missing: cannot read {} ({e})",
            dir.display()
        )
    });
    let mut files: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let bytes = std::fs::read(e.path()).expect("corpus file is readable");
            (name, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .eml files in {}", dir.display());
    files
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Parses `input` and checks the result's invariants; panics (with `what`) if parsing is slow.
fn check(what: &str, input: &[u8], limit: Duration) {
    let started = Instant::now();
    let report = parse(input);
    let took = started.elapsed();
    assert!(took < limit, "{what}: parse took {took:?}");
    for r in &report.recipients {
        assert_ne!(
            r.kind,
            sesame_bounce::Kind::None,
            "{what}: recipient of kind None"
        );
        assert!(r.diagnostic.len() <= 500, "{what}: diagnostic too long");
        assert!(
            !r.diagnostic.contains('\n'),
            "{what}: diagnostic spans lines"
        );
    }
}

#[test]
fn mutated_corpus_files_never_panic() {
    let mut rng = Rng(0x5eed_b0b0_cafe_f00d);
    let limit = Duration::from_secs(2);
    for (name, bytes) in corpus() {
        // Truncations at evenly spread offsets.
        for i in 1..=12 {
            let at = bytes.len() * i / 13;
            check(&format!("{name} cut at {at}"), &bytes[..at], limit);
        }
        // Random byte flips.
        for round in 0..4 {
            let mut copy = bytes.clone();
            for _ in 0..8 {
                let at = rng.below(copy.len());
                copy[at] = rng.next() as u8;
            }
            check(&format!("{name} flips round {round}"), &copy, limit);
        }
        // No CR, no LF, CR only.
        let no_cr: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\r').collect();
        check(&format!("{name} without CR"), &no_cr, limit);
        let no_lf: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\n').collect();
        check(&format!("{name} without LF"), &no_lf, limit);
        let cr_only: Vec<u8> = no_cr
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        check(&format!("{name} CR line ends"), &cr_only, limit);
    }
}

#[test]
fn hostile_inputs_stay_bounded() {
    let limit = Duration::from_secs(10);
    // A header repeated until it weighs 3 MB.
    let mut big_header = b"From: MAILER-DAEMON@x.example\r\nSubject: Undelivered Mail\r\n".to_vec();
    while big_header.len() < 3_000_000 {
        big_header.extend_from_slice(b"X-Failed-Recipients: a@b.example, c@d.example\r\n");
    }
    big_header.extend_from_slice(b"\r\nhello\r\n");
    check("huge repeated header", &big_header, limit);

    // 5 MB of garbage, and 5 MB of '@' (the address scanner's worst case).
    let mut rng = Rng(42);
    let garbage: Vec<u8> = (0..5_000_000).map(|_| rng.next() as u8).collect();
    check("5 MB of garbage", &garbage, limit);
    let mut ats = b"From: postmaster@x.example\r\nSubject: failure notice\r\n\r\n".to_vec();
    ats.extend(std::iter::repeat_n(b'@', 5_000_000));
    check("5 MB of @", &ats, limit);
    let mut addresses = b"From: postmaster@x.example\r\nSubject: failure notice\r\n\r\n".to_vec();
    while addresses.len() < 3_000_000 {
        addresses.extend_from_slice(b"a.b@c.example\n");
    }
    check("a million address lines", &addresses, limit);
    let mut distinct = b"From: postmaster@x.example\r\nSubject: failure notice\r\n\r\n".to_vec();
    for i in 0..200_000 {
        distinct.extend_from_slice(format!("u{i}@c.example v{i}@d.example\n").as_bytes());
    }
    check("400 000 distinct addresses", &distinct, limit);

    // Deeply nested multiparts and messages.
    let mut nested = Vec::new();
    for depth in 0..2000 {
        nested.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{depth}\"\r\n\r\n--b{depth}\r\n")
                .as_bytes(),
        );
    }
    nested.extend_from_slice(b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nStatus: 5.1.1\r\n");
    check("2000 nested multiparts", &nested, limit);
    let mut messages = Vec::new();
    for _ in 0..2000 {
        messages.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    messages.extend_from_slice(b"Subject: x\r\n\r\nbody\r\n");
    check("2000 nested messages", &messages, limit);

    // A delivery-status part with a hundred thousand recipients.
    let mut many = b"From: MAILER-DAEMON@x.example\r\nContent-Type: multipart/report; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n".to_vec();
    for i in 0..100_000 {
        many.extend_from_slice(
            format!(
                "Final-Recipient: rfc822; u{i}@b.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            )
            .as_bytes(),
        );
    }
    check("100 000 DSN recipients", &many, limit);

    // Long lines without any newline, and HTML with unclosed tags.
    let mut html =
        b"From: postmaster@x.example\r\nSubject: Undeliverable\r\nContent-Type: text/html\r\n\r\n"
            .to_vec();
    for _ in 0..200_000 {
        html.extend_from_slice(b"<style><p>a@b.example ");
    }
    check("HTML with 200 000 style tags", &html, limit);

    // SES JSON nested deeply.
    let mut json = b"Subject: AWS Notification Message\r\n\r\n".to_vec();
    for _ in 0..100_000 {
        json.extend_from_slice(b"{\"a\":");
    }
    json.push(b'}');
    check("deep JSON", &json, limit);
}

/// Inputs the fuzzer (`fuzz/`, target bounce_parse) found crashing, kept so they stay fixed.
#[test]
fn fuzz_regressions_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-regressions exists") {
        let path = entry.expect("readable directory").path();
        let input = std::fs::read(&path).expect("readable file");
        check(&path.display().to_string(), &input, Duration::from_secs(5));
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
    // The shape of the first one: addresses sharing characters ("a@b@c").
    check("overlapping addresses", b"From: MAILER-DAEMON@x\r\nSubject: Undelivered Mail\r\n\r\nThe following address failed: a@b@c@d.example user unknown@@x\r\n", Duration::from_secs(5));
}
