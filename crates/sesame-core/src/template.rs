//! Template variable syntax: `{{name}}`, the name 1–64 characters of `[A-Za-z0-9_.-]`,
//! spaces inside the braces allowed. Checked at template creation; rendering (later) uses
//! the same scanner so both agree on what a variable is.

/// A malformed variable, with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed template variable at byte {offset}: {reason}")]
pub struct SyntaxError {
    pub offset: usize,
    pub reason: &'static str,
}

/// One piece of a template: literal text or a variable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Splits `text` into literal text and variables.
pub fn scan(text: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(SyntaxError {
                offset: offset + start,
                reason: "`{{` is never closed by `}}`",
            });
        };
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(SyntaxError {
                offset: offset + start,
                reason: "empty variable name",
            });
        }
        let ok = name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(SyntaxError {
                offset: offset + start,
                reason: "a variable name is 1-64 letters, digits, '_', '.' or '-'",
            });
        }
        pieces.push(Piece::Variable(name));
        let consumed = start + 2 + end + 2;
        rest = &rest[consumed..];
        offset += consumed;
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// The distinct variable names of `text`, in order of first use.
pub fn variables(text: &str) -> Result<Vec<String>, SyntaxError> {
    let mut names: Vec<String> = Vec::new();
    for piece in scan(text)? {
        if let Piece::Variable(name) = piece
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<Vec<&str>, usize>) {
        let got = variables(input).map_err(|e| e.offset);
        let expected = expected.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn syntax() {
        check(
            "Hello {{name}}, code {{ code }} {{name}}",
            Ok(vec!["name", "code"]),
        );
        check("no variables { } }}", Ok(vec![]));
        check("x {{name", Err(2));
        check("{{}}", Err(0));
        check("{{bad name}}", Err(0));
        check("{{a<b}}", Err(0));
        check("你好 {{user.first-name_2}}", Ok(vec!["user.first-name_2"]));
    }
}
