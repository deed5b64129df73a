//! The pure, protocol-only half of a session: one command line to a parsed request (through
//! smtp-proto) or the reply that refuses it, and the DATA decoder (dot-unstuffing, line-ending
//! rules, limits). No I/O, so both are unit-tested and fuzzed directly.

use smtp_proto::Request;

/// Longest line of a message (SES-REFERENCE §11), line ending excluded.
pub const MAX_DATA_LINE: usize = 2000;

/// Parses one command line (ending included); `Err` is the reply that refuses it.
pub fn parse(line: &[u8]) -> Result<Request<String>, String> {
    Request::parse(&mut line.iter())
        .map(|request| request.into_owned())
        .map_err(|e| refusal(&e))
}

fn refusal(error: &smtp_proto::Error) -> String {
    use smtp_proto::Error;
    match error {
        Error::UnknownCommand | Error::NeedsMoreData { .. } | Error::InvalidResponse { .. } => {
            "500 5.5.1 Command unrecognized".into()
        }
        Error::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax".into(),
        Error::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax".into(),
        Error::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {}", printable(syntax)),
        Error::InvalidParameter { param } => {
            format!("501 5.5.4 Invalid parameter {:?}", printable(param))
        }
        Error::UnsupportedParameter { param } => {
            format!("555 5.5.4 Unsupported parameter {:?}", printable(param))
        }
        Error::ResponseTooLong => "500 5.5.2 Line too long".into(),
    }
}

/// A client's string fit to echo in a reply: printable ASCII, at most 100 characters.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(100)
        .collect()
}

/// How a DATA section ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Data {
    Message(Vec<u8>),
    TooBig,
    LongLine,
}

/// Collects a DATA section line by line. As Postfix does ("normalize"), a line ending in a
/// bare LF is taken as if it ended in CRLF, but only `<CR><LF>.<CR><LF>` ends the data: a `.`
/// line after a bare LF, or ending in one, is content, so no message can be smuggled past the
/// end as another SMTP server would read it. A refused section is read to its end (so the
/// session stays in step) but not kept.
pub struct DataDecoder {
    body: Vec<u8>,
    max_bytes: usize,
    too_big: bool,
    long_line: bool,
    after_crlf: bool,
}

impl DataDecoder {
    pub fn new(max_bytes: usize) -> DataDecoder {
        DataDecoder {
            body: Vec::with_capacity(16 * 1024),
            max_bytes,
            too_big: false,
            long_line: false,
            after_crlf: true,
        }
    }

    /// Takes one line (ending included); true when it was the end of the data.
    pub fn line(&mut self, line: &[u8]) -> bool {
        if self.after_crlf && line == b".\r\n" {
            return true;
        }
        self.after_crlf = line.ends_with(b"\r\n");
        let content = line.strip_prefix(b".").unwrap_or(line);
        let text = content.strip_suffix(b"\n").unwrap_or(content);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.len() > MAX_DATA_LINE {
            self.long_line = true;
        }
        if self.body.len() + text.len() + 2 > self.max_bytes {
            self.too_big = true;
        }
        if !(self.too_big || self.long_line) {
            self.body.extend_from_slice(text);
            self.body.extend_from_slice(b"\r\n");
        }
        false
    }

    /// A line longer than the reader's limit, thrown away unread. The message is refused
    /// whatever follows, so the line's ending does not matter.
    pub fn overlong_line(&mut self) {
        self.long_line = true;
        self.after_crlf = true;
    }

    pub fn finish(self) -> Data {
        if self.too_big {
            Data::TooBig
        } else if self.long_line {
            Data::LongLine
        } else {
            Data::Message(self.body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8], max: usize) -> (Data, usize) {
        let mut decoder = DataDecoder::new(max);
        let mut at = 0;
        for line in input.split_inclusive(|&b| b == b'\n') {
            at += line.len();
            if decoder.line(line) {
                return (decoder.finish(), at);
            }
        }
        (decoder.finish(), usize::MAX)
    }

    #[test]
    fn data_ends_only_at_crlf_dot_crlf() {
        let (data, at) = decode(b"a\r\n..b\r\nbare\n.\n.\r\nc\r\n.\r\nnext", 1000);
        assert_eq!(
            data,
            Data::Message(b"a\r\n.b\r\nbare\r\n\r\n\r\nc\r\n".to_vec())
        );
        assert_eq!(at, 24, "the data ends after c's line, not at .<LF>");
    }

    #[test]
    fn limits() {
        assert_eq!(decode(b"0123456789\r\n.\r\n", 8).0, Data::TooBig);
        let long = [vec![b'x'; MAX_DATA_LINE + 1], b"\r\n.\r\n".to_vec()].concat();
        assert_eq!(decode(&long, 1 << 20).0, Data::LongLine);
    }

    #[test]
    fn commands_and_refusals() {
        assert!(matches!(
            parse(b"EHLO client.test\r\n"),
            Ok(Request::Ehlo { .. })
        ));
        assert!(matches!(
            parse(b"mail from:<a@b.c> SIZE=10\r\n"),
            Ok(Request::Mail { .. })
        ));
        assert!(parse(b"HELLO\r\n").unwrap_err().starts_with("500"));
        assert!(parse(b"MAIL FROM:<a@b.c> BOGUS=\x01\r\n").is_err());
        for garbage in [&b"\x00\xff\r\n"[..], b"\r\n", b"RCPT TO:<\r\n", b"AUTH\r\n"] {
            let refusal = parse(garbage).unwrap_err();
            assert!(refusal.is_ascii() && !refusal.contains('\n'), "{refusal:?}");
        }
    }
}
