//! DeleteCustomBlackList: removes addresses from the caller's own black list.

use serde::Deserialize;
use serde_json::Value;

use super::delete_black_list::normalise_addresses;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Emails")]
    emails: Vec<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    if request.emails.is_empty() {
        return Err(ApiError::new(
            "MissingParameter.EmailsNecessary",
            "Emails needs at least one address",
        ));
    }
    if request.emails.len() > 20_000 {
        return Err(ApiError::invalid_parameter_value(
            "Emails holds at most 20000 addresses",
        ));
    }
    app.store
        .delete_custom_black(caller.account_id, &normalise_addresses(&request.emails))
        .await
        .map_err(|e| internal(&e))?;
    Ok(Fields::new())
}
