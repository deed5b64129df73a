//! GetEmailIdentity: a domain's records as of its last DNS check.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_engine::identity;

use super::create_email_identity::{attributes_json, tags_of};
use super::{Caller, Fields, fields, identity_error, internal, parse_domain};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "EmailIdentity")]
    email_identity: String,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let domain = owned_domain(app, caller, &request.email_identity).await?;
    let expected = identity::expected(&app.store, &app.records, &domain)
        .await
        .map_err(identity_error)?;
    let attributes = identity::attributes(&domain, &expected);
    Ok(fields(json!({
        "IdentityType": "DOMAIN",
        "VerifiedForSendingStatus": domain.verified,
        "Attributes": attributes_json(&attributes),
        "DKIMOption": domain.dkim_option,
        "TagList": tags_of(&domain.tags),
    })))
}

/// The caller's domain named in a request, or `NotExistDomain` (also for another account's).
pub(crate) async fn owned_domain(
    app: &App,
    caller: &Caller,
    name: &str,
) -> Result<sesame_store::domains::Domain, ApiError> {
    let domain = parse_domain(name)?;
    app.store
        .domain(caller.account_id, domain.as_str())
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            ApiError::new(
                "InvalidParameterValue.NotExistDomain",
                format!("this account has no sender domain {domain}"),
            )
        })
}
