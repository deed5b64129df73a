//! The legacy (v1) side of request parsing: HmacSHA1/HmacSHA256 with every parameter, common
//! and business, flattened into the query string (GET) or a form body (POST).
//!
//! Builds the strings to sign only; the MAC is checked by `ParsedRequest::verify`, and replays
//! by `ParsedRequest::check_replay`.

use axum::http::HeaderMap;
use base64::Engine as _;

use super::{
    Credential, LEGACY_COMMON_PARAMS, Language, ParsedRequest, check_token, form_pairs,
    host_candidates, media_type, parse_timestamp, region_from,
};
use crate::protocol::error::{ApiError, printable};
use crate::protocol::flatten::unflatten;
use crate::protocol::signature::{self, LegacyMethod};

pub(super) fn parse_legacy(
    method: &str,
    headers: &HeaderMap,
    host: &str,
    raw_query: &str,
    body: &[u8],
) -> Result<ParsedRequest, ApiError> {
    let pairs = if method == "GET" {
        form_pairs(raw_query.as_bytes())
    } else {
        match media_type(headers).as_deref() {
            Some("application/x-www-form-urlencoded") => form_pairs(body),
            // A JSON body is always TC3, which needs the Authorization header.
            _ => {
                return Err(ApiError::invalid_authorization(
                    "the request has no Authorization header; sign it with TC3-HMAC-SHA256",
                ));
            }
        }
    };
    let find = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if find("Signature").is_none() {
        return Err(ApiError::invalid_authorization(
            "the request is not signed: send an Authorization header (TC3-HMAC-SHA256) or a Signature parameter",
        ));
    }
    let required = |name: &str| {
        find(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| ApiError::missing_parameter(name))
    };

    let method_name = find("SignatureMethod").unwrap_or("HmacSHA1");
    let signature_method = LegacyMethod::parse(method_name).ok_or_else(|| {
        ApiError::invalid_authorization(format!(
            "the SignatureMethod `{}` is not supported; use HmacSHA1 or HmacSHA256",
            printable(method_name)
        ))
    })?;
    let action = required("Action")?;
    let version = required("Version")?;
    let secret_id = required("SecretId")?;
    let timestamp = parse_timestamp(required("Timestamp")?, "Timestamp")?;
    let nonce = required("Nonce")?
        .parse::<u64>()
        .map_err(|_| ApiError::invalid_parameter("`Nonce` must be a positive integer"))?;
    let region = region_from(find("Region"))?;
    let language = find("Language")
        .filter(|value| !value.is_empty())
        .map(Language::parse)
        .transpose()?;
    check_token(find("Token"))?;

    // Flattened names repeat only through a client bug; refusing them keeps "which value was
    // signed" unambiguous.
    let mut names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ApiError::invalid_parameter(format!(
            "the parameter `{}` is given more than once",
            printable(pair[0])
        )));
    }

    let signature = base64::engine::general_purpose::STANDARD
        .decode(find("Signature").unwrap_or(""))
        .unwrap_or_default();

    // The Python SDK signs names with `_` replaced by `.` (a relic of PHP's form decoding), so
    // such names get a second spelling to try.
    let dotted: Vec<(String, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.replace('_', "."), v.as_str()))
        .collect();
    let has_underscore = pairs.iter().any(|(n, _)| n.contains('_'));
    let mut strings_to_sign = Vec::new();
    for host_candidate in host_candidates(host) {
        strings_to_sign.push(signature::legacy_string_to_sign(
            method,
            host_candidate,
            pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        ));
        if has_underscore {
            strings_to_sign.push(signature::legacy_string_to_sign(
                method,
                host_candidate,
                dotted.iter().map(|(n, v)| (n.as_str(), *v)),
            ));
        }
    }

    let params = unflatten(
        pairs
            .iter()
            .filter(|(n, _)| !LEGACY_COMMON_PARAMS.contains(&n.as_str()))
            .map(|(n, v)| (n.as_str(), v.as_str())),
    )?;

    Ok(ParsedRequest {
        action: action.to_owned(),
        version: version.to_owned(),
        region,
        secret_id: secret_id.to_owned(),
        timestamp,
        language,
        nonce: Some(nonce),
        params,
        credential: Credential::Legacy {
            method: signature_method,
            strings_to_sign,
            signature,
        },
    })
}
