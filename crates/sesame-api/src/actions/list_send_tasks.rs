//! ListSendTasks: a page of the caller's batch tasks, newest first, filtered by status, list
//! and type, with their counts as the scheduler last saved them.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::bulk::TaskQuery;

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
    #[serde(rename = "ReceiverId", default, deserialize_with = "params::opt_i64")]
    receiver_id: Option<i64>,
    #[serde(rename = "TaskType", default, deserialize_with = "params::opt_i64")]
    task_type: Option<i64>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(Some(request.limit), Some(request.offset))?;
    let status = request.status.unwrap_or(0);
    if !matches!(status, 0 | 1 | 5 | 6 | 7 | 10) {
        return Err(ApiError::invalid_parameter_value(
            "Status is 1 (waiting), 5 (sending), 6 (paused for today), 7 (error) or 10 (finished)",
        ));
    }
    let task_type = request.task_type.unwrap_or(0);
    if !(0..=3).contains(&task_type) {
        return Err(ApiError::invalid_parameter_value(
            "TaskType is 1 (now), 2 (timed) or 3 (cyclic)",
        ));
    }
    let (rows, total) = app
        .store
        .list_tasks(&TaskQuery {
            account_id: caller.account_id,
            status,
            receiver_id: request.receiver_id.unwrap_or(0),
            task_type,
            offset,
            limit,
        })
        .await
        .map_err(|e| internal(&e))?;
    let zone = &app.config.api.time_zone;
    let time = |t: i64| sesame_core::time::format_date_time(t, zone);
    let data: Vec<Value> = rows
        .iter()
        .map(|t| {
            let begin = t.begin_at.map(time).unwrap_or_default();
            json!({
                "TaskId": t.id,
                "FromEmailAddress": t.from_address,
                "ReceiverId": t.receiver_id,
                "ReceiversName": t.receivers_name,
                "TaskStatus": t.status,
                "TaskType": t.task_type,
                "RequestCount": t.request_count,
                "SendCount": t.send_count,
                "CacheCount": t.cache_count,
                "CreateTime": time(t.created_at),
                "UpdateTime": time(t.updated_at),
                "Subject": t.subject,
                "Template": {
                    "TemplateID": t.template_id.unwrap_or(0),
                    "TemplateData": t.template_data,
                },
                "CycleParam": (t.task_type == 3).then(|| json!({
                    "BeginTime": begin,
                    "IntervalTime": t.interval_hours,
                    "TermCycle": t.term_cycle,
                })),
                "TimedParam": (t.task_type == 2).then(|| json!({ "BeginTime": begin })),
                "ErrMsg": t.err_msg,
            })
        })
        .collect();
    Ok(fields(json!({ "TotalCount": total, "Data": data })))
}
