//! Decoding an action's parameters into its request struct, with schema errors translated to
//! Tencent codes that name the field (`Template.TemplateID`), plus lenient field helpers.
//!
//! GET and legacy requests carry every value as a string, so request structs use the helpers
//! here where they want numbers or booleans:
//!
//! ```text
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct ListEmailTemplates {
//!     #[serde(rename = "Limit", deserialize_with = "params::req_u64")]
//!     limit: u64,
//!     #[serde(rename = "Offset", default, deserialize_with = "params::opt_u64")]
//!     offset: Option<u64>,
//! }
//! ```
//!
//! Error messages never quote the received value: it may be a password or a message body.

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Unexpected};
use serde_json::Value;
use serde_path_to_error::Segment;

use super::error::{ApiError, printable};

/// Deserializes `params` (a JSON object) into `T`, mapping failures to Tencent codes:
/// missing field → `MissingParameter`, unknown field (with `deny_unknown_fields`) →
/// `UnknownParameter`, wrong type → `InvalidParameter`, value out of range or not one of the
/// allowed variants → `InvalidParameterValue`.
pub fn from_params<T: DeserializeOwned>(params: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(params).map_err(|error| {
        let path = dotted_path(error.path());
        translate(&path, &error.into_inner().to_string())
    })
}

/// The path as Tencent's flattened names spell it: `Datas.1.Email`.
fn dotted_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        let part = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.clone(),
            Segment::Enum { variant } => variant.clone(),
            Segment::Unknown => continue,
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&part);
    }
    out
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// The text between the first pair of backticks, which is how serde quotes field names.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// What serde's "expected ..." text asks for, in words for the client.
fn describe_expected(expected: &str) -> &'static str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "an integer" => "an integer",
        "f32" | "f64" | "a number" => "a number",
        "a boolean" => "a boolean",
        "a string" | "a borrowed string" | "a character" => "a string",
        "a sequence" | "a list" => "a list",
        e if e.starts_with("struct ") || e.starts_with("a map") || e == "an object" => "an object",
        e if e.starts_with("a tuple") => "a list",
        _ => "of another type",
    }
}

/// Maps one serde error message, found at `path`, to an [`ApiError`].
///
/// serde_json reports data errors only as text, so this reads the fixed phrases of serde's
/// `de::Error` constructors (`missing field`, `unknown field`, `invalid type`, ...).
fn translate(path: &str, message: &str) -> ApiError {
    // serde_json appends " at line N column M" only when parsing text; values have none.
    if message.starts_with("missing field") {
        // The path stops at the struct that lacks the field.
        let field = backticked(message).unwrap_or("");
        return ApiError::missing_parameter(&join(path, field));
    }
    if message.starts_with("unknown field") {
        let field = backticked(message).unwrap_or("");
        // serde_path_to_error may or may not have entered the unknown key already.
        let name = if path.rsplit('.').next() == Some(field) {
            path.to_owned()
        } else {
            join(path, field)
        };
        return ApiError::unknown_parameter(&name);
    }
    let shown = if path.is_empty() {
        "the request parameters".to_owned()
    } else {
        format!("`{}`", printable(path))
    };
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, expected)| expected.trim());
    if message.starts_with("invalid type") {
        let wanted = expected.map_or("of another type", describe_expected);
        return ApiError::invalid_parameter(format!("{shown} must be {wanted}"));
    }
    if message.starts_with("invalid value") {
        let wanted = match expected {
            Some("u8" | "u16" | "u32" | "u64" | "usize") => "a non-negative integer in range",
            Some("i8" | "i16" | "i32" | "i64" | "isize") => "an integer in range",
            _ => "a valid value",
        };
        return ApiError::invalid_parameter_value(format!("{shown} must be {wanted}"));
    }
    if message.starts_with("unknown variant") {
        let allowed = message
            .split_once("expected ")
            .map_or("", |(_, allowed)| allowed);
        return ApiError::invalid_parameter_value(format!(
            "{shown} must be {}",
            printable(allowed)
        ));
    }
    if message.starts_with("invalid length") {
        return ApiError::invalid_parameter_value(format!("{shown} has the wrong number of items"));
    }
    // Custom errors from hand-written Deserialize impls: their text is ours, not the client's.
    ApiError::invalid_parameter_value(format!("{shown}: {message}"))
}

