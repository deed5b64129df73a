//! ListEmailTemplates: a page of the caller's templates, newest first.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Fields, fields, internal, page};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Limit", deserialize_with = "params::req_i64")]
    limit: i64,
    #[serde(rename = "Offset", deserialize_with = "params::req_i64")]
    offset: i64,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(Some(request.limit), Some(request.offset))?;
    let (templates, total) = app
        .store
        .list_templates(caller.account_id, offset, limit)
        .await
        .map_err(|e| internal(&e))?;
    let metadata: Vec<Value> = templates
        .iter()
        .map(|t| {
            json!({
                "TemplateID": t.id,
                "TemplateName": t.name,
                "CreatedTimestamp": t.created_at,
                "TemplateStatus": t.status,
                "ReviewReason": t.review_reason,
            })
        })
        .collect();
    Ok(fields(
        json!({ "TemplatesMetadata": metadata, "TotalCount": total }),
    ))
}
