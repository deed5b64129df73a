//! Fuzz target: `sesame_bounce::parse` on arbitrary bytes must never panic, and every recipient
//! it reports must keep the Report's promises (never of kind None, one-line bounded diagnostic).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = sesame_bounce::parse(data);
    for recipient in &report.recipients {
        assert_ne!(recipient.kind, sesame_bounce::Kind::None);
        assert!(recipient.diagnostic.len() <= 500);
        assert!(!recipient.diagnostic.contains('\n'));
    }
});
