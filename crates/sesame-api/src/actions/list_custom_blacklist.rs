//! ListCustomBlacklist: a page of the caller's own black list, filtered by status and address.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::suppression::CustomQuery;

use super::{Caller, Fields, fields, internal, page};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Offset", deserialize_with = "params::req_i64")]
    offset: i64,
    #[serde(rename = "Limit", deserialize_with = "params::req_i64")]
    limit: i64,
    #[serde(rename = "Status", default, deserialize_with = "params::opt_i64")]
    status: Option<i64>,
    #[serde(rename = "Email", default)]
    email: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(Some(request.limit), Some(request.offset))?;
    let status = request.status.unwrap_or(2);
    if !(0..=2).contains(&status) {
        return Err(ApiError::invalid_parameter_value(
            "Status is 0 (expired), 1 (active) or 2 (all)",
        ));
    }
    let now = super::now();
    let email = request.email.as_deref().filter(|e| !e.is_empty()).map(|a| {
        sesame_core::EmailAddress::parse(a).map_or_else(|| a.to_string(), |a| a.to_string())
    });
    let (rows, total) = app
        .store
        .list_custom_black(&CustomQuery {
            account_id: caller.account_id,
            now,
            status,
            address: email.as_deref(),
            offset,
            limit,
        })
        .await
        .map_err(|e| internal(&e))?;
    let zone = &app.config.api.time_zone;
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            let active = r.expires_at.is_none_or(|e| e > now);
            json!({
                "Id": r.id,
                "Email": r.address,
                "CreateTime": sesame_core::time::format_date_time(r.created_at, zone),
                // The last day the entry applies (it lasts until that day's end).
                "ExpireDate": r.expires_at.map(|e| sesame_core::time::format_date(e - 1, zone)).unwrap_or_default(),
                "Status": i64::from(active),
            })
        })
        .collect();
    Ok(fields(json!({ "TotalCount": total, "Data": data })))
}
