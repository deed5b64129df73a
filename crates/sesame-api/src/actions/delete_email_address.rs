//! DeleteEmailAddress: removes one of the caller's sender addresses.

use serde::Deserialize;
use serde_json::Value;

use super::create_email_address::parse_sender_address;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "EmailAddress")]
    email_address: String,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let address = parse_sender_address(&request.email_address)?;
    let deleted = app
        .store
        .delete_sender(caller.account_id, &address.to_string())
        .await
        .map_err(|e| internal(&e))?;
    if !deleted {
        return Err(no_such_sender(&address.to_string()));
    }
    tracing::info!(app_id = caller.account_id, sender = %address, "sender address deleted");
    Ok(Fields::new())
}

pub(crate) fn no_such_sender(address: &str) -> ApiError {
    ApiError::new(
        "InvalidParameterValue.NoSuchSender",
        format!("this account has no sender address {address}"),
    )
}
