//! RotateCallbackSecret (extension): replaces the caller's callback signing secret and
//! answers the new one (shown only here). Events posted from now on are signed with it.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Fields, fields, internal, now};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let _: Request = from_params(params)?;
    let secret = app
        .store
        .rotate_callback_secret(caller.account_id, now())
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(
        app_id = caller.account_id,
        "callback signing secret rotated"
    );
    Ok(fields(json!({ "SigningSecret": secret })))
}
