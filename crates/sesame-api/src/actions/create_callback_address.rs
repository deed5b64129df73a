//! CreateCallbackAddress (extension): sets where the caller's events are POSTed, for the
//! whole account (no EmailAddress) or for one of its senders (which wins over the account's).
//! A second call for the same level replaces the URL. The account's first callback makes its
//! signing secret, answered once here as `SigningSecret`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::create_email_address::parse_sender_address;
use super::delete_email_address::no_such_sender;
use super::{Caller, Fields, clip, fields, internal, now};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

/// Longest callback URL.
const MAX_URL_CHARS: usize = 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "CallbackUrl")]
    callback_url: String,
    #[serde(rename = "EmailAddress", default)]
    email_address: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let url = check_callback_url(&request.callback_url)?;
    let sender = callback_sender(app, caller, request.email_address.as_deref()).await?;
    let secret = app
        .store
        .set_callback_address(caller.account_id, &sender, &url, now())
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(app_id = caller.account_id, sender = %sender, "callback address set");
    Ok(match secret {
        Some(secret) => fields(json!({ "SigningSecret": secret })),
        None => Fields::new(),
    })
}

/// The sender a callback request is about: '' for the account level, else one of the
/// caller's sender addresses (another account's answers like a missing one).
pub(crate) async fn callback_sender(
    app: &App,
    caller: &Caller,
    email_address: Option<&str>,
) -> Result<String, ApiError> {
    let text = email_address.unwrap_or("").trim();
    if text.is_empty() {
        return Ok(String::new());
    }
    let address = parse_sender_address(text)?.to_string();
    let sender = app
        .store
        .sender(caller.account_id, &address)
        .await
        .map_err(|e| internal(&e))?;
    match sender {
        Some(_) => Ok(address),
        None => Err(no_such_sender(&address)),
    }
}

/// A callback URL: http or https, with a host, without user or password, at most 1024
/// characters. Returns it as given (trimmed).
pub(crate) fn check_callback_url(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    let bad = |why: &str| {
        ApiError::invalid_parameter_value(format!("CallbackUrl {:?} {why}", clip(text)))
    };
    if text.is_empty() {
        return Err(ApiError::invalid_parameter_value(
            "CallbackUrl is empty; give an http:// or https:// URL",
        ));
    }
    if text.chars().count() > MAX_URL_CHARS {
        return Err(bad(&format!("is longer than {MAX_URL_CHARS} characters")));
    }
    let url =
        url::Url::parse(text).map_err(|_| bad("is not a URL such as https://example.com/hook"))?;
    // The URL parser is lenient ("http:host", "https:///host"): the text itself must be
    // scheme://authority.
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    if !matches!(url.scheme(), "http" | "https") || rest.is_none() {
        return Err(bad("must start with http:// or https://"));
    }
    if rest.is_some_and(|r| r.is_empty() || r.starts_with(['/', '?', '#'])) {
        return Err(bad("has no host"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not carry a user name or password; put credentials in the path or query if the receiver needs them",
        ));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a #fragment"));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::check_callback_url;

    fn check(url: &str, ok: bool) {
        assert_eq!(check_callback_url(url).is_ok(), ok, "{url}");
    }

    #[test]
    fn callback_urls() {
        check("https://hooks.example.com/ses?k=1", true);
        check("http://127.0.0.1:8081/cb", true);
        check("ftp://example.com/x", false);
        check("https://user:pw@example.com/", false);
        check("https://user@example.com/", false);
        check("https:///path", false);
        check("http:example.com", false);
        check("HTTPS://Example.com/x", true);
        check("example.com/hook", false);
        check("javascript:alert(1)", false);
        check("", false);
        check(&format!("https://example.com/{}", "a".repeat(1010)), false);
    }
}
