//! GetStatisticsReport: the caller's daily figures between two dates (API time zone), by
//! sender domain and recipient domain (ReceivingMailboxType), one Volume per day and the
//! total. Figures come from the counters kept beside each status change, so they agree with
//! GetSendEmailStatus of the same request days: a delivery counts in the day it was
//! requested, once, as delivered or bounced (a bounce after delivery moves it).

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::events::{DayStats, StatsQuery};

use super::{Caller, Fields, clip, fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

/// Longest range one report covers, in days.
const MAX_DAYS: usize = 366;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "StartDate")]
    start_date: String,
    #[serde(rename = "EndDate")]
    end_date: String,
    #[serde(rename = "Domain", default)]
    domain: Option<String>,
    #[serde(rename = "ReceivingMailboxType", default)]
    receiving_mailbox_type: Option<String>,
}

fn wrong_date(message: String) -> ApiError {
    ApiError::new("InvalidParameterValue.WrongDate", message)
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let zone = &app.config.api.time_zone;
    let parse = |name: &str, text: &str| {
        sesame_core::time::parse_date(text, zone).ok_or_else(|| {
            wrong_date(format!(
                "{name} {:?} is not a date such as 2026-01-31",
                clip(text)
            ))
        })
    };
    let first = parse("StartDate", &request.start_date)?;
    let last = parse("EndDate", &request.end_date)?;
    if last < first {
        return Err(wrong_date("EndDate is before StartDate".into()));
    }
    let mut days = vec![first];
    while *days.last().expect("starts with one day") < last {
        if days.len() >= MAX_DAYS {
            return Err(wrong_date(format!(
                "a report covers at most {MAX_DAYS} days"
            )));
        }
        let next = sesame_core::time::next_day_start(*days.last().expect("not empty"), zone);
        days.push(next);
    }
    let until = sesame_core::time::next_day_start(last, zone);
    let lower = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    let (from_domain, rcpt_domain) = (
        lower(&request.domain),
        lower(&request.receiving_mailbox_type),
    );
    let query = StatsQuery {
        account_id: caller.account_id,
        from_day: first,
        until,
        from_domain: &from_domain,
        rcpt_domain: &rcpt_domain,
    };
    let rows = app
        .store
        .statistics(&query)
        .await
        .map_err(|e| internal(&e))?;
    let mut overall = DayStats::default();
    let daily: Vec<Value> = days
        .iter()
        .map(|&day| {
            let stats = rows
                .iter()
                .find(|r| r.day == day)
                .copied()
                .unwrap_or(DayStats {
                    day,
                    ..DayStats::default()
                });
            add(&mut overall, &stats);
            volume(&sesame_core::time::format_date(day, zone), &stats)
        })
        .collect();
    Ok(fields(json!({
        "DailyVolumes": daily,
        "OverallVolume": volume("", &overall),
    })))
}

fn add(total: &mut DayStats, day: &DayStats) {
    total.requests += day.requests;
    total.accepted += day.accepted;
    total.delivered += day.delivered;
    total.opened += day.opened;
    total.clicked += day.clicked;
    total.bounced += day.bounced;
    total.unsubscribed += day.unsubscribed;
}

fn volume(date: &str, s: &DayStats) -> Value {
    json!({
        "SendDate": date,
        "RequestCount": s.requests,
        "AcceptedCount": s.accepted,
        "DeliveredCount": s.delivered,
        "OpenedCount": s.opened,
        "ClickedCount": s.clicked,
        "BounceCount": s.bounced,
        "UnsubscribeCount": s.unsubscribed,
    })
}
