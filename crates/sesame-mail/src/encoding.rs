//! Decoding of the base64 the API carries (template bodies, Simple content, attachments).
//! Clients differ: some pad, some do not, some wrap lines. All of that is accepted; anything
//! else is refused.

use base64::Engine;

/// Standard-alphabet base64, padded or not, ignoring ASCII whitespace; `None` when invalid.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(compact.as_bytes())
    .ok()
}

#[cfg(test)]
mod tests {
    use super::decode_base64;

    fn check(input: &str, expected: Option<&[u8]>) {
        assert_eq!(decode_base64(input).as_deref(), expected, "{input:?}");
    }

    #[test]
    fn padding_and_whitespace() {
        check("aGk=", Some(b"hi"));
        check("aGk", Some(b"hi"));
        check("aG\r\nk=", Some(b"hi"));
        check("a*k=", None);
        check("", Some(b""));
    }
}
