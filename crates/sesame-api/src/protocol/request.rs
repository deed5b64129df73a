//! Turns what the HTTP server received into a [`ParsedRequest`]: common parameters, business
//! parameters as a JSON object, and everything needed to check the signature once the server
//! has looked up the secret key.
//!
//! Accepts exactly what the official SDKs send: TC3-HMAC-SHA256 (POST JSON, POST form, GET
//! query, `UNSIGNED-PAYLOAD`) and the legacy HmacSHA1/HmacSHA256 parameters (GET query or POST
//! form). Parsing never needs the secret; [`ParsedRequest::verify`] does the cryptography and
//! the clock check, and takes `now` from the caller.

use std::fmt;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use serde_json::Value;

use super::error::{ApiError, printable};
use super::flatten::unflatten;
use super::nonce::NonceCache;
use super::signature::{self, LegacyMethod};
mod legacy;
mod tc3;

use super::{API_VERSION, MAX_BODY_BYTES, MAX_CLOCK_SKEW_SECS, MAX_QUERY_BYTES};

/// Parameters of the legacy style that are protocol, not business; removed from `params`.
const LEGACY_COMMON_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

/// The `X-TC-Language` / `Language` value: which language the client wants messages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `zh-CN`; the Python SDK always sends this one.
    ZhCn,
    /// `en-US`.
    EnUs,
}

impl Language {
    fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "zh-CN" => Ok(Self::ZhCn),
            "en-US" => Ok(Self::EnUs),
            other => Err(ApiError::invalid_parameter_value(format!(
                "the language `{}` is not supported; use zh-CN or en-US",
                printable(other)
            ))),
        }
    }
}

/// Which signature scheme a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    Tc3,
    HmacSha1,
    HmacSha256,
}

/// A request whose envelope is understood but whose signature is not yet checked.
#[derive(Debug)]
pub struct ParsedRequest {
    /// X-TC-Action or `Action`, as sent (the handler lookup decides whether it exists).
    pub action: String,
    /// X-TC-Version or `Version`; always [`API_VERSION`] after [`parse_request`].
    pub version: String,
    /// X-TC-Region or `Region`; `None` when absent or empty. Its shape is checked, its
    /// membership in the configured list is not (see [`check_region`]).
    pub region: Option<String>,
    /// The API key id the client signed with.
    pub secret_id: String,
    /// The request's Unix time in seconds, as the client claims it.
    pub timestamp: i64,
    /// The language asked for; `None` when not sent.
    pub language: Option<Language>,
    /// The legacy `Nonce`; `None` for TC3, which has none.
    pub nonce: Option<u64>,
    /// The business parameters as a JSON object. From a JSON body they keep their JSON types;
    /// from a query string or form every leaf is a string.
    pub params: Value,
    credential: Credential,
}

/// What [`ParsedRequest::verify`] needs besides the secret key. Built at parse time so that
/// verification is only MAC computations.
enum Credential {
    Tc3 {
        /// Date and service from the client's credential scope, used as sent (the Node.js SDK
        /// derives a service of `127` from a `127.0.0.1` endpoint).
        scope_date: String,
        service: String,
        /// One string to sign per Host candidate (as received, then without `:port`).
        strings_to_sign: Vec<String>,
        /// The client's signature, hex-decoded.
        signature: Vec<u8>,
    },
    Legacy {
        method: LegacyMethod,
        /// One string to sign per Host candidate and parameter-name spelling.
        strings_to_sign: Vec<String>,
        /// The client's signature, base64-decoded; empty when it was not valid base64.
        signature: Vec<u8>,
    },
}

impl fmt::Debug for Credential {
    // The strings to sign embed the whole body; keep them out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Tc3 {
                scope_date,
                service,
                ..
            } => f
                .debug_struct("Tc3")
                .field("scope_date", scope_date)
                .field("service", service)
                .finish_non_exhaustive(),
            Credential::Legacy { method, .. } => f
                .debug_struct("Legacy")
                .field("method", method)
                .finish_non_exhaustive(),
        }
    }
}

