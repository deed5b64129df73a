//! UpdateEmailSmtpPassWord: sets or replaces a sender's SMTP password, stored only as an
//! argon2 hash. The password never reaches a log.

use serde::Deserialize;
use serde_json::Value;
use sesame_engine::credentials;

use super::create_email_address::parse_sender_address;
use super::delete_email_address::no_such_sender;
use super::{Caller, Fields, internal};
use crate::protocol::{ApiError, from_params};
use crate::server::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "Password")]
    password: String,
    #[serde(rename = "EmailAddress")]
    email_address: String,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    if request.email_address.chars().count() > 128 {
        return Err(no_such_sender("(over 128 characters)"));
    }
    let address = parse_sender_address(&request.email_address)?;
    let sender = app
        .store
        .sender(caller.account_id, &address.to_string())
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| no_such_sender(&address.to_string()))?;
    check_password_policy(&request.password)?;
    let password = request.password;
    let current = sender.smtp_password.clone();
    // Argon2 costs tens of milliseconds of CPU: keep it off the async threads.
    let hashed = tokio::task::spawn_blocking(move || {
        if current.is_some_and(|current| credentials::verify_password(&current, &password)) {
            return Ok(None);
        }
        credentials::hash_password(&password).map(Some)
    })
    .await
    .map_err(|e| internal(&e))?
    .map_err(|e| internal(&e))?;
    let Some(hash) = hashed else {
        return Err(ApiError::new(
            "OperationDenied.RepeatPassWord",
            "the new SMTP password is the same as the current one",
        ));
    };
    app.store
        .set_smtp_password(sender.id, &hash)
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(app_id = caller.account_id, sender = %address, "smtp password set");
    Ok(Fields::new())
}

/// 10–20 characters with at least two different digits, a lower-case and an upper-case letter.
fn check_password_policy(password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    let mut digits: Vec<char> = password.chars().filter(char::is_ascii_digit).collect();
    digits.sort_unstable();
    digits.dedup();
    let ok = (10..=20).contains(&length)
        && digits.len() >= 2
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && !password.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.InvalidSmtpPassWord",
            "an SMTP password is 10-20 characters with at least two different digits, \
             a lower-case and an upper-case letter",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_password_policy;

    fn check(password: &str, ok: bool) {
        assert_eq!(check_password_policy(password).is_ok(), ok, "{password:?}");
    }

    #[test]
    fn policy() {
        check("Abcdefgh12", true);
        check("Abcdefgh11", false);
        check("abcdefgh12", false);
        check("ABCDEFGH12", false);
        check("Abc12", false);
        check("Abcdefghijklmnopqr123", false);
        check("Abcdefghijklmnopq123", true);
    }
}
