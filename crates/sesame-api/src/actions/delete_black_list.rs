//! DeleteBlackList: takes addresses off the caller's black list so they can be mailed again.

use serde::Deserialize;
use serde_json::Value;

use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "EmailAddressList")]
    email_address_list: Vec<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    if request.email_address_list.is_empty() {
        return Err(ApiError::missing_parameter("EmailAddressList"));
    }
    if request.email_address_list.len() > 1000 {
        return Err(ApiError::invalid_parameter_value(
            "EmailAddressList holds at most 1000 addresses",
        ));
    }
    let addresses = normalise_addresses(&request.email_address_list);
    app.store
        .delete_black(caller.account_id, &addresses)
        .await
        .map_err(|e| internal(&e))?;
    Ok(Fields::new())
}

/// Addresses as stored: the domain part normalised where the address parses.
pub(crate) fn normalise_addresses(addresses: &[String]) -> Vec<String> {
    addresses
        .iter()
        .map(|a| {
            sesame_core::EmailAddress::parse(a)
                .map_or_else(|| a.trim().to_string(), |a| a.to_string())
        })
        .collect()
}
