//! CreateReceiverDetailWithData: appends addresses each with its own TemplateData (a flat
//! JSON object of at most 800 bytes, no HTML, the same keys in every row of the list). A bad
//! TemplateData refuses the whole call; the addresses are sorted as in CreateReceiverDetail.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use super::create_receiver_detail::{Sorted, append, check_count};
use super::{Caller, Fields};
use crate::protocol::{ApiError, from_params, params};
use crate::server::App;

/// Largest TemplateData of one address, in bytes.
const MAX_DATA_BYTES: usize = 800;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "ReceiverId", deserialize_with = "params::req_i64")]
    receiver_id: i64,
    #[serde(rename = "Datas", default)]
    datas: Vec<Data>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    #[serde(rename = "Email", default)]
    email: Option<String>,
    #[serde(rename = "TemplateData", default)]
    template_data: Option<String>,
}

pub(crate) async fn handle(app: &App, caller: &Caller, params: Value) -> Result<Fields, ApiError> {
    let request: Request = from_params(params)?;
    check_count(request.datas.len())?;
    let mut keys: Option<String> = None;
    let mut sorted = Sorted::default();
    let mut seen = HashSet::with_capacity(request.datas.len());
    for (i, data) in request.datas.iter().enumerate() {
        let text = data.template_data.as_deref().unwrap_or("").trim();
        let these_keys = check_data(text)
            .map_err(|(code, why)| ApiError::new(code, format!("Datas[{i}].TemplateData {why}")))?;
        match &keys {
            None => keys = Some(these_keys),
            Some(k) if *k != these_keys => {
                return Err(ApiError::new(
                    "InvalidParameterValue.TemplateDataInconsistent",
                    format!(
                        "Datas[{i}].TemplateData uses the keys {these_keys}, not {k} as the rows before it"
                    ),
                ));
            }
            Some(_) => {}
        }
        sorted.add(
            &mut seen,
            data.email.as_deref().unwrap_or(""),
            Some(text.to_string()),
        );
    }
    append(app, caller, request.receiver_id, &sorted, keys.as_deref()).await?;
    Ok(sorted.answer(request.datas.len()))
}

/// Checks one TemplateData; returns its sorted keys as a JSON array.
fn check_data(text: &str) -> Result<String, (&'static str, String)> {
    if text.len() > MAX_DATA_BYTES {
        return Err((
            "InvalidParameterValue.TemplateDataLenLimit",
            format!("is {} bytes; at most {MAX_DATA_BYTES}", text.len()),
        ));
    }
    let values = sesame_mail::render::parse_template_data(text).map_err(|e| {
        (
            "InvalidParameterValue.TemplateDataError",
            format!("is not a JSON object of plain values: {e}"),
        )
    })?;
    if values.values().any(|v| looks_like_html(v)) {
        return Err((
            "InvalidParameterValue.InValidTemplateData",
            "holds HTML; values must be plain text".to_string(),
        ));
    }
    let keys: Vec<&String> = values.keys().collect();
    Ok(serde_json::to_string(&keys).expect("strings serialise"))
}

/// A tag, comment or entity opening: `<a`, `</`, `<!`, `&name;`.
fn looks_like_html(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'))
        || value.split('&').skip(1).any(|rest| {
            rest.split_once(';').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name.len() <= 10
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')
            })
        })
}

#[cfg(test)]
mod tests {
    fn check(text: &str, expected: Result<&str, &str>) {
        let got = super::check_data(text);
        match (got, expected) {
            (Ok(keys), Ok(want)) => assert_eq!(keys, want, "{text}"),
            (Err((code, _)), Err(want)) => assert_eq!(code, want, "{text}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn template_data_rules() {
        check(r#"{"b":"1","a":2}"#, Ok(r#"["a","b"]"#));
        check("not json", Err("InvalidParameterValue.TemplateDataError"));
        check("[1]", Err("InvalidParameterValue.TemplateDataError"));
        check(
            r#"{"a":"<b>x</b>"}"#,
            Err("InvalidParameterValue.InValidTemplateData"),
        );
        check(r#"{"a":"1 < 2 & 3 > 2"}"#, Ok(r#"["a"]"#));
        check(
            r#"{"a":"&amp;"}"#,
            Err("InvalidParameterValue.InValidTemplateData"),
        );
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(800));
        check(&long, Err("InvalidParameterValue.TemplateDataLenLimit"));
    }
}
