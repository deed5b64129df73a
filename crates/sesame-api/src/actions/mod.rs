//! One module per SES action, each holding its request type, response and handler. This
//! module maps action names to handlers and holds the few helpers they share. Handlers see
//! only their caller's account: every store call passes `caller.account_id`.

mod batch_send_email;
mod create_address_unsubscribe_config;
mod create_callback_address;
mod create_custom_blacklist;
mod create_email_address;
mod create_email_identity;
mod create_email_template;
mod create_receiver;
mod create_receiver_detail;
mod create_receiver_detail_with_data;
mod delete_address_unsubscribe_config;
mod delete_black_list;
mod delete_callback_address;
mod delete_custom_black_list;
mod delete_email_address;
mod delete_email_identity;
mod delete_email_template;
mod delete_receiver;
mod get_abuse_report;
mod get_email_identity;
mod get_email_template;
mod get_send_email_status;
mod get_statistics_report;
mod list_address_unsubscribe_config;
mod list_black_email_address;
mod list_callback_addresses;
mod list_custom_blacklist;
mod list_email_address;
mod list_email_identities;
mod list_email_templates;
mod list_receiver_details;
mod list_receivers;
mod list_send_tasks;
mod rotate_callback_secret;
mod send_email;
mod update_address_unsubscribe_config;
mod update_custom_black_list;
mod update_email_identity;
mod update_email_smtp_pass_word;
mod update_email_template;

use serde_json::{Map, Value};
use sesame_core::DomainName;

use crate::protocol::ApiError;
use crate::server::App;

/// Who is calling: the account that owns the API key of the request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub account_id: i64,
}

/// The fields of a success response (RequestId is added by the server).
pub type Fields = Map<String, Value>;

/// A known action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateEmailIdentity,
    GetEmailIdentity,
    UpdateEmailIdentity,
    ListEmailIdentities,
    DeleteEmailIdentity,
    CreateEmailAddress,
    ListEmailAddress,
    DeleteEmailAddress,
    UpdateEmailSmtpPassWord,
    CreateEmailTemplate,
    GetEmailTemplate,
    UpdateEmailTemplate,
    ListEmailTemplates,
    DeleteEmailTemplate,
    SendEmail,
    GetSendEmailStatus,
    ListBlackEmailAddress,
    DeleteBlackList,
    CreateCustomBlacklist,
    ListCustomBlacklist,
    UpdateCustomBlackList,
    DeleteCustomBlackList,
    GetAbuseReport,
    CreateAddressUnsubscribeConfig,
    UpdateAddressUnsubscribeConfig,
    DeleteAddressUnsubscribeConfig,
    ListAddressUnsubscribeConfig,
    GetStatisticsReport,
    CreateCallbackAddress,
    ListCallbackAddresses,
    DeleteCallbackAddress,
    RotateCallbackSecret,
    CreateReceiver,
    CreateReceiverDetail,
    CreateReceiverDetailWithData,
    ListReceivers,
    ListReceiverDetails,
    DeleteReceiver,
    BatchSendEmail,
    ListSendTasks,
}

impl Action {
    /// The action called `name`; unknown names are `InvalidAction`.
    pub fn from_name(name: &str) -> Result<Action, ApiError> {
        use Action::*;
        Ok(match name {
            "CreateEmailIdentity" => CreateEmailIdentity,
            "GetEmailIdentity" => GetEmailIdentity,
            "UpdateEmailIdentity" => UpdateEmailIdentity,
            "ListEmailIdentities" => ListEmailIdentities,
            "DeleteEmailIdentity" => DeleteEmailIdentity,
            "CreateEmailAddress" => CreateEmailAddress,
            "ListEmailAddress" => ListEmailAddress,
            "DeleteEmailAddress" => DeleteEmailAddress,
            "UpdateEmailSmtpPassWord" => UpdateEmailSmtpPassWord,
            "CreateEmailTemplate" => CreateEmailTemplate,
            "GetEmailTemplate" => GetEmailTemplate,
            "UpdateEmailTemplate" => UpdateEmailTemplate,
            "ListEmailTemplates" => ListEmailTemplates,
            "DeleteEmailTemplate" => DeleteEmailTemplate,
            "SendEmail" => SendEmail,
            "GetSendEmailStatus" => GetSendEmailStatus,
            "ListBlackEmailAddress" => ListBlackEmailAddress,
            "GetAbuseReport" => GetAbuseReport,
            "CreateAddressUnsubscribeConfig" => CreateAddressUnsubscribeConfig,
            "UpdateAddressUnsubscribeConfig" => UpdateAddressUnsubscribeConfig,
            "DeleteAddressUnsubscribeConfig" => DeleteAddressUnsubscribeConfig,
            "ListAddressUnsubscribeConfig" => ListAddressUnsubscribeConfig,
            "DeleteBlackList" => DeleteBlackList,
            "CreateCustomBlacklist" => CreateCustomBlacklist,
            "ListCustomBlacklist" => ListCustomBlacklist,
            "UpdateCustomBlackList" => UpdateCustomBlackList,
            "DeleteCustomBlackList" => DeleteCustomBlackList,
            "GetStatisticsReport" => GetStatisticsReport,
            "CreateCallbackAddress" => CreateCallbackAddress,
            "ListCallbackAddresses" => ListCallbackAddresses,
            "DeleteCallbackAddress" => DeleteCallbackAddress,
            "RotateCallbackSecret" => RotateCallbackSecret,
            "CreateReceiver" => CreateReceiver,
            "CreateReceiverDetail" => CreateReceiverDetail,
            "CreateReceiverDetailWithData" => CreateReceiverDetailWithData,
            "ListReceivers" => ListReceivers,
            "ListReceiverDetails" => ListReceiverDetails,
            "DeleteReceiver" => DeleteReceiver,
            "BatchSendEmail" => BatchSendEmail,
            "ListSendTasks" => ListSendTasks,
            other => return Err(ApiError::invalid_action(other)),
        })
    }
}

