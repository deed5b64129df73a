//! GetSendEmailStatus: one row per recipient of the caller's mail requested on one day.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::queue::StatusQuery;

use super::{Caller, Fields, fields, internal, page};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

/// How far back statuses can be asked for, in days (as in the cloud).
const LOOK_BACK_DAYS: i64 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "RequestDate")]
    request_date: String,
    #[serde(rename = "Offset", deserialize_with = "params::req_i64")]
    offset: i64,
    #[serde(rename = "Limit", deserialize_with = "params::req_i64")]
    limit: i64,
    #[serde(rename = "MessageId", default)]
    message_id: Option<String>,
    #[serde(rename = "ToEmailAddress", default)]
    to_email_address: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(Some(request.limit), Some(request.offset))?;
    let zone = &app.config.api.time_zone;
    let day = sesame_core::time::parse_date(&request.request_date, zone).ok_or_else(|| {
        ApiError::new(
            "FailedOperation.NotSupportDate",
            format!(
                "RequestDate {:?} is not a date such as 2026-01-31",
                super::clip(&request.request_date)
            ),
        )
    })?;
    let now = super::now();
    if day > now || day < now - (LOOK_BACK_DAYS + 1) * 86_400 {
        return Err(ApiError::new(
            "FailedOperation.NotSupportDate",
            format!("RequestDate must be within the last {LOOK_BACK_DAYS} days"),
        ));
    }
    let next_day = sesame_core::time::next_day_start(day, zone);
    let recipient = request
        .to_email_address
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| {
            sesame_core::EmailAddress::parse(r).map_or_else(|| r.to_string(), |a| a.to_string())
        });
    let rows = app
        .store
        .delivery_statuses(&StatusQuery {
            account_id: caller.account_id,
            from: day,
            until: next_day,
            message_id: request.message_id.as_deref().filter(|m| !m.is_empty()),
            recipient: recipient.as_deref(),
            offset,
            limit,
        })
        .await
        .map_err(|e| internal(&e))?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "MessageId": r.message_id,
                "ToEmailAddress": r.recipient,
                "FromEmailAddress": r.from_address,
                "SendStatus": r.send_status,
                "DeliverStatus": r.deliver_status,
                "DeliverMessage": r.deliver_message,
                "RequestTime": r.created_at,
                "DeliverTime": r.delivered_at.unwrap_or(0),
                "UserOpened": r.opened > 0,
                "UserClicked": r.clicked > 0,
                "UserUnsubscribed": r.unsubscribed != 0,
                "UserComplainted": r.complained != 0,
                "UserComplained": r.complained != 0,
            })
        })
        .collect();
    Ok(fields(json!({ "EmailStatusList": list })))
}
