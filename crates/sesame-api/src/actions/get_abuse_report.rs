//! GetAbuseReport: the complaints (ARF reports) recipients made about the caller's mail,
//! newest first, with the cloud's filters. Times are `YYYY-MM-DD` (whole days) or
//! `YYYY-MM-DD HH:MM:SS`, in the API time zone; so are the answer's.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::inbound::ComplaintQuery;

use super::{Caller, Fields, clip, fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

/// Most rows per page (the cloud's default Limit).
const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "StartTime")]
    start_time: String,
    #[serde(rename = "EndTime")]
    end_time: String,
    #[serde(rename = "Offset", default, deserialize_with = "params::opt_i64")]
    offset: Option<i64>,
    #[serde(rename = "Limit", default, deserialize_with = "params::opt_i64")]
    limit: Option<i64>,
    #[serde(rename = "FromDomain", default)]
    from_domain: Option<String>,
    #[serde(rename = "FromAddress", default)]
    from_address: Option<String>,
    #[serde(rename = "Mta", default)]
    mta: Option<String>,
    #[serde(rename = "ToAddress", default)]
    to_address: Option<String>,
    #[serde(rename = "TemplateId", default)]
    template_id: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let zone = &app.config.api.time_zone;
    let from = parse_time(&request.start_time, zone, false).ok_or_else(|| {
        ApiError::new(
            "InvalidParameter.InvalidStartTimeFormat",
            format!(
                "StartTime {:?} is not a time such as 2026-01-31 or 2026-01-31 08:00:00",
                clip(&request.start_time)
            ),
        )
    })?;
    let until = parse_time(&request.end_time, zone, true).ok_or_else(|| {
        ApiError::new(
            "InvalidParameter.InvalidEndTimeFormat",
            format!(
                "EndTime {:?} is not a time such as 2026-01-31 or 2026-01-31 18:00:00",
                clip(&request.end_time)
            ),
        )
    })?;
    if until < from {
        return Err(ApiError::new(
            "InvalidParameter.InvalidEndTimeFormat",
            "EndTime is before StartTime",
        ));
    }
    let limit = request.limit.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            "FailedOperation.InvalidLimit",
            format!("Limit is 1 to {MAX_LIMIT}, not {limit}"),
        ));
    }
    let offset = request.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid_parameter_value(
            "Offset must not be negative",
        ));
    }
    let template_id = match request.template_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::invalid_parameter_value(format!(
                "TemplateId {:?} is not a template ID",
                clip(text)
            ))
        })?),
    };
    let lower = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    let (from_domain, from_address, mta, to_address) = (
        lower(&request.from_domain),
        lower(&request.from_address),
        lower(&request.mta),
        lower(&request.to_address),
    );
    let query = ComplaintQuery {
        account_id: caller.account_id,
        from,
        until,
        from_domain: &from_domain,
        from_address: &from_address,
        mta: &mta,
        to_address: &to_address,
        template_id,
        offset,
        limit,
    };
    let (rows, total) = app
        .store
        .list_complaints(&query)
        .await
        .map_err(|e| internal(&e))?;
    let time = |t: i64| sesame_core::time::format_date_time(t, zone);
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "DeliverTime": r.deliver_time.map(time).unwrap_or_default(),
                "OriginalMailFrom": r.original_mail_from,
                "OriginalRcptTo": r.original_rcpt_to,
                "FromDomain": r.from_domain,
                "ComplainTime": time(r.complain_time),
                "Mta": r.mta,
                "SourceIp": r.source_ip,
                "InsertTime": time(r.created_at),
                "TemplateId": r.template_id.map(|t| t.to_string()).unwrap_or_default(),
                "BulkId": r.message_id,
                "MessageId": r.header_message_id,
                "AbuseTime": time(r.complain_time),
                "Subject": r.subject,
            })
        })
        .collect();
    Ok(fields(json!({ "Data": data, "TotalCount": total })))
}

/// A date (its start, or with `end` the start of the next day) or a date-time.
fn parse_time(text: &str, zone: &jiff::tz::TimeZone, end: bool) -> Option<i64> {
    let text = text.trim();
    if let Some(day) = sesame_core::time::parse_date(text, zone) {
        return Some(if end {
            sesame_core::time::next_day_start(day, zone)
        } else {
            day
        });
    }
    sesame_core::time::parse_date_time(text, zone).map(|t| if end { t + 1 } else { t })
}
