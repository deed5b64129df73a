//! ListReceivers: a page of the caller's recipient lists with their counts, filtered by
//! status and a substring of the name.

use serde::Deserialize;
use serde_json::{Value, json};

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
    #[serde(rename = "KeyWord", default)]
    key_word: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(Some(request.limit), Some(request.offset))?;
    let status = request.status.unwrap_or(0);
    if !(0..=3).contains(&status) {
        return Err(ApiError::invalid_parameter_value(
            "Status is 1 (awaiting upload), 2 (uploading) or 3 (upload complete)",
        ));
    }
    let keyword = request.key_word.unwrap_or_default();
    let (rows, total) = app
        .store
        .list_receivers(caller.account_id, status, keyword.trim(), offset, limit)
        .await
        .map_err(|e| internal(&e))?;
    let zone = &app.config.api.time_zone;
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "ReceiverId": r.id,
                "ReceiversName": r.name,
                "Count": r.n_rows,
                "Desc": r.description,
                "ReceiversStatus": r.status,
                "CreateTime": sesame_core::time::format_date_time(r.created_at, zone),
                "InvalidCount": r.n_invalid,
            })
        })
        .collect();
    Ok(fields(json!({ "TotalCount": total, "Data": data })))
}
