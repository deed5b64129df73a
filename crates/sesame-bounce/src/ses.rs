//! Amazon SES notifications (the JSON that SES posts through SNS or e-mails: "notificationType"
//! or "eventType" Bounce, Complaint, Delivery), optionally wrapped in an SNS envelope whose
//! "Message" is the notification as a string.

use serde_json::Value;

use crate::patterns::classify;
use crate::status::choose_status;
use crate::{Kind, Original, Recipient, Report};

/// Largest JSON document parsed.
const MAX_JSON: usize = 1024 * 1024;

/// Reads an SES notification from a text body; None when the text is not one.
pub(crate) fn parse(text: &str) -> Option<Report> {
    let trimmed = text.trim();
    if !trimmed.starts_with('{') || trimmed.len() > MAX_JSON {
        return None;
    }
    // Mail may add a signature or a footer after the JSON.
    let end = trimmed.rfind('}')?;
    let json = &trimmed[..=end];
    let mut value: Value = match serde_json::from_str(json) {
        Ok(value) => value,
        // Sendmail splits lines longer than 990 bytes with "!" and a folded newline.
        Err(_) => serde_json::from_str(&json.replace("!\r\n ", "").replace("!\n ", "")).ok()?,
    };
    if let Some(inner) = value.get("Message").and_then(Value::as_str) {
        value = serde_json::from_str(inner).ok()?;
    }
    let kind = value
        .get("notificationType")
        .or_else(|| value.get("eventType"))
        .and_then(Value::as_str)?
        .to_ascii_lowercase();
    let mut report = Report::empty();
    report.original = original(value.get("mail"));
    match kind.as_str() {
        "bounce" => {
            let bounce = value.get("bounce")?;
            let subtype = str_at(bounce, "bounceSubType").unwrap_or_default();
            for r in array(bounce, "bouncedRecipients") {
                let diagnostic = str_at(r, "diagnosticCode")
                    .map(|d| crate::fields::strip_type(&d).to_string())
                    .unwrap_or_default();
                let status = choose_status(str_at(r, "status").as_deref(), &diagnostic);
                let mut kind = classify(status.as_deref(), &diagnostic);
                if diagnostic.is_empty() && subtype.eq_ignore_ascii_case("NoEmail") {
                    kind = Kind::Hard;
                }
                report.recipients.push(Recipient {
                    address: str_at(r, "emailAddress"),
                    status,
                    kind,
                    diagnostic: crate::clean_diagnostic(&diagnostic),
                });
            }
        }
        "complaint" => {
            let complaint = value.get("complaint")?;
            report.feedback_type = str_at(complaint, "complaintFeedbackType");
            report.user_agent = str_at(complaint, "userAgent");
            report.arrival_date = str_at(complaint, "arrivalDate");
            for r in array(complaint, "complainedRecipients") {
                report.recipients.push(Recipient {
                    address: str_at(r, "emailAddress"),
                    status: None,
                    kind: Kind::Complaint,
                    diagnostic: String::new(),
                });
            }
        }
        // Delivery, Send, Open, ...: not a bounce nor a complaint.
        _ => {}
    }
    Some(report)
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .take(crate::text::MAX_RECIPIENTS)
}

fn str_at(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn original(mail: Option<&Value>) -> Option<Original> {
    let mail = mail?;
    let headers = mail.get("commonHeaders");
    let joined = |key: &str| {
        let list = headers?.get(key)?.as_array()?;
        let parts: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    };
    Some(Original {
        message_id: headers
            .and_then(|h| str_at(h, "messageId"))
            .or_else(|| str_at(mail, "messageId"))
            .map(|m| crate::fields::strip_angles(&m)),
        return_path: str_at(mail, "source").map(|s| crate::fields::strip_angles(&s)),
        from: joined("from"),
        to: joined("to"),
        subject: headers.and_then(|h| str_at(h, "subject")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_and_sns_envelope() {
        let inner = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"a@b.example","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},"mail":{"source":"s@x.example","commonHeaders":{"subject":"Hi","to":["a@b.example"]}}}"#;
        let wrapped = serde_json::json!({"Type": "Notification", "Message": inner}).to_string();
        for text in [inner.to_string(), wrapped] {
            let report = parse(&text).expect("an SES notification");
            assert_eq!(report.recipients.len(), 1);
            assert_eq!(report.recipients[0].kind, Kind::Hard);
            assert_eq!(report.recipients[0].status.as_deref(), Some("5.1.1"));
            assert_eq!(report.recipients[0].diagnostic, "550 5.1.1 user unknown");
            let original = report.original.expect("mail object");
            assert_eq!(original.return_path.as_deref(), Some("s@x.example"));
        }
    }

    #[test]
    fn not_json() {
        assert!(parse("hello {").is_none());
        assert!(parse("{\"a\": 1}").is_none());
    }
}
