//! DeleteEmailTemplate: removes one of the caller's templates.

use serde::Deserialize;
use serde_json::Value;

use super::get_email_template::template_not_exist;
use super::{Caller, Fields, internal};
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
    let deleted = app
        .store
        .delete_template(caller.account_id, request.template_id)
        .await
        .map_err(|e| internal(&e))?;
    if !deleted {
        return Err(template_not_exist(request.template_id));
    }
    tracing::info!(
        app_id = caller.account_id,
        template_id = request.template_id,
        "template deleted"
    );
    Ok(Fields::new())
}
