//! UpdateCustomBlackList: changes one entry's address and expiry.

use serde::Deserialize;
use serde_json::Value;
use sesame_store::StoreError;

use super::create_custom_blacklist::expire_date;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Id", deserialize_with = "params::req_i64")]
    id: i64,
    #[serde(rename = "Email")]
    email: String,
    #[serde(rename = "ExpireDate", default)]
    expire_date: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let address = sesame_core::EmailAddress::parse(&request.email).ok_or_else(|| {
        ApiError::new(
            "InvalidParameterValue.IllegalEmailAddress",
            format!("{:?} is not a valid address", super::clip(&request.email)),
        )
    })?;
    let expires_at = expire_date(app, request.expire_date.as_deref())?;
    match app
        .store
        .update_custom_black(
            caller.account_id,
            request.id,
            &address.to_string(),
            expires_at,
        )
        .await
    {
        Ok(true) => Ok(Fields::new()),
        Ok(false) => Err(ApiError::new(
            "ResourceNotFound",
            format!("this account has no custom black list entry {}", request.id),
        )),
        Err(StoreError::Conflict) => Err(ApiError::invalid_parameter_value(format!(
            "{address} is already on the custom black list"
        ))),
        Err(e) => Err(internal(&e)),
    }
}
