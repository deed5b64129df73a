//! CreateEmailAddress: adds a sender address under one of the caller's verified domains.

use serde::Deserialize;
use serde_json::Value;
use sesame_core::address::{SenderError, check_alias};
use sesame_core::{EmailAddress, Sender};
use sesame_store::StoreError;

use super::{Caller, Fields, clip, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

/// Sender addresses one domain may have.
const MAX_SENDERS_PER_DOMAIN: i64 = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "EmailAddress")]
    email_address: String,
    #[serde(rename = "EmailSenderName", default)]
    email_sender_name: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let sender = Sender::parse(&request.email_address).map_err(|e| match e {
        SenderError::Address => illegal_address(&request.email_address),
        SenderError::Alias => illegal_sender_name(),
    })?;
    let alias = match request.email_sender_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => Some(check_alias(name).ok_or_else(illegal_sender_name)?),
        _ => sender.alias.clone(),
    };
    let address = sender.address;
    let domain = app
        .store
        .domain(caller.account_id, address.domain().as_str())
        .await
        .map_err(|e| internal(&e))?
        .filter(|d| d.verified)
        .ok_or_else(|| {
            ApiError::new(
                "OperationDenied.DomainNotVerified",
                format!(
                    "{} is not a verified sender domain of this account; create and verify it first",
                    address.domain()
                ),
            )
        })?;
    let n_senders = app
        .store
        .count_senders(domain.id)
        .await
        .map_err(|e| internal(&e))?;
    if n_senders >= MAX_SENDERS_PER_DOMAIN {
        return Err(ApiError::new(
            "OperationDenied.ExceedSenderLimit",
            format!(
                "{} already has {MAX_SENDERS_PER_DOMAIN} sender addresses",
                domain.name
            ),
        ));
    }
    let created = app
        .store
        .create_sender(
            caller.account_id,
            domain.id,
            &address.to_string(),
            alias.as_deref().unwrap_or(""),
            super::now(),
        )
        .await;
    match created {
        Ok(_) => {
            tracing::info!(app_id = caller.account_id, sender = %address, "sender address created");
            Ok(Fields::new())
        }
        Err(StoreError::Conflict) => Err(ApiError::new(
            "InvalidParameterValue.RepeatEmailAddress",
            format!("the sender address {address} already exists"),
        )),
        Err(e) => Err(internal(&e)),
    }
}

pub(crate) fn illegal_address(text: &str) -> ApiError {
    ApiError::new(
        "InvalidParameterValue.IllegalEmailAddress",
        format!(
            "{:?} is not a valid address such as noreply@mail.example.com",
            clip(text)
        ),
    )
}

fn illegal_sender_name() -> ApiError {
    ApiError::new(
        "InvalidParameterValue.IllegalSenderName",
        "a sender name is 1-64 characters without line breaks, ':', '<', '>' or '\"'",
    )
}

/// The address of a request naming an existing sender (`addr` or `Alias <addr>`).
pub(crate) fn parse_sender_address(text: &str) -> Result<EmailAddress, ApiError> {
    Sender::parse(text)
        .map(|s| s.address)
        .map_err(|_| illegal_address(text))
}
