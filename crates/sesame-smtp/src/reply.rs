//! Reply texts. Refusals of the submit pipeline carry the API's error as JSON after a marker,
//! as Tencent's SMTP service does, so a client can tell `FailedOperation.ExceedSendLimit` from
//! `FailedOperation.EmailAddrInBlacklist` without a second call.

use sesame_engine::submit::SubmitError;

/// `554 5.0.0 Error: transaction failed, blame it on the weather: ##SES-response-json: {...}`
/// (a `451 4.x.x` for failures worth retrying: our storage, the rate limit).
pub fn submit_error(error: &SubmitError) -> String {
    let code = match error {
        SubmitError::RateLimited(_) => "RequestLimitExceeded.SmtpRateLimit",
        SubmitError::Store(_) | SubmitError::Internal(_) => "InternalError",
        other => other.code(),
    };
    let message = match error {
        // Details of our own failures stay in our log.
        SubmitError::Store(_) | SubmitError::Internal(_) => {
            "an internal error occurred; try again later".to_string()
        }
        other => other.to_string(),
    };
    let body = serde_json::json!({
        "Response": {
            "RequestId": uuid::Uuid::new_v4().to_string(),
            "QcloudError": {"Error": {"Code": code, "Message": message}},
        }
    });
    let (status, enhanced) = match error {
        SubmitError::RateLimited(_) => ("451", "4.7.1"),
        SubmitError::Store(_) | SubmitError::Internal(_) => ("451", "4.3.0"),
        _ => ("554", "5.0.0"),
    };
    format!(
        "{status} {enhanced} Error: transaction failed, blame it on the weather: ##SES-response-json: {body}"
    )
}

/// Joins the lines of a multi-line reply (`250-...` then `250 ...`).
pub fn multiline(code: u16, lines: &[String]) -> String {
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("{code}{sep}{line}\r\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_errors_carry_the_api_code() {
        let text = submit_error(&SubmitError::ExceedSendLimit("cap".into()));
        assert!(text.starts_with("554 5.0.0 Error: transaction failed"));
        let json = text.split("##SES-response-json: ").nth(1).unwrap();
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            value["Response"]["QcloudError"]["Error"]["Code"],
            "FailedOperation.ExceedSendLimit"
        );
        assert!(submit_error(&SubmitError::RateLimited(20)).starts_with("451 4.7.1"));
        assert!(!text.contains('\n'));
    }

    #[test]
    fn multiline_replies() {
        assert_eq!(
            multiline(250, &["a".into(), "b".into()]),
            "250-a\r\n250 b\r\n"
        );
    }
}
