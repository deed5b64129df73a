//! Tests of request parsing and verification: Tencent's published vectors run through the whole
//! parser, requests captured from the real Python SDK (3.1.135, time and nonce pinned), and
//! requests signed here the way other clients sign (Node.js host without port, tccli host with
//! scheme).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use super::*;
use crate::protocol::signature::{
    sha256_hex, tc3_canonical_headers, tc3_canonical_request, tc3_signature, tc3_signing_key,
    tc3_string_to_sign,
};

const VECTOR_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
const SDK_SECRET_ID: &str = "AKIDtestsecretid0000000000000000000";
const SDK_KEY: &str = "TestSecretKey0123456789abcdefABCD";
const SDK_NOW: i64 = 1_700_000_000;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    map
}

/// Parses, then checks the outcome of verify with `key` at `now`.
fn check(
    method: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &str,
    key: &str,
    now: i64,
    expected: Result<(), &str>,
) -> Option<ParsedRequest> {
    let outcome = parse_request(method, headers, query, body.as_bytes())
        .and_then(|request| request.verify(key, now).map(|()| request));
    match (outcome, expected) {
        (Ok(request), Ok(())) => Some(request),
        (Err(error), Err(code)) => {
            assert_eq!(error.code, code, "{error}");
            None
        }
        (outcome, expected) => panic!("got {outcome:?}, expected {expected:?}"),
    }
}

// ---- Tencent's published vectors, through the parser ----

