//! The error a client sees: a TencentCloud error code and a short message.
//!
//! Owns the framework codes of API 3.0 (`AuthFailure.*`, `MissingParameter`, ...) as named
//! constructors; SES sub-codes (`FailedOperation.InvalidTemplateID`, ...) go through
//! [`ApiError::new`]. Messages tell the client what to fix and never carry secrets, signatures
//! or stored data of other accounts; the cause chain belongs in the server log, not here.

use std::borrow::Cow;

/// One `{"Code", "Message"}` pair of the error envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Tencent error code, e.g. `AuthFailure.SignatureFailure` or `InvalidParameterValue.NoSuchSender`.
    pub code: Cow<'static, str>,
    /// Human-readable text for the client; clients are told to rely on `code` only.
    pub message: String,
}

impl ApiError {
    /// Any code, typically an SES sub-code such as `FailedOperation.InvalidLimit`.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// True when `code` is `prefix` itself or one of its sub-codes (`AuthFailure` matches
    /// `AuthFailure.SignatureFailure`).
    pub fn is(&self, prefix: &str) -> bool {
        self.code == prefix
            || (self.code.starts_with(prefix) && self.code[prefix.len()..].starts_with('.'))
    }

    // ---- AuthFailure ----

    /// The Authorization header (or the legacy signature parameters) cannot be understood.
    pub fn invalid_authorization(message: impl Into<String>) -> Self {
        Self::new("AuthFailure.InvalidAuthorization", message)
    }

    /// No active API key has this SecretId. The id is not echoed: it is the client's own.
    pub fn secret_id_not_found() -> Self {
        Self::new(
            "AuthFailure.SecretIdNotFound",
            "the SecretId does not exist or is disabled",
        )
    }

    /// The signature does not match the request.
    pub fn signature_failure(message: impl Into<String>) -> Self {
        Self::new("AuthFailure.SignatureFailure", message)
    }

    /// The request timestamp is outside the accepted window.
    pub fn signature_expire(message: impl Into<String>) -> Self {
        Self::new("AuthFailure.SignatureExpire", message)
    }

    /// The SecretId is malformed or not of API-key type.
    pub fn invalid_secret_id(message: impl Into<String>) -> Self {
        Self::new("AuthFailure.InvalidSecretId", message)
    }

    /// A temporary-credential token was sent; Sesame issues none, so none can be valid.
    pub fn token_failure(message: impl Into<String>) -> Self {
        Self::new("AuthFailure.TokenFailure", message)
    }

    /// The key is valid but may not perform this operation.
    pub fn unauthorized_operation(message: impl Into<String>) -> Self {
        Self::new("AuthFailure.UnauthorizedOperation", message)
    }

    // ---- request routing ----

    /// The action name is not one this service knows.
    pub fn invalid_action(action: &str) -> Self {
        Self::new(
            "InvalidAction",
            format!("the action `{}` does not exist", printable(action)),
        )
    }

    /// The API version is not `2020-10-02`.
    pub fn no_such_version(version: &str) -> Self {
        Self::new(
            "NoSuchVersion",
            format!(
                "the version `{}` is not supported; use `{}`",
                printable(version),
                super::API_VERSION
            ),
        )
    }

    /// The region is malformed or not served here.
    pub fn unsupported_region(region: &str) -> Self {
        Self::new(
            "UnsupportedRegion",
            format!("the region `{}` is not supported", printable(region)),
        )
    }

    /// Wrong HTTP method or body encoding.
    pub fn unsupported_protocol(message: impl Into<String>) -> Self {
        Self::new("UnsupportedProtocol", message)
    }

    // ---- parameters ----

