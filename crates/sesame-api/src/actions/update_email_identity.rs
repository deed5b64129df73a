//! UpdateEmailIdentity: looks every record of a domain up in DNS now ("request
//! verification"), optionally after switching its DKIMOption.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_engine::identity;

use super::create_email_identity::attributes_json;
use super::get_email_identity::owned_domain;
use super::{Caller, Fields, fields, identity_error};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "EmailIdentity")]
    email_identity: String,
    /// A console flag of the cloud; accepted and ignored.
    #[serde(rename = "NewAPI", default, deserialize_with = "params::opt_bool")]
    _new_api: Option<bool>,
    #[serde(rename = "DKIMOption", default, deserialize_with = "params::opt_i64")]
    dkim_option: Option<i64>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let mut domain = owned_domain(app, caller, &request.email_identity).await?;
    let now = super::now();
    if let Some(option) = request.dkim_option
        && option != domain.dkim_option
    {
        if !(0..=2).contains(&option) {
            return Err(ApiError::invalid_parameter_value(format!(
                "DKIMOption must be 0 (RSA-1024), 1 (RSA-2048) or 2 (both), not {option}"
            )));
        }
        identity::change_dkim_option(&app.store, &domain, option, now)
            .await
            .map_err(identity_error)?;
        domain.dkim_option = option;
    }
    let (domain, attributes) = identity::check(&app.store, &app.dns, &app.records, &domain, now)
        .await
        .map_err(identity_error)?;
    tracing::info!(app_id = caller.account_id, domain = %domain.name, verified = domain.verified, "sender domain checked");
    Ok(fields(json!({
        "IdentityType": "DOMAIN",
        "VerifiedForSendingStatus": domain.verified,
        "Attributes": attributes_json(&attributes),
        "DKIMOption": domain.dkim_option,
    })))
}
