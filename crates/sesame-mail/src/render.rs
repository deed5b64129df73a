//! Template rendering: fills `{{name}}` variables from a send's TemplateData. Uses the
//! scanner of `sesame_core::template`, so what counts as a variable here is exactly what
//! template creation accepted. Knows nothing of MIME or tracking; it only produces text.

use std::collections::BTreeMap;

use sesame_core::template::{Piece, SyntaxError, scan};

/// How substituted values are escaped. Template text itself is never escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// HTML-escape `& < > " '`, for the HTML body.
    Html,
    /// Insert values as they are, for the text body and the subject.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template uses a variable that TemplateData does not give.
    #[error("template variable `{0}` has no value")]
    MissingVariable(String),
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
}

/// TemplateData that is not a flat JSON object (the API answers
/// `FailedOperation.WrongContentJson`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateDataError {
    #[error("template data is not valid JSON: {0}")]
    NotJson(String),
    #[error("template data is not a JSON object")]
    NotAnObject,
    /// A value is an object, an array or null.
    #[error("template data value `{0}` is not a string, number or boolean")]
    NotFlat(String),
}

/// Fills the variables of `template` from `data`, escaping values as `escape` says.
pub fn render(
    template: &str,
    data: &BTreeMap<String, String>,
    escape: Escape,
) -> Result<String, RenderError> {
    let pieces = scan(template)?;
    let mut out = String::with_capacity(template.len() + 64);
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable(name) => {
                let value = data
                    .get(name)
                    .ok_or_else(|| RenderError::MissingVariable(name.to_string()))?;
                match escape {
                    Escape::Html => push_html_escaped(&mut out, value),
                    Escape::None => out.push_str(value),
                }
            }
        }
    }
    Ok(out)
}

/// `value` with the five HTML-special characters escaped: safe in text and in quoted
/// attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    push_html_escaped(&mut out, value);
    out
}

fn push_html_escaped(out: &mut String, value: &str) {
    for ch in value.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

/// Parses TemplateData: a string holding a flat JSON object. Strings are kept as they are;
/// numbers and booleans become their JSON text (`3`, `2.5`, `true`). `null`, objects and
/// arrays are refused, as Tencent says values must not be nested structures.
pub fn parse_template_data(json: &str) -> Result<BTreeMap<String, String>, TemplateDataError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| TemplateDataError::NotJson(e.to_string()))?;
    let serde_json::Value::Object(object) = value else {
        return Err(TemplateDataError::NotAnObject);
    };
    let mut data = BTreeMap::new();
    for (key, value) in object {
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null
            | serde_json::Value::Array(_)
            | serde_json::Value::Object(_) => return Err(TemplateDataError::NotFlat(key)),
        };
        data.insert(key, text);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input` is `(template, TemplateData JSON, escape)`; `expected` the rendering or the
    /// start of the error text.
    fn check(input: (&str, &str, Escape), expected: Result<&str, &str>) {
        let (template, json, escape) = input;
        let got = parse_template_data(json)
            .map_err(|e| e.to_string())
            .and_then(|data| render(template, &data, escape).map_err(|e| e.to_string()));
        match (&got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "template {template:?}"),
            (Err(got), Err(expected)) => {
                assert!(got.starts_with(expected), "{got:?} vs {expected:?}")
            }
            _ => panic!("template {template:?} data {json:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn substitutes_variables() {
        check(
            (
                "Hi {{name}}, code {{ code }}!",
                r#"{"name":"Ann","code":"42"}"#,
                Escape::None,
            ),
            Ok("Hi Ann, code 42!"),
        );
        check(("no variables", "{}", Escape::Html), Ok("no variables"));
        check(
            (
                "你好 {{user.name}}",
                r#"{"user.name":"张三"}"#,
                Escape::None,
            ),
            Ok("你好 张三"),
        );
        check(
            (
                "{{n}} {{f}} {{b}}",
                r#"{"n":3,"f":2.5,"b":true}"#,
                Escape::None,
            ),
            Ok("3 2.5 true"),
        );
    }

    #[test]
    fn escapes_html_only_when_asked() {
        let data = r#"{"v":"<a href=\"x\">Tom & 'Jerry'</a>"}"#;
        check(
            ("<p>{{v}}</p>", data, Escape::Html),
            Ok("<p>&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;</p>"),
        );
        check(
            ("{{v}}", data, Escape::None),
            Ok("<a href=\"x\">Tom & 'Jerry'</a>"),
        );
    }

    #[test]
    fn errors() {
        check(
            ("Hi {{name}}", "{}", Escape::None),
            Err("template variable `name` has no value"),
        );
        check(
            ("Hi {{name", "{}", Escape::None),
            Err("malformed template variable at byte 3: `{{` is never closed by `}}`"),
        );
        check(
            ("x", "[1]", Escape::None),
            Err("template data is not a JSON object"),
        );
        check(
            ("x", "\"s\"", Escape::None),
            Err("template data is not a JSON object"),
        );
        check(
            ("x", r#"{"a":{"b":1}}"#, Escape::None),
            Err("template data value `a` is not a string, number or boolean"),
        );
        check(
            ("x", r#"{"a":[1]}"#, Escape::None),
            Err("template data value `a` is not a string, number or boolean"),
        );
        check(
            ("x", r#"{"a":null}"#, Escape::None),
            Err("template data value `a` is not a string, number or boolean"),
        );
        check(
            ("x", "{not json", Escape::None),
            Err("template data is not valid JSON"),
        );
    }
}
