//! Complaints: RFC 5965 Abuse Reporting Format. Reads the message/feedback-report fields and,
//! for the complained-about recipient, Original-Rcpt-To or else the To of the reported message
//! (RFC 6590 redaction gives no address).

use crate::fields::{Field, address_in, first};

/// What a feedback report says.
#[derive(Debug, Default)]
pub(crate) struct Feedback {
    pub feedback_type: Option<String>,
    pub user_agent: Option<String>,
    pub source_ip: Option<String>,
    pub arrival_date: Option<String>,
    /// Original-Rcpt-To values, in order (possibly empty).
    pub recipients: Vec<String>,
}

/// Reads the fields of one message/feedback-report part.
pub(crate) fn read(fields: &[Field]) -> Feedback {
    let owned = |name: &str| first(fields, name).map(str::to_string);
    Feedback {
        feedback_type: owned("feedback-type").map(|t| t.to_ascii_lowercase()),
        user_agent: owned("user-agent"),
        source_ip: owned("source-ip"),
        arrival_date: owned("arrival-date").or_else(|| owned("received-date")),
        recipients: fields
            .iter()
            .filter(|f| f.name == "original-rcpt-to")
            .filter_map(|f| address_in(&f.value))
            .take(crate::text::MAX_RECIPIENTS)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::parse_fields;

    #[test]
    fn feedback_fields() {
        let feedback = read(&parse_fields(
            "Feedback-Type: Abuse\nUser-Agent: SomeISP/1.0\nVersion: 1\nSource-IP: 192.0.2.1\nReceived-Date: Thu, 8 Mar 2005\nOriginal-Rcpt-To: <a@b.example>\nOriginal-Rcpt-To: c@d.example\n",
        ));
        assert_eq!(feedback.feedback_type.as_deref(), Some("abuse"));
        assert_eq!(feedback.user_agent.as_deref(), Some("SomeISP/1.0"));
        assert_eq!(feedback.source_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(feedback.arrival_date.as_deref(), Some("Thu, 8 Mar 2005"));
        assert_eq!(feedback.recipients, ["a@b.example", "c@d.example"]);
    }
}
