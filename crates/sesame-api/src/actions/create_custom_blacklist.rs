//! CreateCustomBlacklist: adds addresses to the caller's own black list, optionally until a date.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

/// Addresses one call may add.
const MAX_EMAILS_PER_CALL: usize = 20_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Emails", default)]
    emails: Vec<String>,
    #[serde(rename = "ExpireDate", default)]
    expire_date: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    if request.emails.is_empty() {
        return Err(ApiError::new(
            "MissingParameter.EmailsNecessary",
            "Emails needs at least one address",
        ));
    }
    if request.emails.len() > MAX_EMAILS_PER_CALL {
        return Err(ApiError::new(
            "LimitExceeded.ReceiverDetailRequestLimit",
            format!("at most {MAX_EMAILS_PER_CALL} addresses per call"),
        ));
    }
    let expires_at = expire_date(app, request.expire_date.as_deref())?;
    let (mut too_long, mut repeat, mut invalid) = (0, 0, 0);
    let mut valid: Vec<String> = Vec::new();
    for email in &request.emails {
        let email = email.trim();
        if email.chars().count() > 128 {
            too_long += 1;
            continue;
        }
        let Some(address) = sesame_core::EmailAddress::parse(email) else {
            invalid += 1;
            continue;
        };
        let address = address.to_string();
        if valid.contains(&address) {
            repeat += 1;
            continue;
        }
        valid.push(address);
    }
    app.store
        .add_custom_black(caller.account_id, &valid, expires_at, super::now())
        .await
        .map_err(|e| internal(&e))?;
    Ok(fields(json!({
        "TotalCount": request.emails.len(),
        "ValidCount": valid.len(),
        "TooLongCount": too_long,
        "RepeatCount": repeat,
        "InvalidCount": invalid,
    })))
}

/// `ExpireDate` (YYYY-MM-DD): the entry lasts until the end of that day. Empty = permanent.
pub(crate) fn expire_date(app: &App, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let zone = &app.config.api.time_zone;
    let day = sesame_core::time::parse_date(text, zone).ok_or_else(|| {
        ApiError::new(
            "InvalidParameterValue.WrongDate",
            format!(
                "ExpireDate {:?} is not a date such as 2026-01-31",
                super::clip(text)
            ),
        )
    })?;
    let end = sesame_core::time::next_day_start(day, zone);
    Ok(Some(end))
}
