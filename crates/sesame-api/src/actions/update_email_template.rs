//! UpdateEmailTemplate: replaces a template's name and content; it goes back to review
//! when the account reviews templates.

use serde::Deserialize;
use serde_json::Value;

use super::create_email_template::{TemplateContent, check_template, initial_status};
use super::get_email_template::template_not_exist;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "TemplateID", deserialize_with = "params::req_i64")]
    template_id: i64,
    #[serde(rename = "TemplateName")]
    template_name: String,
    #[serde(rename = "TemplateContent")]
    template_content: TemplateContent,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let checked = check_template(&request.template_name, &request.template_content, true)?;
    let status = initial_status(app, caller).await?;
    let updated = app
        .store
        .update_template(
            caller.account_id,
            request.template_id,
            &checked.name,
            &checked.html,
            &checked.text,
            status,
            super::now(),
        )
        .await
        .map_err(|e| internal(&e))?;
    if updated.is_none() {
        return Err(template_not_exist(request.template_id));
    }
    tracing::info!(
        app_id = caller.account_id,
        template_id = request.template_id,
        status,
        "template updated"
    );
    Ok(Fields::new())
}