// ---- lenient field helpers ----

/// Reads the field's raw JSON value. `Null` stands for "absent" in the optional helpers.
fn raw<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    Value::deserialize(deserializer)
}

fn type_error<E: de::Error>(value: &Value, expected: &'static str) -> E {
    // Only the kind of value is reported, never its content.
    let unexpected = match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(_) => Unexpected::Other("boolean"),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(_) => Unexpected::Other("string"),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    };
    E::invalid_type(unexpected, &expected)
}

/// An integer from a JSON number or a decimal string. Out-of-range values report
/// `invalid value` (→ InvalidParameterValue); anything else `invalid type` (→ InvalidParameter).
fn integer<T, E>(value: &Value, expected: &'static str) -> Result<T, E>
where
    T: TryFrom<i128> + std::str::FromStr,
    E: de::Error,
{
    let wide: i128 = match value {
        Value::Number(number) => {
            if let Some(n) = number.as_i64() {
                i128::from(n)
            } else if let Some(n) = number.as_u64() {
                i128::from(n)
            } else {
                return Err(type_error(value, expected));
            }
        }
        Value::String(text) => {
            let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(type_error(value, expected));
            }
            text.parse::<i128>()
                .map_err(|_| E::invalid_value(Unexpected::Other("integer"), &expected))?
        }
        _ => return Err(type_error(value, expected)),
    };
    T::try_from(wide).map_err(|_| E::invalid_value(Unexpected::Other("integer"), &expected))
}

fn boolean<E: de::Error>(value: &Value) -> Result<bool, E> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) => match text.as_str() {
            "true" | "True" | "1" => Ok(true),
            "false" | "False" | "0" => Ok(false),
            _ => Err(type_error(value, "a boolean")),
        },
        Value::Number(number) => match number.as_u64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(type_error(value, "a boolean")),
        },
        _ => Err(type_error(value, "a boolean")),
    }
}

fn string<E: de::Error>(value: Value) -> Result<String, E> {
    match value {
        Value::String(text) => Ok(text),
        // Some SDK fields typed string carry numbers (`ListAddressUnsubscribeConfig.Limit`).
        Value::Number(number) => Ok(number.to_string()),
        other => Err(type_error(&other, "a string")),
    }
}

/// `None` for absent markers: JSON null, and for the optional helpers an empty string, which
/// is how a GET request spells "no value".
fn is_absent(value: &Value) -> bool {
    matches!(value, Value::Null) || matches!(value, Value::String(text) if text.is_empty())
}

macro_rules! integer_helpers {
    ($required:ident, $optional:ident, $ty:ty, $expected:literal) => {
        #[doc = concat!("A required `", stringify!($ty), "` given as a JSON number or a decimal string.")]
        pub fn $required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
            integer(&raw(deserializer)?, $expected)
        }

        #[doc = concat!("An optional `", stringify!($ty), "` (use with `#[serde(default)]`); null or \"\" is `None`.")]
        pub fn $optional<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<$ty>, D::Error> {
            let value = raw(deserializer)?;
            if is_absent(&value) {
                return Ok(None);
            }
            integer(&value, $expected).map(Some)
        }
    };
}

integer_helpers!(req_u64, opt_u64, u64, "u64");
integer_helpers!(req_i64, opt_i64, i64, "i64");
integer_helpers!(req_u32, opt_u32, u32, "u32");

/// A required boolean: `true`/`false`, or the strings `true`, `True`, `1`, `false`, `False`, `0`.
pub fn req_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    boolean(&raw(deserializer)?)
}

/// An optional boolean (use with `#[serde(default)]`); null or "" is `None`.
pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let value = raw(deserializer)?;
    if is_absent(&value) {
        return Ok(None);
    }
    boolean(&value).map(Some)
}