/// Runs `action` for `caller`.
pub async fn dispatch(
    app: &App,
    caller: &Caller,
    action: Action,
    params: Value,
) -> Result<Fields, ApiError> {
    use Action::*;
    match action {
        CreateEmailIdentity => create_email_identity::handle(app, caller, params).await,
        GetEmailIdentity => get_email_identity::handle(app, caller, params).await,
        UpdateEmailIdentity => update_email_identity::handle(app, caller, params).await,
        ListEmailIdentities => list_email_identities::handle(app, caller, params).await,
        DeleteEmailIdentity => delete_email_identity::handle(app, caller, params).await,
        CreateEmailAddress => create_email_address::handle(app, caller, params).await,
        ListEmailAddress => list_email_address::handle(app, caller, params).await,
        DeleteEmailAddress => delete_email_address::handle(app, caller, params).await,
        UpdateEmailSmtpPassWord => update_email_smtp_pass_word::handle(app, caller, params).await,
        CreateEmailTemplate => create_email_template::handle(app, caller, params).await,
        GetEmailTemplate => get_email_template::handle(app, caller, params).await,
        UpdateEmailTemplate => update_email_template::handle(app, caller, params).await,
        ListEmailTemplates => list_email_templates::handle(app, caller, params).await,
        DeleteEmailTemplate => delete_email_template::handle(app, caller, params).await,
        SendEmail => send_email::handle(app, caller, params).await,
        GetSendEmailStatus => get_send_email_status::handle(app, caller, params).await,
        ListBlackEmailAddress => list_black_email_address::handle(app, caller, params).await,
        DeleteBlackList => delete_black_list::handle(app, caller, params).await,
        CreateCustomBlacklist => create_custom_blacklist::handle(app, caller, params).await,
        ListCustomBlacklist => list_custom_blacklist::handle(app, caller, params).await,
        UpdateCustomBlackList => update_custom_black_list::handle(app, caller, params).await,
        DeleteCustomBlackList => delete_custom_black_list::handle(app, caller, params).await,
        GetAbuseReport => get_abuse_report::handle(app, caller, params).await,
        CreateAddressUnsubscribeConfig => {
            create_address_unsubscribe_config::handle(app, caller, params).await
        }
        UpdateAddressUnsubscribeConfig => {
            update_address_unsubscribe_config::handle(app, caller, params).await
        }
        DeleteAddressUnsubscribeConfig => {
            delete_address_unsubscribe_config::handle(app, caller, params).await
        }
        ListAddressUnsubscribeConfig => {
            list_address_unsubscribe_config::handle(app, caller, params).await
        }
        GetStatisticsReport => get_statistics_report::handle(app, caller, params).await,
        CreateCallbackAddress => create_callback_address::handle(app, caller, params).await,
        ListCallbackAddresses => list_callback_addresses::handle(app, caller, params).await,
        DeleteCallbackAddress => delete_callback_address::handle(app, caller, params).await,
        RotateCallbackSecret => rotate_callback_secret::handle(app, caller, params).await,
        CreateReceiver => create_receiver::handle(app, caller, params).await,
        CreateReceiverDetail => create_receiver_detail::handle(app, caller, params).await,
        CreateReceiverDetailWithData => {
            create_receiver_detail_with_data::handle(app, caller, params).await
        }
        ListReceivers => list_receivers::handle(app, caller, params).await,
        ListReceiverDetails => list_receiver_details::handle(app, caller, params).await,
        DeleteReceiver => delete_receiver::handle(app, caller, params).await,
        BatchSendEmail => batch_send_email::handle(app, caller, params).await,
        ListSendTasks => list_send_tasks::handle(app, caller, params).await,
    }
}

/// Turns a `json!({...})` object into response fields.
pub(crate) fn fields(value: Value) -> Fields {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("response bodies are written as JSON objects"),
    }
}

/// A storage or other internal failure: logged with its cause, answered generically.
pub(crate) fn internal(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %error, "internal error");
    ApiError::new("InternalError", "an internal error occurred; retry later")
}

/// Maps an engine identity error to the API.
pub(crate) fn identity_error(error: sesame_engine::identity::IdentityError) -> ApiError {
    use sesame_engine::identity::IdentityError;
    match error {
        IdentityError::Dns(e) => {
            tracing::warn!(error = %e, "dns check failed");
            ApiError::new(
                "FailedOperation.ServiceNotAvailable",
                "the DNS service did not answer; retry the verification in a moment",
            )
        }
        IdentityError::BadDkimOption(n) => {
            ApiError::invalid_parameter_value(format!("DKIMOption must be 0, 1 or 2, not {n}"))
        }
        other => internal(&other),
    }
}

/// A sender domain from the request, or `InvalidEmailIdentity`.
pub(crate) fn parse_domain(text: &str) -> Result<DomainName, ApiError> {
    DomainName::parse(text).ok_or_else(|| {
        ApiError::new(
            "InvalidParameterValue.InvalidEmailIdentity",
            format!(
                "{:?} is not a valid domain name such as mail.example.com",
                clip(text)
            ),
        )
    })
}

/// A `{Limit, Offset}` pair checked against the cap of list actions (100).
pub(crate) fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(
            "FailedOperation.InvalidLimit",
            format!("Limit is 1 to 100, not {limit}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid_parameter_value(
            "Offset must not be negative",
        ));
    }
    Ok((limit, offset))
}

/// At most 64 characters of user text, for error messages.
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The current Unix time.
pub(crate) fn now() -> i64 {
    sesame_core::time::now_unix()
}
