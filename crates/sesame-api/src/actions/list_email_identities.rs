//! ListEmailIdentities: the caller's domains with reputation level and daily quota, filtered
//! by tags and paged. SendIp lists a domain's dedicated sending IPs: the domain's pool, else the
//! account's, empty when it sends from the shared addresses.

use serde::Deserialize;
use serde_json::{Value, json};
use sesame_core::reputation;
use sesame_store::ip_pools::pool_of_domain;

use super::create_email_identity::{Tag, tags_of};
use super::{Caller, Fields, fields, internal, page};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "TagList", default)]
    tag_list: Option<Vec<Tag>>,
    #[serde(rename = "Limit", default, deserialize_with = "params::opt_i64")]
    limit: Option<i64>,
    #[serde(rename = "Offset", default, deserialize_with = "params::opt_i64")]
    offset: Option<i64>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(request.limit, request.offset)?;
    let wanted = request.tag_list.unwrap_or_default();
    // An account has at most a handful of domains: filter in memory.
    let domains: Vec<_> = app
        .store
        .list_domains(caller.account_id)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .filter(|d| {
            let tags = tags_of(&d.tags);
            wanted.iter().all(|w| tags.contains(w))
        })
        .collect();
    let level = |d: &sesame_store::domains::Domain| {
        if d.verified {
            d.reputation_level.max(1)
        } else {
            0
        }
    };
    let max_level = domains.iter().map(level).max().unwrap_or(0);
    let max_quota = domains
        .iter()
        .map(|d| reputation::daily_quota(level(d) as u32))
        .max()
        .unwrap_or(0);
    let total = domains.len();
    let pool_members = app
        .store
        .pool_members_of_account(caller.account_id)
        .await
        .map_err(|e| internal(&e))?;
    let identities: Vec<Value> = domains
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|d| {
            json!({
                "IdentityName": d.name,
                "IdentityType": "DOMAIN",
                "SendingEnabled": d.verified,
                "CurrentReputationLevel": level(d),
                "DailyQuota": reputation::daily_quota(level(d) as u32),
                "SendIp": pool_of_domain(&pool_members, d.id)
                    .map(|(_, ips)| ips)
                    .unwrap_or_default(),
                "TagList": tags_of(&d.tags),
                "DKIMOption": d.dkim_option,
            })
        })
        .collect();
    Ok(fields(json!({
        "EmailIdentities": identities,
        "MaxReputationLevel": max_level,
        "MaxDailyQuota": max_quota,
        "Total": total,
    })))
}
