//! The response envelope: `{"Response": {...}}` with the RequestId last.
//!
//! Only builds JSON values. Sending them is the server's job, and it must use HTTP 200 and a
//! Content-Type of exactly `application/json` ([`CONTENT_TYPE`]): the Python SDK looks for an
//! error envelope only under that exact type, and treats any other status as a network error.

use serde_json::{Map, Value};

use super::error::ApiError;

/// The Content-Type of every API response, byte for byte (no `; charset=utf-8`).
pub const CONTENT_TYPE: &str = "application/json";

/// `{"Response": {...fields, "RequestId": request_id}}`.
///
/// A `RequestId` already in `fields` is replaced, so a handler cannot forge one.
pub fn envelope_ok(request_id: &str, mut fields: Map<String, Value>) -> Value {
    fields.insert("RequestId".to_owned(), Value::from(request_id));
    let mut response = Map::new();
    response.insert("Response".to_owned(), Value::Object(fields));
    Value::Object(response)
}

/// `{"Response": {"Error": {"Code", "Message"}, "RequestId": request_id}}`.
pub fn envelope_err(request_id: &str, error: &ApiError) -> Value {
    serde_json::json!({
        "Response": {
            "Error": { "Code": error.code, "Message": error.message },
            "RequestId": request_id,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(actual: Value, expected: Value) {
        assert_eq!(actual, expected);
    }

    #[test]
    fn success_envelope_appends_request_id() {
        let mut fields = Map::new();
        fields.insert("MessageId".to_owned(), json!("m-1"));
        fields.insert("RequestId".to_owned(), json!("forged"));
        check(
            envelope_ok("req-1", fields),
            json!({"Response": {"MessageId": "m-1", "RequestId": "req-1"}}),
        );
        check(
            envelope_ok("req-2", Map::new()),
            json!({"Response": {"RequestId": "req-2"}}),
        );
    }

    #[test]
    fn error_envelope_has_code_and_message() {
        check(
            envelope_err("req-3", &ApiError::missing_parameter("Subject")),
            json!({"Response": {
                "Error": {"Code": "MissingParameter", "Message": "the parameter `Subject` is required"},
                "RequestId": "req-3"
            }}),
        );
    }
}