#[test]
fn tc3_vector_through_the_parser() {
    let body =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    let map = headers(&[
        (
            "Authorization",
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
        ),
        ("Content-Type", "application/json; charset=utf-8"),
        ("Host", "cvm.tencentcloudapi.com"),
        ("X-TC-Action", "DescribeInstances"),
        ("X-TC-Timestamp", "1551113065"),
        ("X-TC-Version", "2017-03-12"),
        ("X-TC-Region", "ap-guangzhou"),
    ]);
    let request = parse_any_version("POST", &map, None, body.as_bytes()).expect("parses");
    assert_eq!(request.action, "DescribeInstances");
    assert_eq!(request.secret_id, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE");
    assert_eq!(request.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(request.signature_kind(), SignatureKind::Tc3);
    assert_eq!(request.params["Filters"][0]["Values"][0], "未命名");
    assert_eq!(request.verify(VECTOR_KEY, 1_551_113_065), Ok(()));
    assert!(request.verify("wrong", 1_551_113_065).is_err());
    // The public entry point refuses the foreign version before anything else.
    let error = parse_request("POST", &map, None, body.as_bytes()).expect_err("foreign version");
    assert_eq!(error.code, "NoSuchVersion");
}

#[test]
fn legacy_vector_through_the_parser() {
    let query = "Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&Signature=EliP9YW3pW28FpsEdkXt%2F%2BWcGeI%3D&Timestamp=1465185768&Version=2017-03-12";
    let map = headers(&[("Host", "cvm.tencentcloudapi.com")]);
    let request = parse_any_version("GET", &map, Some(query), b"").expect("parses");
    assert_eq!(request.signature_kind(), SignatureKind::HmacSha1);
    assert_eq!(request.nonce, Some(11886));
    assert_eq!(request.timestamp, 1_465_185_768);
    assert_eq!(
        request.params,
        json!({"InstanceIds": ["ins-09dx96dg"], "Limit": "20", "Offset": "0"})
    );
    assert_eq!(request.verify(VECTOR_KEY, 1_465_185_768), Ok(()));
}

// ---- Requests captured from the Python SDK ----

const SDK_JSON_BODY: &str = r#"{"FromEmailAddress": "Sesame <noreply@mail.example.test>", "Destination": ["a@example.test", "b@example.test"], "Subject": "h\u00e9llo & more", "Template": {"TemplateID": 12, "TemplateData": "{\"name\": \"x\"}"}, "TriggerType": 1, "Unsubscribe": "0"}"#;
const SDK_FLAT_PARAMS: &str = "FromEmailAddress=Sesame+%3Cnoreply%40mail.example.test%3E&Destination.0=a%40example.test&Destination.1=b%40example.test&Subject=h%C3%A9llo+%26+more&Template.TemplateID=12&Template.TemplateData=%7B%22name%22%3A+%22x%22%7D&TriggerType=1&Unsubscribe=0";

fn sdk_tc3_headers(content_type: &str, signature: &str, unsigned: bool) -> HeaderMap {
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={SDK_SECRET_ID}/2023-11-14/ses/tc3_request, SignedHeaders=content-type;host, Signature={signature}"
    );
    let mut pairs = vec![
        ("Content-Type", content_type),
        ("Host", "127.0.0.1:8080"),
        ("X-TC-Action", "SendEmail"),
        ("X-TC-RequestClient", "SDK_PYTHON_3.1.135"),
        ("X-TC-Timestamp", "1700000000"),
        ("X-TC-Version", "2020-10-02"),
        ("X-TC-Region", "ap-guangzhou"),
        ("X-TC-Language", "zh-CN"),
        ("Authorization", authorization.as_str()),
    ];
    if unsigned {
        pairs.push(("X-TC-Content-SHA256", "UNSIGNED-PAYLOAD"));
    }
    headers(&pairs)
}

fn expected_send_email_params(typed: bool) -> serde_json::Value {
    let (template_id, trigger_type) = if typed {
        (json!(12), json!(1))
    } else {
        (json!("12"), json!("1"))
    };
    json!({
        "FromEmailAddress": "Sesame <noreply@mail.example.test>",
        "Destination": ["a@example.test", "b@example.test"],
        "Subject": "héllo & more",
        "Template": {"TemplateID": template_id, "TemplateData": "{\"name\": \"x\"}"},
        "TriggerType": trigger_type,
        "Unsubscribe": "0",
    })
}

/// Checks the usual failures around a request that verifies: wrong key, expired timestamp
/// (both sides), and a tampered body or query.
fn check_failures(method: &str, map: &HeaderMap, query: Option<&str>, body: &str) {
    let ok = Ok(());
    check(method, map, query, body, SDK_KEY, SDK_NOW, ok);
    check(method, map, query, body, SDK_KEY, SDK_NOW + 300, ok);
    check(method, map, query, body, SDK_KEY, SDK_NOW - 300, ok);
    let failure = Err("AuthFailure.SignatureFailure");
    check(method, map, query, body, "WrongSecretKey", SDK_NOW, failure);
    let expired = Err("AuthFailure.SignatureExpire");
    check(method, map, query, body, SDK_KEY, SDK_NOW + 301, expired);
    check(method, map, query, body, SDK_KEY, SDK_NOW - 301, expired);
    match query {
        Some(query) => {
            let tampered = query.replace("TriggerType=1", "TriggerType=0");
            assert_ne!(tampered, query);
            check(
                method,
                map,
                Some(&tampered),
                body,
                SDK_KEY,
                SDK_NOW,
                failure,
            );
        }
        None => {
            let tampered = body.replace("TriggerType", "TriggerTypf");
            assert_ne!(tampered, body);
            check(method, map, None, &tampered, SDK_KEY, SDK_NOW, failure);
        }
    }
}

#[test]
fn python_sdk_tc3_post_json() {
    let map = sdk_tc3_headers(
        "application/json",
        "c26863dd75f1977ca1ca6b4d1fc07a44291ef639d02214b30272779639582f38",
        false,
    );
    let request =
        check("POST", &map, None, SDK_JSON_BODY, SDK_KEY, SDK_NOW, Ok(())).expect("verifies");
    assert_eq!(request.action, "SendEmail");
    assert_eq!(request.version, "2020-10-02");
    assert_eq!(request.language, Some(Language::ZhCn));
    assert_eq!(request.nonce, None);
    assert_eq!(request.params, expected_send_email_params(true));
    check_failures("POST", &map, None, SDK_JSON_BODY);
}

#[test]
fn python_sdk_tc3_get() {
    let map = sdk_tc3_headers(
        "application/x-www-form-urlencoded",
        "2ad2aa7eee474b5ee081171587a317c123df00bea854a441a3f99357d1b10b9d",
        false,
    );
    let request = check(
        "GET",
        &map,
        Some(SDK_FLAT_PARAMS),
        "",
        SDK_KEY,
        SDK_NOW,
        Ok(()),
    )
    .expect("verifies");
    assert_eq!(request.params, expected_send_email_params(false));
    check_failures("GET", &map, Some(SDK_FLAT_PARAMS), "");
}

#[test]
fn python_sdk_tc3_unsigned_payload() {
    let map = sdk_tc3_headers(
        "application/json",
        "cad411bf2b6db63e8f4c57e9a3c52e5c1967cc8aee7e22272c0c08872e17f36d",
        true,
    );
    check("POST", &map, None, SDK_JSON_BODY, SDK_KEY, SDK_NOW, Ok(()));
    // The payload is not signed, so a changed body still verifies: that is the client's choice.
    check("POST", &map, None, "{}", SDK_KEY, SDK_NOW, Ok(()));
    check(
        "POST",
        &map,
        None,
        SDK_JSON_BODY,
        "WrongSecretKey",
        SDK_NOW,
        Err("AuthFailure.SignatureFailure"),
    );
}

fn sdk_legacy_body(method: &str, signature: &str) -> String {
    format!(
        "{SDK_FLAT_PARAMS}&Action=SendEmail&RequestClient=SDK_PYTHON_3.1.135&Nonce=424242&Timestamp=1700000000&Version=2020-10-02&Region=ap-guangzhou&SecretId={SDK_SECRET_ID}&SignatureMethod={method}&Language=zh-CN&Signature={signature}"
    )
}

#[test]
fn python_sdk_legacy_hmac_sha1_post() {
    let body = sdk_legacy_body("HmacSHA1", "9Wj3xN5R3p2TSBXxJy7edZLOE6Y%3D");
    let map = headers(&[
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Host", "127.0.0.1:8080"),
    ]);
    let request = check("POST", &map, None, &body, SDK_KEY, SDK_NOW, Ok(())).expect("verifies");
    assert_eq!(request.signature_kind(), SignatureKind::HmacSha1);
    assert_eq!(request.action, "SendEmail");
    assert_eq!(request.secret_id, SDK_SECRET_ID);
    assert_eq!(request.nonce, Some(424_242));
    assert_eq!(request.language, Some(Language::ZhCn));
    assert_eq!(request.params, expected_send_email_params(false));
    check_failures("POST", &map, None, &body);
}

#[test]
fn python_sdk_legacy_hmac_sha256_post() {
    let body = sdk_legacy_body(
        "HmacSHA256",
        "nPu%2FhjkhXKpFwE0Ic4hDMfZAoSpYGKapJtCv8evPMIY%3D",
    );
    let map = headers(&[
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Host", "127.0.0.1:8080"),
    ]);
    let request = check("POST", &map, None, &body, SDK_KEY, SDK_NOW, Ok(())).expect("verifies");
    assert_eq!(request.signature_kind(), SignatureKind::HmacSha256);
    check_failures("POST", &map, None, &body);
    // The same parameters claimed as HmacSHA1 do not verify.
    let downgraded = body.replace("HmacSHA256", "HmacSHA1");
    check(
        "POST",
        &map,
        None,
        &downgraded,
        SDK_KEY,
        SDK_NOW,
        Err("AuthFailure.SignatureFailure"),
    );
}

#[test]
fn python_sdk_legacy_hmac_sha1_get() {
    let query = format!(
        "Limit=10&Offset=0&Action=ListEmailTemplates&RequestClient=SDK_PYTHON_3.1.135&Nonce=424242&Timestamp=1700000000&Version=2020-10-02&Region=ap-guangzhou&SecretId={SDK_SECRET_ID}&SignatureMethod=HmacSHA1&Language=zh-CN&Signature=kBBeI7KxvKFdBscGbNLuZXOqAlg%3D"
    );
    let map = headers(&[("Host", "127.0.0.1:8080")]);
    let request = check("GET", &map, Some(&query), "", SDK_KEY, SDK_NOW, Ok(())).expect("verifies");
    assert_eq!(request.action, "ListEmailTemplates");
    assert_eq!(request.params, json!({"Limit": "10", "Offset": "0"}));
    let tampered = query.replace("Limit=10", "Limit=11");
    check(
        "GET",
        &map,
        Some(&tampered),
        "",
        SDK_KEY,
        SDK_NOW,
        Err("AuthFailure.SignatureFailure"),
    );
}

#[test]
fn legacy_replay_is_refused() {
    let body = sdk_legacy_body("HmacSHA1", "9Wj3xN5R3p2TSBXxJy7edZLOE6Y%3D");
    let map = headers(&[
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Host", "127.0.0.1:8080"),
    ]);
    let request = check("POST", &map, None, &body, SDK_KEY, SDK_NOW, Ok(())).expect("verifies");
    let cache = NonceCache::new();
    assert_eq!(request.check_replay(&cache, SDK_NOW), Ok(()));
    let error = request
        .check_replay(&cache, SDK_NOW + 1)
        .expect_err("replayed");
    assert_eq!(error.code, "AuthFailure.SignatureFailure");
}

// ---- Other clients' signing habits ----

/// Signs a TC3 request the way the SDKs do, with `signed_host` in the canonical headers and
/// `sent_host` in the Host header.
fn tc3_request(
    method: &str,
    signed_host: &str,
    sent_host: &str,
    service: &str,
    query: &str,
    body: &str,
) -> HeaderMap {
    let content_type = if method == "GET" {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let timestamp = SDK_NOW.to_string();
    let canonical_headers = tc3_canonical_headers([
        ("content-type", content_type.as_bytes()),
        ("host", signed_host.as_bytes()),
    ]);
    let payload = if method == "GET" { "" } else { body };
    let canonical_request = tc3_canonical_request(
        method,
        if method == "GET" { query } else { "" },
        &canonical_headers,
        "content-type;host",
        &sha256_hex(payload.as_bytes()),
    );
    let string_to_sign = tc3_string_to_sign(&timestamp, "2023-11-14", service, &canonical_request);
    let signature = tc3_signature(
        &tc3_signing_key(SDK_KEY, "2023-11-14", service),
        &string_to_sign,
    );
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={SDK_SECRET_ID}/2023-11-14/{service}/tc3_request, SignedHeaders=content-type;host, Signature={signature}"
    );
    headers(&[
        ("Authorization", &authorization),
        ("Content-Type", content_type),
        ("Host", sent_host),
        ("X-TC-Action", "ListEmailTemplates"),
        ("X-TC-Timestamp", &timestamp),
        ("X-TC-Version", "2020-10-02"),
    ])
}

#[test]
fn node_sdk_signs_host_without_port_and_odd_service() {
    let body = r#"{"Limit":10,"Offset":0}"#;
    let map = tc3_request("POST", "127.0.0.1", "127.0.0.1:8080", "127", "", body);
    let request = check("POST", &map, None, body, SDK_KEY, SDK_NOW, Ok(())).expect("verifies");
    assert_eq!(request.region, None);
    let map = tc3_request("POST", "[::1]", "[::1]:8080", "ses", "", body);
    check("POST", &map, None, body, SDK_KEY, SDK_NOW, Ok(()));
    // Only the port may differ.
    let map = tc3_request("POST", "other.test", "127.0.0.1:8080", "ses", "", body);
    check(
        "POST",
        &map,
        None,
        body,
        SDK_KEY,
        SDK_NOW,
        Err("AuthFailure.SignatureFailure"),
    );
}

#[test]
fn tccli_signs_the_host_header_with_scheme() {
    let query = "Limit=10&Offset=0";
    let host = "http://127.0.0.1:8080";
    let map = tc3_request("GET", host, host, "ses", query, "");
    check("GET", &map, Some(query), "", SDK_KEY, SDK_NOW, Ok(()));
}

// ---- Envelope errors ----

fn check_parse_error(method: &str, map: &HeaderMap, query: Option<&str>, body: &str, code: &str) {
    let error = parse_request(method, map, query, body.as_bytes()).expect_err("must fail");
    assert_eq!(error.code, code, "{error}");
}

fn replace_header(map: &HeaderMap, name: &'static str, value: Option<&str>) -> HeaderMap {
    let mut map = map.clone();
    match value {
        Some(value) => {
            map.insert(name, HeaderValue::from_str(value).expect("valid value"));
        }
        None => {
            map.remove(name);
        }
    }
    map
}

#[test]
fn envelope_errors_use_framework_codes() {
    let body = r#"{"Limit":10,"Offset":0}"#;
    let map = tc3_request("POST", "h.test", "h.test", "ses", "", body);
    check_parse_error("PUT", &map, None, body, "UnsupportedProtocol");
    check_parse_error("DELETE", &map, None, body, "UnsupportedProtocol");

    let cases: &[(&'static str, Option<&str>, &str)] = &[
        ("x-tc-action", None, "MissingParameter"),
        ("x-tc-version", None, "MissingParameter"),
        ("x-tc-version", Some("2019-01-01"), "NoSuchVersion"),
        ("x-tc-timestamp", None, "MissingParameter"),
        ("x-tc-timestamp", Some("soon"), "InvalidParameter"),
        // Still an integer, but the Credential date is for another day.
        (
            "x-tc-timestamp",
            Some("1600000000"),
            "AuthFailure.SignatureFailure",
        ),
        ("x-tc-region", Some("Guangzhou"), "UnsupportedRegion"),
        ("x-tc-region", Some("ap-"), "UnsupportedRegion"),
        ("x-tc-language", Some("fr-FR"), "InvalidParameterValue"),
        ("x-tc-token", Some("temporary"), "AuthFailure.TokenFailure"),
        ("content-type", Some("text/plain"), "UnsupportedProtocol"),
        ("content-type", None, "UnsupportedProtocol"),
        (
            "authorization",
            Some("garbage"),
            "AuthFailure.InvalidAuthorization",
        ),
        (
            "authorization",
            Some(
                "HMAC-SHA1 Credential=a/2023-11-14/ses/tc3_request, SignedHeaders=host, Signature=00",
            ),
            "AuthFailure.InvalidAuthorization",
        ),
        (
            "authorization",
            Some(
                "TC3-HMAC-SHA256 Credential=a/2023-11-14/ses, SignedHeaders=content-type;host, Signature=00",
            ),
            "AuthFailure.InvalidAuthorization",
        ),
        (
            "authorization",
            Some(
                "TC3-HMAC-SHA256 Credential=a/2023-11-14/ses/tc3_request, SignedHeaders=host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
            ),
            "AuthFailure.InvalidAuthorization",
        ),
        (
            "authorization",
            Some(
                "TC3-HMAC-SHA256 Credential=a/2023-11-14/ses/tc3_request, SignedHeaders=content-type;host, Signature=xyz",
            ),
            "AuthFailure.InvalidAuthorization",
        ),
        (
            "authorization",
            Some(
                "TC3-HMAC-SHA256 Credential=a/2023-11-13/ses/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
            ),
            "AuthFailure.SignatureFailure",
        ),
    ];
    for (name, value, code) in cases {
        let changed = replace_header(&map, name, *value);
        let error = parse_request("POST", &changed, None, body.as_bytes()).expect_err(name);
        assert_eq!(error.code, *code, "{name}={value:?}: {error}");
    }

    // A JSON body that is not an object, or not JSON at all.
    check_parse_error("POST", &map, None, "[1]", "InvalidParameter");
    check_parse_error("POST", &map, None, "{", "InvalidParameter");
    // No signature of either kind.
    let unsigned = replace_header(&map, "authorization", None);
    check_parse_error(
        "POST",
        &unsigned,
        None,
        body,
        "AuthFailure.InvalidAuthorization",
    );
    let host_only = headers(&[("Host", "h.test")]);
    check_parse_error(
        "GET",
        &host_only,
        Some("Action=ListEmailTemplates"),
        "",
        "AuthFailure.InvalidAuthorization",
    );
    // Oversized query string.
    let huge = "A=".to_owned() + &"x".repeat(crate::protocol::MAX_QUERY_BYTES);
    check_parse_error("GET", &map, Some(&huge), "", "RequestSizeLimitExceeded");
}

#[test]
fn legacy_envelope_errors() {
    let base = "Action=ListEmailTemplates&Version=2020-10-02&SecretId=AKIDx&Timestamp=1700000000&Nonce=5&Signature=AAAA";
    let map = headers(&[("Host", "h.test")]);
    let request = parse_request("GET", &map, Some(base), b"").expect("parses");
    // An unverifiable signature fails at verify, not at parse.
    assert_eq!(
        request.verify(SDK_KEY, SDK_NOW).map_err(|e| e.code),
        Err("AuthFailure.SignatureFailure".into())
    );
    let cases = [
        ("Nonce=5", "", "MissingParameter"),
        ("Nonce=5", "Nonce=-5", "InvalidParameter"),
        ("Timestamp=1700000000", "", "MissingParameter"),
        ("Timestamp=1700000000", "Timestamp=now", "InvalidParameter"),
        ("SecretId=AKIDx", "", "MissingParameter"),
        ("Action=ListEmailTemplates", "", "MissingParameter"),
        ("Version=2020-10-02", "Version=2017-03-12", "NoSuchVersion"),
        (
            "Nonce=5",
            "Nonce=5&SignatureMethod=MD5",
            "AuthFailure.InvalidAuthorization",
        ),
        ("Nonce=5", "Nonce=5&Token=abc", "AuthFailure.TokenFailure"),
        ("Nonce=5", "Nonce=5&Region=AP", "UnsupportedRegion"),
        ("Nonce=5", "Nonce=5&Nonce=6", "InvalidParameter"),
        ("Nonce=5", "Nonce=5&Destination.1=a", "InvalidParameter"),
    ];
    for (from, to, code) in cases {
        let query = base.replace(from, to);
        check_parse_error("GET", &map, Some(&query), "", code);
    }
    // A legacy POST must be a form.
    let json = headers(&[("Host", "h.test"), ("Content-Type", "application/json")]);
    check_parse_error(
        "POST",
        &json,
        None,
        base,
        "AuthFailure.InvalidAuthorization",
    );
}

#[test]
fn regions() {
    let allowed = vec!["ap-guangzhou".to_owned()];
    assert_eq!(check_region(None, &allowed), Ok(()));
    assert_eq!(check_region(Some("ap-guangzhou"), &allowed), Ok(()));
    assert_eq!(check_region(Some("ap-singapore"), &[]), Ok(()));
    assert_eq!(check_region(Some("na-siliconvalley-2"), &[]), Ok(()));
    for bad in [
        "ap-singapore",
        "apguangzhou",
        "ap--x",
        "-ap",
        "ap-X",
        "1p-x",
        "",
    ] {
        let error = check_region(Some(bad), &allowed).expect_err(bad);
        assert_eq!(error.code, "UnsupportedRegion");
    }
}
