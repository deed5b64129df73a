//! ListReceiverDetails: a page of one recipient list's addresses in upload order, filtered by
//! a substring of the address, the upload time and validity, with the list's counts.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::bulk::DetailQuery;

use super::create_receiver_detail::receiver_not_exist;
use super::{Caller, Fields, fields, internal, page};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "ReceiverId", deserialize_with = "params::req_i64")]
    receiver_id: i64,
    #[serde(rename = "Offset", deserialize_with = "params::req_i64")]
    offset: i64,
    #[serde(rename = "Limit", deserialize_with = "params::req_i64")]
    limit: i64,
    #[serde(rename = "Email", default)]
    email: Option<String>,
    #[serde(rename = "CreateTimeBegin", default)]
    create_time_begin: Option<String>,
    #[serde(rename = "CreateTimeEnd", default)]
    create_time_end: Option<String>,
    #[serde(rename = "Status", default, deserialize_with = "params::opt_i64")]
    status: Option<i64>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(Some(request.limit), Some(request.offset))?;
    let status = request.status.unwrap_or(0);
    if !(0..=2).contains(&status) {
        return Err(ApiError::invalid_parameter_value(
            "Status is 1 (valid) or 2 (invalid)",
        ));
    }
    let email = request.email.unwrap_or_default();
    let email = email.trim();
    if email.chars().count() > 50 {
        return Err(ApiError::invalid_parameter_value(
            "Email is at most 50 characters",
        ));
    }
    let zone = &app.config.api.time_zone;
    let begin = time_bound(
        app,
        "CreateTimeBegin",
        request.create_time_begin.as_deref(),
        false,
    )?;
    let end = time_bound(
        app,
        "CreateTimeEnd",
        request.create_time_end.as_deref(),
        true,
    )?;
    let found = app
        .store
        .list_receiver_details(&DetailQuery {
            account_id: caller.account_id,
            receiver_id: request.receiver_id,
            email,
            created_from: begin,
            created_until: end,
            status,
            offset,
            limit,
        })
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| receiver_not_exist(request.receiver_id))?;
    let data: Vec<Value> = found
        .rows
        .iter()
        .map(|r| {
            json!({
                "EmailId": r.id,
                "Email": r.email,
                "CreateTime": sesame_core::time::format_date_time(r.created_at, zone),
                "TemplateData": r.template_data.clone().unwrap_or_default(),
                "Reason": r.reason,
                "Status": r.status,
            })
        })
        .collect();
    Ok(fields(json!({
        "TotalCount": found.total,
        "ValidCount": found.n_valid,
        "InvalidCount": found.n_invalid,
        "Data": data,
    })))
}

/// `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` as a bound: a begin is inclusive; an end is
/// exclusive after that second (or that whole day).
fn time_bound(
    app: &App,
    field: &str,
    text: Option<&str>,
    is_end: bool,
) -> Result<Option<i64>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let zone = &app.config.api.time_zone;
    if let Some(t) = sesame_core::time::parse_date_time(text, zone) {
        return Ok(Some(if is_end { t + 1 } else { t }));
    }
    if let Some(day) = sesame_core::time::parse_date(text, zone) {
        return Ok(Some(if is_end {
            sesame_core::time::next_day_start(day, zone)
        } else {
            day
        }));
    }
    Err(ApiError::invalid_parameter_value(format!(
        "{field} {:?} is not a time such as 2026-01-31 08:00:00",
        super::clip(text)
    )))
}
