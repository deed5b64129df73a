//! DeleteAddressUnsubscribeConfig: removes a sender address's default unsubscribe footer.
//! `Address` is optional in the published schema; Sesame requires it.

use serde::Deserialize;
use serde_json::Value;

use super::create_email_address::parse_sender_address;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Address", default)]
    address: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let Some(address) = request.address.filter(|a| !a.trim().is_empty()) else {
        return Err(ApiError::new(
            "MissingParameter",
            "Address is required: the sender address whose unsubscribe config to delete",
        ));
    };
    let address = parse_sender_address(&address)?.to_string();
    let deleted = app
        .store
        .delete_unsubscribe_config(caller.account_id, &address)
        .await
        .map_err(|e| internal(&e))?;
    if !deleted {
        return Err(ApiError::invalid_parameter_value(format!(
            "{address} has no unsubscribe config"
        )));
    }
    Ok(Fields::new())
}
