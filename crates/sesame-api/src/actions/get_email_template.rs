//! GetEmailTemplate: one template's content (base64) and review status.

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "TemplateID", deserialize_with = "params::req_i64")]
    template_id: i64,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let template = app
        .store
        .template(caller.account_id, request.template_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| template_not_exist(request.template_id))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(fields(json!({
        "TemplateContent": {
            "Html": b64.encode(template.html.as_bytes()),
            "Text": b64.encode(template.text.as_bytes()),
        },
        "TemplateStatus": template.status,
        "TemplateName": template.name,
    })))
}

pub(crate) fn template_not_exist(id: i64) -> ApiError {
    ApiError::new(
        "InvalidParameterValue.TemplateNotExist",
        format!("this account has no template {id}"),
    )
}
