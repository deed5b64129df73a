//! ListEmailAddress: the caller's sender addresses, oldest first.

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
    let senders = app
        .store
        .list_senders(caller.account_id)
        .await
        .map_err(|e| internal(&e))?;
    let senders: Vec<Value> = senders
        .iter()
        .map(|s| {
            json!({
                "EmailAddress": s.address,
                "EmailSenderName": s.alias,
                "CreatedTimestamp": s.created_at,
                "SmtpPwdType": i64::from(s.smtp_password.is_some()),
            })
        })
        .collect();
    Ok(fields(json!({ "EmailSenders": senders })))
}
