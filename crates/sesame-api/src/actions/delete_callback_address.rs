//! DeleteCallbackAddress (extension): removes the caller's account-level callback (no
//! EmailAddress) or one sender's. Deleting one that is not set succeeds; events already
//! queued are still posted.

use serde::Deserialize;
use serde_json::Value;

use super::create_callback_address::callback_sender;
use super::create_email_address::parse_sender_address;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "EmailAddress", default)]
    email_address: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let text = request.email_address.as_deref().unwrap_or("").trim();
    // A callback whose sender was deleted since can still be removed.
    let sender = if text.is_empty() {
        String::new()
    } else {
        parse_sender_address(text)?.to_string()
    };
    let deleted = app
        .store
        .delete_callback_address(caller.account_id, &sender)
        .await
        .map_err(|e| internal(&e))?;
    if !deleted && !sender.is_empty() {
        // Not the caller's sender: the same answer as for CreateCallbackAddress.
        callback_sender(app, caller, Some(&sender)).await?;
    }
    tracing::info!(app_id = caller.account_id, sender = %sender, deleted, "callback address deleted");
    Ok(Fields::new())
}
