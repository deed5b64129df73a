//! CreateAddressUnsubscribeConfig: the default unsubscribe footer of one of the caller's
//! sender addresses (UnsubscribeConfig "0".."10" as a string, Status 0 off / 1 on). A second
//! call replaces the first. SendEmail without `Unsubscribe` uses it.

use serde::Deserialize;
use serde_json::Value;
use sesame_store::tracking::UnsubscribeConfig;

use super::create_email_address::parse_sender_address;
use super::delete_email_address::no_such_sender;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Request {
    #[serde(rename = "Address")]
    address: String,
    #[serde(rename = "UnsubscribeConfig", deserialize_with = "params::req_string")]
    unsubscribe_config: String,
    #[serde(rename = "Status", deserialize_with = "params::req_i64")]
    status: i64,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    set(app, caller, params, false).await
}

/// Create (`must_exist` false) or Update (true) after the same checks.
pub(crate) async fn set(
    app: &App,
    caller: &Caller,
    params: Value,
    must_exist: bool,
) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let config = checked(app, caller, &request).await?;
    let now = super::now();
    let done = app
        .store
        .set_unsubscribe_config(caller.account_id, &config, must_exist, now)
        .await
        .map_err(|e| internal(&e))?;
    if !done {
        return Err(ApiError::invalid_parameter_value(format!(
            "{} has no unsubscribe config yet; create it with CreateAddressUnsubscribeConfig",
            config.address
        )));
    }
    Ok(Fields::new())
}

async fn checked(
    app: &App,
    caller: &Caller,
    request: &Request,
) -> Result<UnsubscribeConfig, ApiError> {
    let address = parse_sender_address(&request.address)?.to_string();
    let sender = app
        .store
        .sender(caller.account_id, &address)
        .await
        .map_err(|e| internal(&e))?;
    if sender.is_none() {
        return Err(no_such_sender(&address));
    }
    let language = request.unsubscribe_config.trim();
    if !matches!(language.parse::<u8>(), Ok(0..=12)) {
        return Err(ApiError::invalid_parameter_value(format!(
            "UnsubscribeConfig is a language code \"0\" to \"12\", not {:?}",
            super::clip(language)
        )));
    }
    if !(0..=1).contains(&request.status) {
        return Err(ApiError::invalid_parameter_value(
            "Status is 0 (off) or 1 (on)",
        ));
    }
    Ok(UnsubscribeConfig {
        address,
        language: language.to_string(),
        status: request.status,
    })
}
