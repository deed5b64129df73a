//! The TC3-HMAC-SHA256 side of request parsing: the Authorization header, the X-TC-* headers,
//! the body or query string, and one string to sign per Host candidate.
//!
//! Builds the strings to sign only; the MAC is checked by `ParsedRequest::verify`.

use axum::http::HeaderMap;

use super::{
    Credential, Language, ParsedRequest, check_token, form_pairs, header_text, host_candidates,
    params_from_body, parse_timestamp, region_from, required_header,
};
use crate::protocol::error::{ApiError, printable};
use crate::protocol::flatten::unflatten;
use crate::protocol::signature::{self, TC3_ALGORITHM, UNSIGNED_PAYLOAD};

/// The parts of a TC3 Authorization header.
struct Tc3Authorization<'a> {
    secret_id: &'a str,
    scope_date: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: Vec<u8>,
}

fn parse_authorization(value: &str) -> Result<Tc3Authorization<'_>, ApiError> {
    let malformed = || {
        ApiError::invalid_authorization(
            "the Authorization header must look like `TC3-HMAC-SHA256 Credential=<SecretId>/<date>/<service>/tc3_request, SignedHeaders=content-type;host, Signature=<hex>`",
        )
    };
    let (algorithm, rest) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if algorithm != TC3_ALGORITHM {
        return Err(ApiError::invalid_authorization(format!(
            "the signature algorithm `{}` is not supported; use {TC3_ALGORITHM}",
            printable(algorithm)
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').ok_or_else(malformed)?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed()),
        };
        if slot.replace(value.trim()).is_some() {
            return Err(malformed());
        }
    }
    let (credential, signed_headers, signature) = match (credential, signed_headers, signature) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => return Err(malformed()),
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [secret_id, scope_date, service, terminator] = scope[..] else {
        return Err(malformed());
    };
    if secret_id.is_empty() || service.is_empty() || terminator != "tc3_request" {
        return Err(malformed());
    }
    let signature = hex::decode(signature)
        .ok()
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| {
            ApiError::invalid_authorization("the Signature must be 64 hexadecimal digits")
        })?;
    Ok(Tc3Authorization {
        secret_id,
        scope_date,
        service,
        signed_headers,
        signature,
    })
}

/// The UTC calendar date of a Unix timestamp, `YYYY-MM-DD`.
fn utc_date(timestamp: i64) -> Option<String> {
    let instant = jiff::Timestamp::from_second(timestamp).ok()?;
    Some(instant.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
}

pub(super) fn parse_tc3(
    method: &str,
    headers: &HeaderMap,
    host: &str,
    authorization: &[u8],
    raw_query: &str,
    body: &[u8],
) -> Result<ParsedRequest, ApiError> {
    let authorization = std::str::from_utf8(authorization).map_err(|_| {
        ApiError::invalid_authorization("the Authorization header is not valid text")
    })?;
    let auth = parse_authorization(authorization)?;

    let signed_names: Vec<String> = auth
        .signed_headers
        .split(';')
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    if !signed_names.iter().any(|n| n == "content-type")
        || !signed_names.iter().any(|n| n == "host")
    {
        return Err(ApiError::invalid_authorization(
            "SignedHeaders must include content-type and host",
        ));
    }

    let action = required_header(headers, "X-TC-Action")?;
    let version = required_header(headers, "X-TC-Version")?;
    let timestamp_text = required_header(headers, "X-TC-Timestamp")?;
    let timestamp = parse_timestamp(timestamp_text, "X-TC-Timestamp")?;
    let region = region_from(header_text(headers, "X-TC-Region")?)?;
    let language = header_text(headers, "X-TC-Language")?
        .map(Language::parse)
        .transpose()?;
    check_token(header_text(headers, "X-TC-Token")?)?;

    // The credential scope must name the day of the timestamp; a client with a stale date
    // computed its key for another day.
    let timestamp_date = utc_date(timestamp).ok_or_else(|| {
        ApiError::signature_expire("the X-TC-Timestamp is out of any acceptable range")
    })?;
    if auth.scope_date != timestamp_date {
        return Err(ApiError::signature_failure(format!(
            "the date in Credential ({}) is not the UTC date of X-TC-Timestamp ({timestamp_date})",
            printable(auth.scope_date)
        )));
    }

    let params = if method == "GET" {
        let pairs = form_pairs(raw_query.as_bytes());
        unflatten(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?
    } else {
        params_from_body(method, headers, body)?
    };

    // GET signs the query string as sent and an empty payload; POST an empty query and the body.
    let (canonical_query, payload): (&str, &[u8]) = if method == "GET" {
        (raw_query, b"")
    } else {
        ("", body)
    };
    let is_unsigned_payload =
        header_text(headers, "X-TC-Content-SHA256")? == Some(UNSIGNED_PAYLOAD);
    let payload_hash = if is_unsigned_payload {
        signature::sha256_hex(UNSIGNED_PAYLOAD.as_bytes())
    } else {
        signature::sha256_hex(payload)
    };

    let strings_to_sign = host_candidates(host)
        .into_iter()
        .map(|host_candidate| {
            let canonical_headers =
                signature::tc3_canonical_headers(signed_names.iter().map(|name| {
                    let value: &[u8] = if name == "host" {
                        host_candidate.as_bytes()
                    } else {
                        // A signed header the request lacks signs as empty; the MAC will fail.
                        headers
                            .get(name.as_str())
                            .map_or(&b""[..], |v| v.as_bytes())
                    };
                    (name.as_str(), value)
                }));
            let canonical_request = signature::tc3_canonical_request(
                method,
                canonical_query,
                &canonical_headers,
                auth.signed_headers,
                &payload_hash,
            );
            signature::tc3_string_to_sign(
                timestamp_text,
                auth.scope_date,
                auth.service,
                &canonical_request,
            )
        })
        .collect();

    Ok(ParsedRequest {
        action: action.to_owned(),
        version: version.to_owned(),
        region,
        secret_id: auth.secret_id.to_owned(),
        timestamp,
        language,
        nonce: None,
        params,
        credential: Credential::Tc3 {
            scope_date: auth.scope_date.to_owned(),
            service: auth.service.to_owned(),
            strings_to_sign,
            signature: auth.signature,
        },
    })
}