    /// A required parameter is absent. `name` is its dotted path, e.g. `Template.TemplateID`.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("the parameter `{}` is required", printable(name)),
        )
    }

    /// The action has no parameter of this name.
    pub fn unknown_parameter(name: &str) -> Self {
        Self::new(
            "UnknownParameter",
            format!("the parameter `{}` is not recognized", printable(name)),
        )
    }

    /// A parameter has the wrong type or shape.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameter", message)
    }

    /// A parameter has the right type but a value out of range.
    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", message)
    }

    // ---- limits ----

    /// Too many calls per second for this account and action.
    pub fn request_limit_exceeded() -> Self {
        Self::new(
            "RequestLimitExceeded",
            "too many requests for this action; slow down and retry",
        )
    }

    /// The request (body or query string) is larger than `limit_bytes`.
    pub fn request_size_limit_exceeded(limit_bytes: usize) -> Self {
        Self::new(
            "RequestSizeLimitExceeded",
            format!("the request is larger than {limit_bytes} bytes"),
        )
    }

    /// A quota or count limit of the account was reached.
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new("LimitExceeded", message)
    }

    // ---- generic ----

    /// Something broke on our side; the details are in the server log under the RequestId.
    pub fn internal_error() -> Self {
        Self::new(
            "InternalError",
            "an internal error occurred; retry later or report the RequestId",
        )
    }

    /// The service is temporarily unable to answer (e.g. shutting down, database unavailable).
    pub fn service_unavailable() -> Self {
        Self::new(
            "ServiceUnavailable",
            "the service is temporarily unavailable; retry later",
        )
    }

    /// The action exists but is not available (yet) in this deployment.
    pub fn unsupported_operation(message: impl Into<String>) -> Self {
        Self::new("UnsupportedOperation", message)
    }

    /// The operation was understood but could not be carried out.
    pub fn failed_operation(message: impl Into<String>) -> Self {
        Self::new("FailedOperation", message)
    }

    /// The named resource does not exist.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFound", message)
    }

    /// The resource exists but cannot be used right now.
    pub fn resource_unavailable(message: impl Into<String>) -> Self {
        Self::new("ResourceUnavailable", message)
    }

    /// Not enough of some resource to carry out the operation.
    pub fn resource_insufficient(message: impl Into<String>) -> Self {
        Self::new("ResourceInsufficient", message)
    }

    /// The operation is not allowed in the resource's current state.
    pub fn operation_denied(message: impl Into<String>) -> Self {
        Self::new("OperationDenied", message)
    }
}

/// Client-supplied text quoted in a message: cut to a sane length and stripped of control
/// characters, so a hostile action or region name cannot bloat or break log lines.
pub(crate) fn printable(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CHARS)
        .collect();
    if text.chars().count() > MAX_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: ApiError, code: &str, message: &str) {
        assert_eq!(error.code, code);
        assert_eq!(error.message, message);
    }

    #[test]
    fn constructors_use_tencent_codes() {
        check(
            ApiError::missing_parameter("Template.TemplateID"),
            "MissingParameter",
            "the parameter `Template.TemplateID` is required",
        );
        check(
            ApiError::no_such_version("2017-03-12"),
            "NoSuchVersion",
            "the version `2017-03-12` is not supported; use `2020-10-02`",
        );
        check(
            ApiError::invalid_action("Nope"),
            "InvalidAction",
            "the action `Nope` does not exist",
        );
        assert_eq!(
            ApiError::secret_id_not_found().code,
            "AuthFailure.SecretIdNotFound"
        );
        assert_eq!(
            ApiError::request_limit_exceeded().code,
            "RequestLimitExceeded"
        );
        assert_eq!(
            ApiError::new("FailedOperation.InvalidLimit", "x").code,
            "FailedOperation.InvalidLimit"
        );
    }

    #[test]
    fn is_matches_code_families() {
        let error = ApiError::signature_failure("x");
        assert!(error.is("AuthFailure"));
        assert!(error.is("AuthFailure.SignatureFailure"));
        assert!(!error.is("Auth"));
        assert!(!error.is("AuthFailure.SignatureExpire"));
    }

    #[test]
    fn quoted_client_text_is_bounded() {
        let long = "a".repeat(500);
        let error = ApiError::invalid_action(&long);
        assert!(error.message.len() < 120);
        check(
            ApiError::unsupported_region("ap\nx"),
            "UnsupportedRegion",
            "the region `apx` is not supported",
        );
    }
}