impl ParsedRequest {
    /// Which signature scheme the client used.
    pub fn signature_kind(&self) -> SignatureKind {
        match &self.credential {
            Credential::Tc3 { .. } => SignatureKind::Tc3,
            Credential::Legacy {
                method: LegacyMethod::HmacSha1,
                ..
            } => SignatureKind::HmacSha1,
            Credential::Legacy {
                method: LegacyMethod::HmacSha256,
                ..
            } => SignatureKind::HmacSha256,
        }
    }

    /// Checks the signature with the account's secret key (constant-time comparison), then
    /// that the timestamp is within [`MAX_CLOCK_SKEW_SECS`] of `now_unix`.
    ///
    /// The signature goes first so that an unsigned client learns nothing about our clock.
    pub fn verify(&self, secret_key: &str, now_unix: i64) -> Result<(), ApiError> {
        let is_signed = match &self.credential {
            Credential::Tc3 {
                scope_date,
                service,
                strings_to_sign,
                signature,
            } => {
                let key = signature::tc3_signing_key(secret_key, scope_date, service);
                strings_to_sign
                    .iter()
                    .any(|candidate| signature::tc3_verify(&key, candidate, signature))
            }
            Credential::Legacy {
                method,
                strings_to_sign,
                signature,
            } => strings_to_sign.iter().any(|candidate| {
                signature::legacy_verify(*method, secret_key, candidate, signature)
            }),
        };
        if !is_signed {
            return Err(ApiError::signature_failure(
                "the signature does not match the request; check the SecretKey and how the request is signed",
            ));
        }
        if self.timestamp.abs_diff(now_unix) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
            return Err(ApiError::signature_expire(format!(
                "the request timestamp {} is more than {MAX_CLOCK_SKEW_SECS} seconds from the server time {now_unix}",
                self.timestamp
            )));
        }
        Ok(())
    }

    /// Rejects a legacy request whose (SecretId, Nonce, Timestamp) was already seen. Call after
    /// [`verify`](Self::verify), so forged requests never occupy the cache. TC3 requests carry
    /// no nonce and pass.
    pub fn check_replay(&self, cache: &NonceCache, now_unix: i64) -> Result<(), ApiError> {
        match self.nonce {
            Some(nonce)
                if !cache.check_and_insert(&self.secret_id, nonce, self.timestamp, now_unix) =>
            {
                Err(ApiError::signature_failure(
                    "this request was already received (same SecretId, Nonce and Timestamp); use a new Nonce",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Parses one API request. `raw_query` is the query string without `?`, exactly as received.
///
/// Errors are the framework codes: UnsupportedProtocol, MissingParameter, NoSuchVersion,
/// UnsupportedRegion (shape only), AuthFailure.InvalidAuthorization, ...
pub fn parse_request(
    method: &str,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &[u8],
) -> Result<ParsedRequest, ApiError> {
    let request = parse_any_version(method, headers, raw_query, body)?;
    if request.version != API_VERSION {
        return Err(ApiError::no_such_version(&request.version));
    }
    Ok(request)
}

/// Checks a region's shape (`^[a-z]+(-[a-z0-9]+)+$`, like `ap-guangzhou`) and, when `allowed`
/// is not empty, that it is listed there. An absent region is always fine.
pub fn check_region(region: Option<&str>, allowed: &[String]) -> Result<(), ApiError> {
    let Some(region) = region else {
        return Ok(());
    };
    if !is_region_shaped(region) || !(allowed.is_empty() || allowed.iter().any(|r| r == region)) {
        return Err(ApiError::unsupported_region(region));
    }
    Ok(())
}

fn is_region_shaped(region: &str) -> bool {
    let mut parts = region.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|first| !first.is_empty() && first.bytes().all(|b| b.is_ascii_lowercase()));
    let mut n_rest = 0;
    for part in parts {
        let part_ok = !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !part_ok {
            return false;
        }
        n_rest += 1;
    }
    first_ok && n_rest > 0
}

/// Everything of [`parse_request`] except the version check, so that Tencent's test vectors
/// (other services and versions) can run through the whole parser.
pub(crate) fn parse_any_version(
    method: &str,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &[u8],
) -> Result<ParsedRequest, ApiError> {
    if method != "GET" && method != "POST" {
        return Err(ApiError::unsupported_protocol(format!(
            "the HTTP method `{}` is not supported; use GET or POST",
            printable(method)
        )));
    }
    let raw_query = raw_query.unwrap_or("");
    if raw_query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::request_size_limit_exceeded(MAX_QUERY_BYTES));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::request_size_limit_exceeded(MAX_BODY_BYTES));
    }
    let host = headers
        .get(HOST)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
        .unwrap_or_default();
    match headers.get(AUTHORIZATION) {
        Some(authorization) => tc3::parse_tc3(
            method,
            headers,
            &host,
            authorization.as_bytes(),
            raw_query,
            body,
        ),
        None => legacy::parse_legacy(method, headers, &host, raw_query, body),
    }
}

/// The media type of the request body, lowercased, without parameters such as `charset`.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or("").trim();
    Some(media.to_ascii_lowercase())
}

