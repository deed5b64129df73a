//! SendEmail: one message to up to 50 visible recipients, through the submit pipeline. The
//! MessageId is answered only once the message and its deliveries are committed.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_engine::submit::{self, Submission, SubmitError};

use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "FromEmailAddress")]
    from_email_address: String,
    #[serde(rename = "Subject")]
    subject: String,
    #[serde(rename = "Destination", default)]
    destination: Vec<String>,
    #[serde(rename = "ReplyToAddresses", default)]
    reply_to_addresses: Option<String>,
    #[serde(rename = "Cc", default)]
    cc: Vec<String>,
    #[serde(rename = "Bcc", default)]
    bcc: Vec<String>,
    #[serde(rename = "Template", default)]
    template: Option<Template>,
    #[serde(rename = "Simple", default)]
    simple: Option<Simple>,
    #[serde(rename = "Attachments", default)]
    attachments: Vec<Attachment>,
    #[serde(
        rename = "Unsubscribe",
        default,
        deserialize_with = "params::opt_string"
    )]
    unsubscribe: Option<String>,
    #[serde(rename = "TriggerType", default, deserialize_with = "params::opt_i64")]
    trigger_type: Option<i64>,
    #[serde(rename = "SmtpMessageId", default)]
    smtp_message_id: Option<String>,
    #[serde(rename = "SmtpHeaders", default)]
    smtp_headers: Option<String>,
    #[serde(rename = "HeaderFrom", default)]
    header_from: Option<String>,
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
struct Simple {
    #[serde(rename = "Html", default)]
    html: Option<String>,
    #[serde(rename = "Text", default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Attachment {
    #[serde(rename = "FileName")]
    file_name: String,
    #[serde(rename = "Content", default)]
    content: Option<String>,
    #[serde(rename = "FileURL", default)]
    file_url: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    if let Some(unsubscribe) = &request.unsubscribe
        && !unsubscribe.is_empty()
        && !matches!(unsubscribe.parse::<u8>(), Ok(0..=12))
    {
        return Err(ApiError::invalid_parameter_value(format!(
            "Unsubscribe is a language code \"0\" to \"12\", not {unsubscribe:?}"
        )));
    }
    let trigger_type = request.trigger_type.unwrap_or(0);
    if !(0..=1).contains(&trigger_type) {
        return Err(ApiError::invalid_parameter_value(
            "TriggerType is 0 (bulk) or 1 (transactional)",
        ));
    }
    let mut attachments = Vec::with_capacity(request.attachments.len());
    for attachment in request.attachments {
        if attachment
            .file_url
            .as_deref()
            .is_some_and(|u| !u.is_empty())
        {
            return Err(ApiError::new(
                "FailedOperation.FileURLNotExist",
                "attachments by FileURL are not supported; send the Content in base64",
            ));
        }
        attachments.push((attachment.file_name, attachment.content.unwrap_or_default()));
    }
    let submission = Submission {
        account_id: caller.account_id,
        from: request.from_email_address,
        to: request.destination,
        cc: request.cc,
        bcc: request.bcc,
        reply_to: request.reply_to_addresses,
        subject: request.subject,
        template: request
            .template
            .map(|t| (t.template_id, t.template_data.unwrap_or_default())),
        simple: request.simple.map(|s| (s.html, s.text)),
        attachments,
        trigger_type,
        smtp_message_id: request.smtp_message_id,
        smtp_headers: request.smtp_headers,
        header_from: request.header_from,
        unsubscribe: request
            .unsubscribe
            .as_deref()
            .filter(|u| !u.is_empty())
            .and_then(|u| u.parse::<u8>().ok()),
    };
    let accepted = submit::submit(&app.store, &app.submit_settings, submission, super::now())
        .await
        .map_err(submit_error)?;
    app.queue_wakeup.notify_one();
    sesame_core::metrics::get().accepted("api", accepted.n_queued as u64);
    tracing::info!(app_id = caller.account_id, message_id = %accepted.message_id, n = accepted.n_queued, "message accepted");
    Ok(fields(json!({ "MessageId": accepted.message_id })))
}

/// The Tencent code of each refusal.
pub(crate) fn submit_error(error: SubmitError) -> ApiError {
    match &error {
        SubmitError::Store(_) | SubmitError::Internal(_) => internal(&error),
        _ => ApiError::new(error.code(), error.to_string()),
    }
}
