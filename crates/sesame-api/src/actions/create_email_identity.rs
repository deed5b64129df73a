//! CreateEmailIdentity: registers a sender domain and generates its DKIM key(s). No DNS
//! lookup happens here; UpdateEmailIdentity checks the records.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_engine::identity;
use sesame_store::StoreError;

use super::{Caller, Fields, fields, identity_error, internal, parse_domain};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

/// Domains one account may register.
const MAX_DOMAINS_PER_ACCOUNT: i64 = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "EmailIdentity")]
    email_identity: String,
    #[serde(rename = "DKIMOption", default, deserialize_with = "params::opt_i64")]
    dkim_option: Option<i64>,
    #[serde(rename = "TagList", default)]
    tag_list: Option<Vec<Tag>>,
}

/// A `{TagKey, TagValue}` pair, stored and shown as given.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tag {
    #[serde(rename = "TagKey")]
    pub key: String,
    #[serde(rename = "TagValue", default)]
    pub value: String,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let domain = parse_domain(&request.email_identity)?;
    let dkim_option = request.dkim_option.unwrap_or(0);
    if !(0..=2).contains(&dkim_option) {
        return Err(ApiError::invalid_parameter_value(format!(
            "DKIMOption must be 0 (RSA-1024), 1 (RSA-2048) or 2 (both), not {dkim_option}"
        )));
    }
    let tags = request.tag_list.unwrap_or_default();
    check_tags(&tags)?;

    if let Some(existing) = app
        .store
        .domain_by_name(domain.as_str())
        .await
        .map_err(|e| internal(&e))?
    {
        return Err(taken(caller, existing.account_id, domain.as_str()));
    }
    let n_domains = app
        .store
        .count_domains(caller.account_id)
        .await
        .map_err(|e| internal(&e))?;
    if n_domains >= MAX_DOMAINS_PER_ACCOUNT {
        return Err(ApiError::new(
            "OperationDenied.ExceedDomainLimit",
            format!(
                "an account may have at most {MAX_DOMAINS_PER_ACCOUNT} sender domains; delete one first"
            ),
        ));
    }
    let tags_json = serde_json::to_string(&tags).expect("tags serialise");
    let now = super::now();
    let created = identity::create(
        &app.store,
        caller.account_id,
        domain.as_str(),
        dkim_option,
        &tags_json,
        now,
    )
    .await;
    let created = match created {
        Ok(created) => created,
        // Someone registered it while we generated keys.
        Err(identity::IdentityError::Store(StoreError::Conflict)) => {
            let owner = app
                .store
                .domain_by_name(domain.as_str())
                .await
                .map_err(|e| internal(&e))?
                .map_or(caller.account_id, |d| d.account_id);
            return Err(taken(caller, owner, domain.as_str()));
        }
        Err(e) => return Err(identity_error(e)),
    };
    tracing::info!(app_id = caller.account_id, domain = %domain, dkim_option, "sender domain created");
    let expected = identity::expected(&app.store, &app.records, &created)
        .await
        .map_err(identity_error)?;
    let attributes = identity::attributes(&created, &expected);
    Ok(fields(json!({
        "IdentityType": "DOMAIN",
        "VerifiedForSendingStatus": false,
        "Attributes": attributes_json(&attributes),
        "DKIMOption": dkim_option,
    })))
}

fn taken(caller: &Caller, owner: i64, domain: &str) -> ApiError {
    if owner == caller.account_id {
        ApiError::new(
            "InvalidParameterValue.RepeatCreation",
            format!("the sender domain {domain} already exists in this account"),
        )
    } else {
        ApiError::new(
            "InvalidParameterValue.CreatedByOther",
            format!("the sender domain {domain} belongs to another account"),
        )
    }
}

/// Tags: at most 50, keys 1–128 characters, values up to 256, no control characters.
fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(ApiError::invalid_parameter_value(
            "TagList holds at most 50 tags",
        ));
    }
    for tag in tags {
        let key_len = tag.key.chars().count();
        let bad = !(1..=128).contains(&key_len)
            || tag.value.chars().count() > 256
            || tag
                .key
                .chars()
                .chain(tag.value.chars())
                .any(char::is_control);
        if bad {
            return Err(ApiError::invalid_parameter_value(
                "a tag needs a TagKey of 1-128 and a TagValue of at most 256 printable characters",
            ));
        }
    }
    Ok(())
}

/// `DNSAttributes` objects.
pub(crate) fn attributes_json(attributes: &[identity::Attribute]) -> Value {
    attributes
        .iter()
        .map(|a| {
            json!({
                "Type": a.record_type,
                "SendDomain": a.name,
                "ExpectedValue": a.expected_value,
                "CurrentValue": a.current_value,
                "Status": a.status,
            })
        })
        .collect()
}

/// The stored tags of a domain as `TagList` objects.
pub(crate) fn tags_of(tags_json: &str) -> Vec<Tag> {
    serde_json::from_str(tags_json).unwrap_or_default()
}
