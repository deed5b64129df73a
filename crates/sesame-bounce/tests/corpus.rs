//! The bounce corpus (`testdata/bounces`, a copy of `shared/testdata/bounces`: real bounces,
//! complaints and look-alikes with Sisimai's expectations): every file is parsed, and a file counts as right when its list
//! of (address, status, kind) matches `expected.jsonl`. Prints the figure per family and overall,
//! lists the failures, and fails below 95 %. A missing corpus fails the test.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use sesame_bounce::{Kind, Report, parse};

const THRESHOLD: f64 = 0.95;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bounces")
}

/// One expected recipient: lowercase address (None when redacted), acceptable statuses, kind.
#[derive(Debug)]
struct Expected {
    address: Option<String>,
    statuses: Vec<Option<String>>,
    kind: String,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Hard => "hard",
        Kind::Soft => "soft",
        Kind::Complaint => "complaint",
        Kind::None => "none",
    }
}

/// Why the report does not match, or None when it does.
fn mismatch(expected: &[Expected], report: &Report) -> Option<String> {
    if expected.iter().all(|e| e.kind == "none") {
        return (report.kind != Kind::None || !report.recipients.is_empty())
            .then(|| format!("expected none, got {}", describe(report)));
    }
    if expected.len() != report.recipients.len() {
        return Some(format!(
            "expected {} recipient(s), got {}",
            expected.len(),
            describe(report)
        ));
    }
    for (e, got) in expected.iter().zip(&report.recipients) {
        let address = got.address.as_ref().map(|a| a.to_ascii_lowercase());
        let status_ok = e.statuses.contains(&got.status);
        if address != e.address || !status_ok || kind_name(got.kind) != e.kind {
            return Some(format!(
                "expected ({:?}, {:?}, {}), got {}",
                e.address,
                e.statuses,
                e.kind,
                describe(report)
            ));
        }
    }
    None
}

fn describe(report: &Report) -> String {
    let list: Vec<String> = report
        .recipients
        .iter()
        .map(|r| {
            format!(
                "({:?}, {:?}, {}, {:?})",
                r.address,
                r.status,
                kind_name(r.kind),
                r.diagnostic.chars().take(120).collect::<String>()
            )
        })
        .collect();
    format!("kind {} [{}]", kind_name(report.kind), list.join(", "))
}

fn family(file: &str) -> String {
    let stem = file.trim_end_matches(".eml");
    match stem.rsplit_once('-') {
        Some((family, number)) if number.bytes().all(|b| b.is_ascii_digit()) => family.to_string(),
        _ => stem.to_string(),
    }
}

#[test]
fn corpus_matches_expectations() {
    let dir = corpus_dir();
    let expected_path = dir.join("expected.jsonl");
    let expected_text = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
        panic!(
            "the bounce corpus is missing: cannot read {} ({e}); it lives in testdata/bounces at the repository's root (a copy of shared/testdata/bounces)",
            expected_path.display()
        )
    });
    let mut per_family: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut total = 0;
    let mut right = 0;
    for line in expected_text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).expect("expected.jsonl lines are JSON");
        let file = entry["file"].as_str().expect("file name").to_string();
        let expected: Vec<Expected> = entry["recipients"]
            .as_array()
            .expect("recipients")
            .iter()
            .map(|r| {
                let text = |v: &Value| v.as_str().map(str::to_string);
                let mut statuses = vec![text(&r["status"])];
                if let Some(dsn) = text(&r["dsn_status"]) {
                    statuses.push(Some(dsn));
                }
                Expected {
                    address: text(&r["address"]).map(|a| a.to_ascii_lowercase()),
                    statuses,
                    kind: text(&r["kind"]).expect("kind"),
                }
            })
            .collect();
        let raw = std::fs::read(dir.join(&file))
            .unwrap_or_else(|e| panic!("cannot read corpus file {file}: {e}"));
        let report = parse(&raw);
        let counts = per_family.entry(family(&file)).or_default();
        counts.1 += 1;
        total += 1;
        match mismatch(&expected, &report) {
            None => {
                counts.0 += 1;
                right += 1;
            }
            Some(why) => failures.push(format!("{file}: {why}")),
        }
    }
    assert!(total > 0, "expected.jsonl lists no files");
    println!("per family (right/total):");
    for (family, (ok, n)) in &per_family {
        println!("  {family:<28} {ok}/{n}");
    }
    println!("failures ({}):", failures.len());
    for failure in &failures {
        println!("  {failure}");
    }
    let share = right as f64 / total as f64;
    println!("overall: {right}/{total} = {:.1} %", share * 100.0);
    assert!(
        share >= THRESHOLD,
        "corpus figure {:.1} % is below {:.0} %",
        share * 100.0,
        THRESHOLD * 100.0
    );
}
