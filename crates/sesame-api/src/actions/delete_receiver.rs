//! DeleteReceiver: removes a recipient list and its addresses. A task still to run over it
//! stops with status 7 when it next runs.

use serde::Deserialize;
use serde_json::{Value, json};

use super::create_receiver_detail::receiver_not_exist;
use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "ReceiverId", deserialize_with = "params::req_i64")]
    receiver_id: i64,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let deleted = app
        .store
        .delete_receiver(caller.account_id, request.receiver_id)
        .await
        .map_err(|e| internal(&e))?;
    if !deleted {
        return Err(receiver_not_exist(request.receiver_id));
    }
    Ok(fields(json!({})))
}
