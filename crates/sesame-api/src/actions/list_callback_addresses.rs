//! ListCallbackAddresses (extension): the caller's callback addresses, the account-level one
//! (EmailAddress "") first.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let _: Request = from_params(params)?;
    let rows = app
        .store
        .callback_addresses(caller.account_id)
        .await
        .map_err(|e| internal(&e))?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "EmailAddress": r.sender, "CallbackUrl": r.url }))
        .collect();
    Ok(fields(json!({ "CallbackAddresses": list })))
}
