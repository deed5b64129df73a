//! ListAddressUnsubscribeConfig: the caller's sender addresses with a default unsubscribe
//! footer, oldest first. `Limit` is a string in the published schema; numbers are accepted too.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Fields, fields, internal, page};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Offset", default, deserialize_with = "params::opt_i64")]
    offset: Option<i64>,
    #[serde(rename = "Limit", default, deserialize_with = "params::opt_i64")]
    limit: Option<i64>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    let (limit, offset) = page(request.limit, request.offset)?;
    let (rows, total) = app
        .store
        .list_unsubscribe_configs(caller.account_id, offset, limit)
        .await
        .map_err(|e| internal(&e))?;
    let list: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "Address": c.address,
                "UnsubscribeConfig": c.language,
                "Status": c.status,
            })
        })
        .collect();
    Ok(fields(
        json!({ "AddressUnsubscribeConfigList": list, "Total": total }),
    ))
}