/// One optional header as text; present-but-empty counts as absent.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid_parameter(format!("the header `{name}` is not valid text")))?
        .trim();
    Ok((!text.is_empty()).then_some(text))
}

fn required_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    header_text(headers, name)?.ok_or_else(|| ApiError::missing_parameter(name))
}

fn parse_timestamp(text: &str, name: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().map_err(|_| {
        ApiError::invalid_parameter(format!("`{name}` must be an integer (Unix seconds)"))
    })
}

fn check_token(token: Option<&str>) -> Result<(), ApiError> {
    match token {
        Some(token) if !token.is_empty() => Err(ApiError::token_failure(
            "temporary credentials (Token) are not supported; sign with an API key",
        )),
        _ => Ok(()),
    }
}

fn region_from(text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(region) => {
            check_region(Some(region), &[])?;
            Ok(Some(region.to_owned()))
        }
    }
}

/// The Host as received, then (if it ends in `:port`) without the port: the Node.js SDK signs
/// the host without its port while sending it with one.
fn host_candidates(host: &str) -> Vec<&str> {
    let mut candidates = vec![host];
    if let Some((head, port)) = host.rsplit_once(':') {
        let is_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        // `::1` is an IPv6 literal, not a host with a port; `[::1]:80` and `http://h:80` are.
        let head_is_host = !head.is_empty()
            && (!head.contains(':') || head.ends_with(']') || head.contains("://"));
        if is_port && head_is_host {
            candidates.push(head);
        }
    }
    candidates
}

/// Decodes a form-encoded string into pairs. Bytes that are not UTF-8 once decoded are
/// replaced, which changes the string to sign: such a request fails verification.
fn form_pairs(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn params_from_body(method: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    match media_type(headers).as_deref() {
        Some("application/json") => {
            if body.trim_ascii().is_empty() {
                return Ok(Value::Object(serde_json::Map::new()));
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(value @ Value::Object(_)) => Ok(value),
                Ok(_) => Err(ApiError::invalid_parameter(
                    "the request body must be a JSON object",
                )),
                Err(_) => Err(ApiError::invalid_parameter(
                    "the request body is not valid JSON",
                )),
            }
        }
        Some("application/x-www-form-urlencoded") => {
            let pairs = form_pairs(body);
            unflatten(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        }
        Some(other) => Err(ApiError::unsupported_protocol(format!(
            "the Content-Type `{}` is not supported for {method}; use application/json",
            printable(other)
        ))),
        None => Err(ApiError::unsupported_protocol(format!(
            "a {method} request needs a Content-Type of application/json"
        ))),
    }
}

#[cfg(test)]
mod tests;
