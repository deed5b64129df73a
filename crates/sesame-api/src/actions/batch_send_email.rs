//! BatchSendEmail: creates a batch task over a recipient list: now (TaskType 1), at
//! TimedParam.BeginTime (2) or every CycleParam.IntervalTime hours from CycleParam.BeginTime
//! (3). Everything that can be checked now is checked now (sender, list, template, the list's
//! variables against the template's); the task is stored waiting (status 1) and the scheduler
//! (`engine::bulk`) fans it out. Answers the TaskId.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::bulk::{NewTask, receiver_status};
use sesame_store::templates::status as template_status;

use super::create_receiver_detail::receiver_not_exist;
use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "FromEmailAddress", default)]
    from_email_address: Option<String>,
    #[serde(rename = "ReceiverId", default, deserialize_with = "params::opt_i64")]
    receiver_id: Option<i64>,
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "TaskType", deserialize_with = "params::req_i64")]
    task_type: i64,
    #[serde(rename = "ReplyToAddresses", default)]
    reply_to_addresses: Option<String>,
    #[serde(rename = "Template", default)]
    template: Option<Template>,
    #[serde(rename = "Simple", default)]
    simple: Option<Value>,
    #[serde(rename = "Attachments", default)]
    attachments: Vec<Value>,
    #[serde(rename = "CycleParam", default)]
    cycle_param: Option<CycleParam>,
    #[serde(rename = "TimedParam", default)]
    timed_param: Option<TimedParam>,
    #[serde(
        rename = "Unsubscribe",
        default,
        deserialize_with = "params::opt_string"
    )]
    unsubscribe: Option<String>,
    #[serde(rename = "ADLocation", default, deserialize_with = "params::opt_i64")]
    ad_location: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Template {
    #[serde(rename = "TemplateID", deserialize_with = "params::req_i64")]
    template_id: i64,
    #[serde(rename = "TemplateData", default)]
    template_data: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CycleParam {
    #[serde(rename = "BeginTime", default)]
    begin_time: Option<String>,
    #[serde(rename = "IntervalTime", default, deserialize_with = "params::opt_i64")]
    interval_time: Option<i64>,
    #[serde(rename = "TermCycle", default, deserialize_with = "params::opt_i64")]
    term_cycle: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimedParam {
    #[serde(rename = "BeginTime", default)]
    begin_time: Option<String>,
}

/// How far in the past a BeginTime may be (clock skew between client and server).
const BEGIN_TIME_SLACK_SECS: i64 = 60;

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let missing = |what: &str| {
        ApiError::new(
            "MissingParameter.SendParamNecessary",
            format!("BatchSendEmail needs {what}"),
        )
    };
    let from = request
        .from_email_address
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| missing("FromEmailAddress"))?;
    let receiver_id = request.receiver_id.ok_or_else(|| missing("ReceiverId"))?;
    let subject = request
        .subject
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| missing("Subject"))?;
    if subject.chars().count() > 998 || subject.chars().any(|c| c == '\r' || c == '\n') {
        return Err(ApiError::new(
            "InvalidParameterValue.SubjectLengthError",
            "Subject must be 1-998 characters without line breaks",
        ));
    }
    if request.simple.is_some() {
        return Err(ApiError::invalid_parameter_value(
            "batch tasks send templates; Simple is deprecated and not accepted here",
        ));
    }
    if !request.attachments.is_empty() {
        return Err(ApiError::invalid_parameter_value(
            "batch tasks do not support Attachments yet",
        ));
    }
    let template = request.template.ok_or_else(|| missing("Template"))?;
    let unsubscribe = match request.unsubscribe.as_deref().filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => match u.parse::<i64>() {
            Ok(n @ 0..=12) => Some(n),
            _ => {
                return Err(ApiError::invalid_parameter_value(format!(
                    "Unsubscribe is a language code \"0\" to \"12\", not {:?}",
                    super::clip(u)
                )));
            }
        },
    };
    let ad_location = request.ad_location.unwrap_or(0);
    if !(0..=2).contains(&ad_location) {
        return Err(ApiError::invalid_parameter_value(
            "ADLocation is 0 (none), 1 (before the subject) or 2 (after it)",
        ));
    }
    let now = super::now();
    let zone = &app.config.api.time_zone;
    let begin = |text: Option<&str>, necessary: &'static str| -> Result<i64, ApiError> {
        let text = text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    necessary,
                    "the task needs a BeginTime such as 2026-01-31 08:00:00",
                )
            })?;
        let at = sesame_core::time::parse_date_time(text, zone).ok_or_else(|| {
            ApiError::invalid_parameter_value(format!(
                "BeginTime {:?} is not a time such as 2026-01-31 08:00:00",
                super::clip(text)
            ))
        })?;
        if at < now - BEGIN_TIME_SLACK_SECS {
            return Err(ApiError::new(
                "InvalidParameterValue.BeginTimeBeforeNow",
                format!("BeginTime {text} is in the past"),
            ));
        }
        Ok(at)
    };
    let (begin_at, interval_hours, term_cycle) = match request.task_type {
        1 => (None, 0, 0),
        2 => {
            let timed = request.timed_param.as_ref();
            let at = begin(
                timed.and_then(|t| t.begin_time.as_deref()),
                "MissingParameter.TimedParamNecessary",
            )?;
            (Some(at), 0, 0)
        }
        3 => {
            let cycle = request.cycle_param.as_ref();
            let at = begin(
                cycle.and_then(|c| c.begin_time.as_deref()),
                "MissingParameter.CycleParamNecessary",
            )?;
            let interval = cycle.and_then(|c| c.interval_time).ok_or_else(|| {
                ApiError::new(
                    "MissingParameter.CycleParamNecessary",
                    "a cyclic task needs CycleParam.IntervalTime (hours)",
                )
            })?;
            if !(1..=24 * 366).contains(&interval) {
                return Err(ApiError::invalid_parameter_value(
                    "CycleParam.IntervalTime is 1 to 8784 hours",
                ));
            }
            let term = cycle.and_then(|c| c.term_cycle).unwrap_or(0);
            if !(0..=1).contains(&term) {
                return Err(ApiError::invalid_parameter_value(
                    "CycleParam.TermCycle is 0 (keep recurring) or 1 (stop after this run)",
                ));
            }
            (Some(at), interval, term)
        }
        other => {
            return Err(ApiError::invalid_parameter_value(format!(
                "TaskType is 1 (now), 2 (timed) or 3 (cyclic), not {other}"
            )));
        }
    };

    let store = &app.store;
    check_sender(app, caller, &from).await?;
    let receiver = store
        .receiver(caller.account_id, receiver_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| receiver_not_exist(receiver_id))?;
    if receiver.status != receiver_status::COMPLETE || receiver.n_rows - receiver.n_invalid == 0 {
        return Err(ApiError::new(
            "OperationDenied.ReceiverStatusError",
            format!("recipient list {receiver_id} has no uploaded valid address yet"),
        ));
    }
    let stored_template = store
        .template(caller.account_id, template.template_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            ApiError::new(
                "FailedOperation.InvalidTemplateID",
                format!("this account has no template {}", template.template_id),
            )
        })?;
    if stored_template.status != template_status::APPROVED {
        return Err(ApiError::new(
            "OperationDenied.TemplateStatusError",
            format!("template {} is not approved", template.template_id),
        ));
    }
    let task_data = template.template_data.unwrap_or_default();
    let task_values = if task_data.trim().is_empty() {
        Default::default()
    } else {
        sesame_mail::render::parse_template_data(&task_data).map_err(|e| {
            ApiError::new(
                "FailedOperation.WrongContentJson",
                format!("TemplateData is not a JSON object of plain values: {e}"),
            )
        })?
    };
    // Every variable of the template and subject must get a value from the list's rows or
    // the task's own TemplateData.
    let mut known: BTreeSet<String> = task_values.keys().cloned().collect();
    if let Some(keys) = &receiver.data_keys {
        known.extend(serde_json::from_str::<Vec<String>>(keys).unwrap_or_default());
    }
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for text in [&stored_template.html, &stored_template.text, &subject] {
        needed.extend(sesame_core::template::variables(text).unwrap_or_default());
    }
    if let Some(name) = needed.iter().find(|n| !known.contains(*n)) {
        return Err(ApiError::new(
            "InvalidParameterValue.TemplateNotMatchData",
            format!(
                "the template uses {{{{{name}}}}} but neither the list's TemplateData nor the task's gives it"
            ),
        ));
    }
    let reply_to = request.reply_to_addresses.filter(|r| !r.trim().is_empty());
    let task_id = store
        .create_task(
            &NewTask {
                account_id: caller.account_id,
                from_address: from.trim(),
                receiver_id,
                receivers_name: &receiver.name,
                subject: &subject,
                template_id: Some(template.template_id),
                template_data: &task_data,
                reply_to: reply_to.as_deref(),
                unsubscribe,
                ad_location,
                task_type: request.task_type,
                begin_at,
                interval_hours,
                term_cycle,
                next_run_at: begin_at.unwrap_or(now),
            },
            now,
        )
        .await
        .map_err(|e| internal(&e))?;
    app.bulk_wakeup.notify_one();
    tracing::info!(
        app_id = caller.account_id,
        task_id,
        receiver_id,
        task_type = request.task_type,
        "batch task created"
    );
    Ok(fields(json!({ "TaskId": task_id })))
}

/// The sender must be the caller's, on a verified domain (checked again at each run).
async fn check_sender(app: &App, caller: &Caller, from: &str) -> Result<(), ApiError> {
    let sender = sesame_core::address::Sender::parse(from).map_err(|_| {
        ApiError::new(
            "FailedOperation.IncorrectSender",
            format!(
                "FromEmailAddress {:?} is not an address such as noreply@mail.example.com",
                super::clip(from)
            ),
        )
    })?;
    let address = sender.address.to_string();
    let not_authenticated = || {
        ApiError::new(
            "FailedOperation.NotAuthenticatedSender",
            format!("{address} is not a sender address of this account on a verified domain"),
        )
    };
    let store = &app.store;
    store
        .sender(caller.account_id, &address)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(not_authenticated)?;
    store
        .domain(caller.account_id, sender.address.domain().as_str())
        .await
        .map_err(|e| internal(&e))?
        .filter(|d| d.verified)
        .ok_or_else(not_authenticated)?;
    Ok(())
}
