//! UpdateAddressUnsubscribeConfig: changes a sender address's default unsubscribe footer,
//! which CreateAddressUnsubscribeConfig must have set.

use serde_json::Value;

use super::{Caller, Fields};
use crate::protocol::ApiError;
use crate::server::App;

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    super::create_address_unsubscribe_config::set(app, caller, params, true).await
}
