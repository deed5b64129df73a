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
        "{status} {enhanced} Error: transaction failed, blame it on the weather: ##SES-response-json: {}",
        ascii_json(&body)
    )
}

/// JSON text with every non-ASCII character written as `\uXXXX` (surrogate pairs above the
/// BMP): reply lines are ASCII (RFC 5321), and the JSON still decodes to the same strings.
fn ascii_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
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
    fn replies_are_ascii_and_the_json_keeps_the_text() {
        let text = submit_error(&SubmitError::InvalidField(
            "attachment \"月度报告.csv\" 😀".into(),
        ));
        assert!(text.is_ascii(), "{text}");
        let json = text.split("##SES-response-json: ").nth(1).unwrap();
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let message = value["Response"]["QcloudError"]["Error"]["Message"]
            .as_str()
            .unwrap();
        assert!(
            message.contains("月度报告.csv") && message.contains('😀'),
            "{message}"
        );
    }

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
