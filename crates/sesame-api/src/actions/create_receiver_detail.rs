//! CreateReceiverDetail: appends addresses to a recipient list. Empty, too long and repeated
//! (within the call) addresses are counted and dropped; malformed ones are kept as invalid
//! rows (ListReceivers' InvalidCount, ListReceiverDetails' Status 2). The whole call is one
//! transaction, so the list goes from its status to 3 (complete) in one step and a 20 000-row
//! call answers in well under a second.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::bulk::{Appended, NewDetail};

use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

/// Addresses one call may add.
pub(crate) const MAX_PER_CALL: usize = 20_000;
/// Rows one list may hold.
pub(crate) const MAX_PER_LIST: i64 = 50_000;
/// Longest address kept.
const MAX_EMAIL_CHARS: usize = 254;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "ReceiverId", deserialize_with = "params::req_i64")]
    receiver_id: i64,
    #[serde(rename = "Emails", default)]
    emails: Vec<String>,
}

/// How the addresses of one call were sorted.
#[derive(Default)]
pub(crate) struct Sorted {
    pub rows: Vec<NewDetail>,
    pub n_valid: usize,
    pub n_too_long: usize,
    pub n_empty: usize,
    pub n_repeat: usize,
}

impl Sorted {
    /// Files one address (with its TemplateData, already checked).
    pub(crate) fn add(&mut self, seen: &mut HashSet<String>, email: &str, data: Option<String>) {
        let email = email.trim();
        if email.is_empty() {
            self.n_empty += 1;
            return;
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            self.n_too_long += 1;
            return;
        }
        let (key, status, reason) = match sesame_core::EmailAddress::parse(email) {
            Some(address) => (address.to_string(), 1, String::new()),
            None => (
                email.to_string(),
                2,
                "not a valid email address".to_string(),
            ),
        };
        // Repeats ignore case: mailboxes that differ only in case are one in practice.
        if !seen.insert(key.to_lowercase()) {
            self.n_repeat += 1;
            return;
        }
        if status == 1 {
            self.n_valid += 1;
        }
        self.rows.push(NewDetail {
            email: key,
            template_data: data,
            status,
            reason,
        });
    }

    pub(crate) fn answer(&self, total: usize) -> Fields {
        fields(json!({
            "TotalCount": total,
            "ValidCount": self.n_valid,
            "TooLongCount": self.n_too_long,
            "EmptyEmailCount": self.n_empty,
            "RepeatCount": self.n_repeat,
        }))
    }
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    check_count(request.emails.len())?;
    let mut sorted = Sorted::default();
    let mut seen = HashSet::with_capacity(request.emails.len());
    for email in &request.emails {
        sorted.add(&mut seen, email, None);
    }
    append(app, caller, request.receiver_id, &sorted, None).await?;
    Ok(sorted.answer(request.emails.len()))
}

/// The per-call limits: at least one address, at most 20 000.
pub(crate) fn check_count(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::new(
            "MissingParameter.EmailsNecessary",
            "give at least one address",
        ));
    }
    if n > MAX_PER_CALL {
        return Err(ApiError::new(
            "LimitExceeded.ReceiverDetailRequestLimit",
            format!("at most {MAX_PER_CALL} addresses per call, not {n}"),
        ));
    }
    Ok(())
}

/// Stores the rows of one call, answering the list's limits.
pub(crate) async fn append(
    app: &App,
    caller: &Caller,
    receiver_id: i64,
    sorted: &Sorted,
    keys: Option<&str>,
) -> Result<(), ApiError> {
    let outcome = app
        .store
        .append_receiver_details(
            caller.account_id,
            receiver_id,
            &sorted.rows,
            keys,
            MAX_PER_LIST,
            super::now(),
        )
        .await
        .map_err(|e| internal(&e))?;
    match outcome {
        Appended::Done => Ok(()),
        Appended::NotFound => Err(receiver_not_exist(receiver_id)),
        Appended::OverLimit { existing } => Err(ApiError::new(
            "LimitExceeded.ReceiverDetailCountLimit",
            format!(
                "a list holds at most {MAX_PER_LIST} addresses; this one has {existing} and the call adds {}",
                sorted.rows.len()
            ),
        )),
        Appended::KeysDiffer { expected } => Err(ApiError::new(
            "InvalidParameterValue.TemplateDataInconsistent",
            format!("TemplateData must use the same keys as the list's earlier rows: {expected}"),
        )),
    }
}

/// The answer for a list the caller does not have.
pub(crate) fn receiver_not_exist(id: i64) -> ApiError {
    ApiError::new(
        "OperationDenied.ReceiverNotExist",
        format!("recipient list {id} does not exist"),
    )
}
