//! CreateReceiver: a new, empty recipient list (status 1, awaiting upload) of the caller.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::StoreError;

use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

/// Lists one account may hold.
const MAX_RECEIVERS: i64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "ReceiversName", default)]
    receivers_name: Option<String>,
    #[serde(rename = "Desc", default)]
    desc: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let name = request.receivers_name.unwrap_or_default();
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            "InvalidParameterValue.ReceiverNameIllegal",
            "ReceiversName must be 1-200 characters without control characters",
        ));
    }
    let desc = request.desc.unwrap_or_default();
    let desc = desc.trim();
    if desc.chars().count() > 300
        || desc
            .chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | '\\'))
    {
        return Err(ApiError::new(
            "InvalidParameterValue.ReceiverDescIllegal",
            "Desc is at most 300 characters, without control characters or < > \" \\",
        ));
    }
    let store = &app.store;
    if store
        .count_receivers(caller.account_id)
        .await
        .map_err(|e| internal(&e))?
        >= MAX_RECEIVERS
    {
        return Err(ApiError::new(
            "LimitExceeded.ExceedReceiverLimit",
            format!("an account holds at most {MAX_RECEIVERS} recipient lists; delete one first"),
        ));
    }
    let id = match store
        .create_receiver(caller.account_id, name, desc, super::now())
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                "InvalidParameterValue.RepeatReceiverName",
                format!("a recipient list named {:?} exists", super::clip(name)),
            ));
        }
        Err(e) => return Err(internal(&e)),
    };
    Ok(fields(json!({ "ReceiverId": id })))
}
