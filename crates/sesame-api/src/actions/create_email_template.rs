//! CreateEmailTemplate: stores a template's HTML and text (base64 of UTF-8 in the API),
//! after checking its `{{variable}}` syntax and size. Approved at once, unless the account
//! has template review on.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_store::templates::status;

use super::{Caller, Fields, fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

/// Templates one account may keep.
const MAX_TEMPLATES_PER_ACCOUNT: i64 = 1000;
/// Largest decoded HTML plus text.
const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "TemplateName")]
    template_name: String,
    #[serde(rename = "TemplateContent")]
    template_content: TemplateContent,
}

/// `{Html?, Text?}`, each base64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateContent {
    #[serde(rename = "Html", default)]
    html: Option<String>,
    #[serde(rename = "Text", default)]
    text: Option<String>,
}

/// A template's checked name and decoded bodies.
pub(crate) struct CheckedTemplate {
    pub name: String,
    pub html: String,
    pub text: String,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let checked = check_template(&request.template_name, &request.template_content, false)?;
    let n_templates = app
        .store
        .count_templates(caller.account_id)
        .await
        .map_err(|e| internal(&e))?;
    if n_templates >= MAX_TEMPLATES_PER_ACCOUNT {
        return Err(ApiError::new(
            "FailedOperation.ExceedTemplateLimit",
            format!(
                "an account may keep at most {MAX_TEMPLATES_PER_ACCOUNT} templates; delete some first"
            ),
        ));
    }
    let status = initial_status(app, caller).await?;
    let template = app
        .store
        .create_template(
            caller.account_id,
            &checked.name,
            &checked.html,
            &checked.text,
            status,
            super::now(),
        )
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(
        app_id = caller.account_id,
        template_id = template.id,
        status,
        "template created"
    );
    Ok(fields(json!({ "TemplateID": template.id })))
}

/// Approved, or pending when the account's templates wait for review.
pub(crate) async fn initial_status(app: &App, caller: &Caller) -> Result<i64, ApiError> {
    let account = app
        .store
        .account(caller.account_id)
        .await
        .map_err(|e| internal(&e))?;
    Ok(match account {
        Some(a) if a.template_review => status::PENDING,
        _ => status::APPROVED,
    })
}

/// Checks name and content. `updating` picks the error for an empty name.
pub(crate) fn check_template(
    name: &str,
    content: &TemplateContent,
    updating: bool,
) -> Result<CheckedTemplate, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(if updating {
            ApiError::new(
                "InvalidParameterValue.TemplateNameIsNULL",
                "TemplateName must not be empty",
            )
        } else {
            name_illegal()
        });
    }
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(name_illegal());
    }
    let html = decode_body("Html", content.html.as_deref())?;
    let text = decode_body("Text", content.text.as_deref())?;
    if html.trim().is_empty() && text.trim().is_empty() {
        return Err(ApiError::new(
            "InvalidParameterValue.TemplateContentIsNULL",
            "TemplateContent needs a non-empty Html or Text",
        ));
    }
    if html.len() + text.len() > MAX_TEMPLATE_BYTES {
        return Err(ApiError::new(
            "FailedOperation.TemplateContentToolarge",
            format!("Html and Text together are at most {MAX_TEMPLATE_BYTES} bytes once decoded"),
        ));
    }
    for (field, body) in [("Html", &html), ("Text", &text)] {
        sesame_core::template::variables(body).map_err(|e| {
            ApiError::new(
                "InvalidParameterValue.TemplateContentIsWrong",
                format!("TemplateContent.{field}: {e}; variables are written {{{{name}}}}"),
            )
        })?;
    }
    Ok(CheckedTemplate {
        name: name.to_string(),
        html,
        text,
    })
}

fn name_illegal() -> ApiError {
    ApiError::new(
        "InvalidParameterValue.TemplateNameIllegal",
        "TemplateName is 1-100 characters without control characters",
    )
}

/// Decodes one base64 body; absent is empty.
fn decode_body(field: &str, body: Option<&str>) -> Result<String, ApiError> {
    let Some(body) = body else {
        return Ok(String::new());
    };
    let wrong = |why: &str| {
        ApiError::new(
            "InvalidParameterValue.TemplateContentIsWrong",
            format!("TemplateContent.{field} {why}"),
        )
    };
    let bytes =
        sesame_mail::encoding::decode_base64(body).ok_or_else(|| wrong("is not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| wrong("is not UTF-8 text once decoded"))
}
