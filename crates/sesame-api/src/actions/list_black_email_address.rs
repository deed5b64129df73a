//! ListBlackEmailAddress: the caller's hard-bounced addresses, by bounce date.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Fields, fields, internal, page};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "StartDate")]
    start_date: String,
    #[serde(rename = "EndDate")]
    end_date: String,
    #[serde(rename = "Limit", deserialize_with = "params::req_i64")]
    limit: i64,
    #[serde(rename = "Offset", deserialize_with = "params::req_i64")]
    offset: i64,
    #[serde(rename = "EmailAddress", default)]
    email_address: Option<String>,
    /// Deprecated in the cloud; accepted and ignored.
    #[serde(rename = "TaskID", default)]
    _task_id: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(Some(request.limit), Some(request.offset))?;
    let zone = &app.config.api.time_zone;
    let (from, until) = date_range(&request.start_date, &request.end_date, zone)?;
    let address = request
        .email_address
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| {
            sesame_core::EmailAddress::parse(a).map_or_else(|| a.to_string(), |a| a.to_string())
        });
    let (rows, total) = app
        .store
        .list_black(
            caller.account_id,
            from,
            until,
            address.as_deref(),
            super::now(),
            offset,
            limit,
        )
        .await
        .map_err(|e| internal(&e))?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "BounceTime": sesame_core::time::format_date_time(r.bounced_at, zone),
                "EmailAddress": r.address,
                "IspDesc": r.reason,
            })
        })
        .collect();
    Ok(fields(json!({ "BlackList": list, "TotalCount": total })))
}

/// `[start of StartDate, end of EndDate)` in `zone`; bad dates → `InvalidParameterValue.WrongDate`.
pub(crate) fn date_range(
    start: &str,
    end: &str,
    zone: &jiff::tz::TimeZone,
) -> Result<(i64, i64), ApiError> {
    let wrong = |what: &str, text: &str| {
        ApiError::new(
            "InvalidParameterValue.WrongDate",
            format!(
                "{what} {:?} is not a date such as 2026-01-31",
                super::clip(text)
            ),
        )
    };
    let from =
        sesame_core::time::parse_date(start, zone).ok_or_else(|| wrong("StartDate", start))?;
    let end_day = sesame_core::time::parse_date(end, zone).ok_or_else(|| wrong("EndDate", end))?;
    if end_day < from {
        return Err(ApiError::new(
            "InvalidParameterValue.WrongDate",
            "EndDate is before StartDate",
        ));
    }
    let until = sesame_core::time::next_day_start(end_day, zone);
    Ok((from, until))
}