/// A required string that also accepts a JSON number (kept as its decimal text).
pub fn req_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    string(raw(deserializer)?)
}

/// An optional string that also accepts a JSON number (use with `#[serde(default)]`); null is
/// `None`, while "" stays `Some("")` because an empty string can be a meaningful value.
pub fn opt_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match raw(deserializer)? {
        Value::Null => Ok(None),
        value => string(value).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Template {
        #[serde(rename = "TemplateID", deserialize_with = "req_u64")]
        template_id: u64,
        #[serde(rename = "TemplateData")]
        template_data: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Data {
        #[serde(rename = "Email")]
        email: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        #[serde(rename = "Template")]
        template: Template,
        #[serde(rename = "Limit", default, deserialize_with = "opt_u32")]
        limit: Option<u32>,
        #[serde(rename = "Offset", default, deserialize_with = "opt_i64")]
        offset: Option<i64>,
        #[serde(rename = "NewAPI", default, deserialize_with = "opt_bool")]
        new_api: Option<bool>,
        #[serde(rename = "Datas", default)]
        datas: Vec<Data>,
        #[serde(rename = "Destination", default)]
        destination: Vec<String>,
        #[serde(rename = "Unsubscribe", default, deserialize_with = "opt_string")]
        unsubscribe: Option<String>,
    }

    fn check(params: Value, expected: Result<Request, (&str, &str)>) {
        let actual = from_params::<Request>(params);
        match (actual, expected) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected),
            (Err(actual), Err((code, message))) => {
                assert_eq!(
                    (actual.code.as_ref(), actual.message.as_str()),
                    (code, message)
                );
            }
            (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
        }
    }

    fn minimal(template_id: u64) -> Request {
        Request {
            template: Template {
                template_id,
                template_data: "{}".to_owned(),
            },
            limit: None,
            offset: None,
            new_api: None,
            datas: Vec::new(),
            destination: Vec::new(),
            unsubscribe: None,
        }
    }

    #[test]
    fn accepts_json_types_and_strings_alike() {
        let expected = Request {
            limit: Some(20),
            offset: Some(-3),
            new_api: Some(true),
            unsubscribe: Some("1".to_owned()),
            datas: vec![Data {
                email: "a@x.test".to_owned(),
            }],
            destination: vec!["b@x.test".to_owned()],
            ..minimal(12)
        };
        check(
            json!({"Template": {"TemplateID": 12, "TemplateData": "{}"}, "Limit": 20, "Offset": -3,
                   "NewAPI": true, "Datas": [{"Email": "a@x.test"}], "Destination": ["b@x.test"],
                   "Unsubscribe": 1}),
            Ok(expected),
        );
        let expected = Request {
            limit: Some(20),
            offset: Some(-3),
            new_api: Some(true),
            unsubscribe: Some("1".to_owned()),
            datas: vec![Data {
                email: "a@x.test".to_owned(),
            }],
            destination: vec!["b@x.test".to_owned()],
            ..minimal(12)
        };
        check(
            json!({"Template": {"TemplateID": "12", "TemplateData": "{}"}, "Limit": "20", "Offset": "-3",
                   "NewAPI": "True", "Datas": [{"Email": "a@x.test"}], "Destination": ["b@x.test"],
                   "Unsubscribe": "1"}),
            Ok(expected),
        );
        // Absent, null and "" optional numbers are all None.
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Limit": null, "Offset": ""}),
            Ok(minimal(1)),
        );
    }

    #[test]
    fn booleans_accept_the_sdk_spellings() {
        for (input, expected) in [
            (json!(true), true),
            (json!("true"), true),
            (json!("True"), true),
            (json!("1"), true),
            (json!(1), true),
            (json!(false), false),
            (json!("false"), false),
            (json!("False"), false),
            (json!("0"), false),
            (json!(0), false),
        ] {
            let params =
                json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "NewAPI": input});
            let request: Request = from_params(params).expect("accepted");
            assert_eq!(request.new_api, Some(expected), "{input}");
        }
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "NewAPI": "yes"}),
            Err(("InvalidParameter", "`NewAPI` must be a boolean")),
        );
    }

    #[test]
    fn missing_fields_name_their_path() {
        check(
            json!({"Template": {"TemplateData": "{}"}}),
            Err((
                "MissingParameter",
                "the parameter `Template.TemplateID` is required",
            )),
        );
        check(
            json!({}),
            Err(("MissingParameter", "the parameter `Template` is required")),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Datas": [{"Email": "a"}, {}]}),
            Err((
                "MissingParameter",
                "the parameter `Datas.1.Email` is required",
            )),
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Bogus": 1}),
            Err((
                "UnknownParameter",
                "the parameter `Bogus` is not recognized",
            )),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}", "Extra": "x"}}),
            Err((
                "UnknownParameter",
                "the parameter `Template.Extra` is not recognized",
            )),
        );
    }

    #[test]
    fn wrong_types_and_ranges() {
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Limit": "ten"}),
            Err(("InvalidParameter", "`Limit` must be a non-negative integer")),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Limit": 1.5}),
            Err(("InvalidParameter", "`Limit` must be a non-negative integer")),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Limit": "-1"}),
            Err((
                "InvalidParameterValue",
                "`Limit` must be a non-negative integer in range",
            )),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Limit": 5_000_000_000u64}),
            Err((
                "InvalidParameterValue",
                "`Limit` must be a non-negative integer in range",
            )),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": 7}}),
            Err((
                "InvalidParameter",
                "`Template.TemplateData` must be a string",
            )),
        );
        check(
            json!({"Template": "x"}),
            Err(("InvalidParameter", "`Template` must be an object")),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Destination": "a@x.test"}),
            Err(("InvalidParameter", "`Destination` must be a list")),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Destination": [1]}),
            Err(("InvalidParameter", "`Destination.0` must be a string")),
        );
        check(
            json!({"Template": {"TemplateID": 1, "TemplateData": "{}"}, "Unsubscribe": true}),
            Err(("InvalidParameter", "`Unsubscribe` must be a string")),
        );
        check(
            json!({"Template": {"TemplateID": "", "TemplateData": "{}"}}),
            Err((
                "InvalidParameter",
                "`Template.TemplateID` must be a non-negative integer",
            )),
        );
    }

    #[test]
    fn required_helpers() {
        #[derive(Debug, Deserialize)]
        struct Required {
            #[serde(rename = "A", deserialize_with = "req_i64")]
            a: i64,
            #[serde(rename = "B", deserialize_with = "req_u32")]
            b: u32,
            #[serde(rename = "C", deserialize_with = "req_bool")]
            c: bool,
            #[serde(rename = "D", deserialize_with = "req_string")]
            d: String,
        }
        let parsed: Required =
            from_params(json!({"A": "-7", "B": 7, "C": "False", "D": 42})).expect("accepted");
        assert_eq!(
            (parsed.a, parsed.b, parsed.c, parsed.d.as_str()),
            (-7, 7, false, "42")
        );
        let error =
            from_params::<Required>(json!({"A": 1, "B": 1, "C": true})).expect_err("D is missing");
        assert_eq!(error.message, "the parameter `D` is required");
        let error = from_params::<Required>(json!({"A": null, "B": 1, "C": true, "D": ""}))
            .expect_err("null is not an integer");
        assert_eq!(error.message, "`A` must be an integer");
    }

    #[test]
    fn enums_list_their_variants() {
        #[derive(Debug, Deserialize)]
        enum Kind {
            Immediate,
            Scheduled,
        }
        #[derive(Debug, Deserialize)]
        struct WithKind {
            #[serde(rename = "Kind")]
            _kind: Kind,
        }
        let error = from_params::<WithKind>(json!({"Kind": "Later"})).expect_err("unknown");
        assert_eq!(error.code, "InvalidParameterValue");
        assert_eq!(error.message, "`Kind` must be `Immediate` or `Scheduled`");
    }
}
