//! The TencentCloud API 3.0 wire protocol, without I/O: request parsing and signature checks
//! (TC3-HMAC-SHA256 and the legacy HmacSHA1/HmacSHA256), flattened-parameter decoding,
//! schema-error mapping, the response envelope, a replay cache and a rate limiter.
//!
//! Must not touch the database, the network or the clock: callers pass `now` in, so every
//! rule here is a unit test away. What a server does with one request, in order:
//!
//! 1. Read at most [`MAX_BODY_BYTES`] of body (else [`ApiError::request_size_limit_exceeded`]).
//! 2. [`parse_request`] → [`ParsedRequest`] (method, version, region format, action present,
//!    parameters rebuilt into a JSON object).
//! 3. [`check_region`] against the configured `[api] regions`.
//! 4. Look up the API key by [`ParsedRequest::secret_id`]; unknown → [`ApiError::secret_id_not_found`].
//! 5. [`ParsedRequest::verify`] with the key's secret and the current Unix time.
//! 6. [`ParsedRequest::check_replay`] with the shared [`NonceCache`] (a no-op for TC3).
//! 7. Map the action to a handler (unknown → [`ApiError::invalid_action`]).
//! 8. [`RateLimiter::check`] per (account, action) → else [`ApiError::request_limit_exceeded`].
//! 9. The handler decodes its request with [`from_params`] and answers; the server wraps the
//!    outcome with [`envelope_ok`] / [`envelope_err`], HTTP 200, Content-Type [`CONTENT_TYPE`].

mod envelope;
mod error;
mod flatten;
mod nonce;
pub mod params;
mod rate_limit;
mod request;
pub mod signature;

pub use envelope::{CONTENT_TYPE, envelope_err, envelope_ok};
pub use error::ApiError;
pub use nonce::NonceCache;
pub use params::from_params;
pub use rate_limit::RateLimiter;
pub use request::{Language, ParsedRequest, SignatureKind, check_region, parse_request};

/// The only SES API version served.
pub const API_VERSION: &str = "2020-10-02";

/// How far a request timestamp may be from the server clock, either way (Tencent: 5 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Largest request body accepted (Tencent: 8 MB per request).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Largest query string accepted for GET requests (Tencent: 32 KB).
pub const MAX_QUERY_BYTES: usize = 32 * 1024;
