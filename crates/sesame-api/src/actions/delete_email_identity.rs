//! DeleteEmailIdentity: removes a domain and its keys, once it has no sender addresses.

use serde::Deserialize;
use serde_json::Value;

use super::get_email_identity::owned_domain;
use super::{Caller, Fields, internal};
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
    let n_senders = app
        .store
        .count_senders(domain.id)
        .await
        .map_err(|e| internal(&e))?;
    if n_senders > 0 {
        return Err(ApiError::new(
            "OperationDenied.SenderWithDomainIsNotEmpty",
            format!(
                "{} still has {n_senders} sender address(es); delete them first",
                domain.name
            ),
        ));
    }
    app.store
        .delete_domain(caller.account_id, &domain.name)
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(app_id = caller.account_id, domain = %domain.name, "sender domain deleted");
    Ok(Fields::new())
}
