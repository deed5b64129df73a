//! Fuzz target: the SMTP command parser and the DATA decoder of `sesame-smtp` on arbitrary
//! bytes, split into lines as the session splits them. Neither may panic; every refusal is a
//! one-line ASCII reply with a 5xx code; decoded data always ends lines with CRLF.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_smtp::command::{self, Data, DataDecoder};

fuzz_target!(|data: &[u8]| {
    let mut decoder = DataDecoder::new(64 * 1024);
    let mut in_data = false;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if in_data {
            if decoder.line(line) {
                if let Data::Message(body) = std::mem::replace(&mut decoder, DataDecoder::new(64 * 1024)).finish() {
                    assert!(body.is_empty() || body.ends_with(b"\r\n"));
                }
                in_data = false;
            }
            continue;
        }
        match command::parse(line) {
            Ok(smtp_proto::Request::Data) => in_data = true,
            Ok(_) => {}
            Err(reply) => {
                assert!(reply.starts_with('5'), "{reply}");
                assert!(reply.is_ascii() && !reply.contains('\n') && !reply.contains('\r'));
            }
        }
    }
});
