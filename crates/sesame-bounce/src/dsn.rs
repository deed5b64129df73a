//! RFC 3464 delivery status notifications: splits the fields of a message/delivery-status part
//! into per-recipient groups (Final-Recipient, Original-Recipient, Action, Status,
//! Diagnostic-Code). Also accepts the same fields pasted into a text part, as some services do.

use crate::fields::{Field, address_in, first, strip_type};

/// One per-recipient group of a DSN.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DsnRecipient {
    /// Address from Final-Recipient, else Original-Recipient.
    pub address: Option<String>,
    /// Action, lowercased ("failed", "delayed", "delivered", "relayed", "expanded").
    pub action: Option<String>,
    /// The Status field's code.
    pub status: Option<String>,
    /// Whatever follows the code in the Status field ("(mailbox disabled)").
    pub status_comment: Option<String>,
    /// Diagnostic-Code without its type ("smtp;").
    pub diagnostic: Option<String>,
}

impl DsnRecipient {
    /// True for the actions and codes that say the message got through (RFC 3464 section 2.3.3).
    pub(crate) fn is_success(&self) -> bool {
        matches!(
            self.action.as_deref(),
            Some("delivered" | "relayed" | "expanded")
        ) || self.status.as_deref().is_some_and(|s| s.starts_with("2."))
    }
}

/// The recipients of one DSN's fields, in order.
pub(crate) fn recipients(fields: &[Field]) -> Vec<DsnRecipient> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < fields.len() {
        let group = fields[start].group;
        let end = fields[start..]
            .iter()
            .position(|f| f.group != group)
            .map_or(fields.len(), |n| start + n);
        split_group(&fields[start..end], &mut out);
        start = end;
        if out.len() >= crate::text::MAX_RECIPIENTS {
            out.truncate(crate::text::MAX_RECIPIENTS);
            break;
        }
    }
    out
}

/// A group normally holds one recipient; a DSN without blank lines between recipients holds
/// several, each starting at its Final-Recipient (or Original-Recipient when there is none).
fn split_group(group: &[Field], out: &mut Vec<DsnRecipient>) {
    let anchor = if group.iter().any(|f| f.name == "final-recipient") {
        "final-recipient"
    } else if group.iter().any(|f| f.name == "original-recipient") {
        "original-recipient"
    } else {
        return;
    };
    let anchors: Vec<usize> = group
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name == anchor)
        .map(|(n, _)| n)
        .collect();
    for (i, &at) in anchors.iter().enumerate() {
        let from = if i == 0 { 0 } else { at };
        let to = anchors.get(i + 1).copied().unwrap_or(group.len());
        let record = &group[from..to];
        let address = first(record, "final-recipient")
            .and_then(address_in)
            .or_else(|| first(record, "original-recipient").and_then(address_in))
            .or_else(|| first(record, "x-actual-recipient").and_then(address_in));
        out.push(DsnRecipient {
            address,
            action: first(record, "action").map(|a| {
                a.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            }),
            status: first(record, "status")
                .map(|s| s.split_whitespace().next().unwrap_or_default().to_string()),
            status_comment: first(record, "status")
                .and_then(|s| s.split_once(char::is_whitespace))
                .map(|(_, comment)| comment.trim().to_string())
                .filter(|c| !c.is_empty()),
            diagnostic: first(record, "diagnostic-code")
                .map(|d| strip_type(d).to_string())
                .filter(|d| !d.is_empty()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::parse_fields;

    fn check(text: &str, expected: &[(&str, &str)]) {
        let got = recipients(&parse_fields(text));
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|r| (r.address.unwrap_or_default(), r.status.unwrap_or_default()))
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, s)| (a.to_string(), s.to_string()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn groups_and_run_together_records() {
        check(
            "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822;c@d.example\nStatus: 4.2.2 (mailbox full)\n",
            &[("a@b.example", "5.1.1"), ("c@d.example", "4.2.2")],
        );
        check(
            "Reporting-MTA: dns; x\nAction: failed\nFinal-Recipient: rfc822; a@b.example\nStatus: 5.1.1\nFinal-Recipient: rfc822; c@d.example\nStatus: 5.2.2\n",
            &[("a@b.example", "5.1.1"), ("c@d.example", "5.2.2")],
        );
    }
}
