//! Rebuilds the JSON parameter tree from flattened `name=value` pairs (GET query strings and
//! legacy form bodies): `Destination.0` is a list index, `Template.TemplateID` an object field,
//! `Datas.1.Email` both.
//!
//! Leaves stay strings; turning `"5"` into a number is the job of the lenient deserializers in
//! `params`, which know the schema. Rejects what cannot be a tree (gaps in a list, `A` given both
//! as a value and as a parent) instead of guessing.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{ApiError, printable};

/// Deepest nesting accepted; SES parameters go three levels deep at most (`Datas.1.Email`).
/// The bound also keeps recursion shallow on hostile input.
const MAX_DEPTH: usize = 8;

/// One node while building: either a value or children by segment name.
enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

/// Builds a JSON object from flattened pairs. Names must be unique.
pub(crate) fn unflatten<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Value, ApiError> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for (name, value) in pairs {
        insert(&mut root, name, value)?;
    }
    let mut object = Map::new();
    for (name, node) in root {
        let value = into_value(node, &name)?;
        object.insert(name, value);
    }
    Ok(Value::Object(object))
}

fn insert(root: &mut BTreeMap<String, Node>, name: &str, value: &str) -> Result<(), ApiError> {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(ApiError::invalid_parameter(format!(
            "the parameter name `{}` is malformed",
            printable(name)
        )));
    }
    if segments.len() > MAX_DEPTH {
        return Err(ApiError::invalid_parameter(format!(
            "the parameter `{}` is nested too deeply",
            printable(name)
        )));
    }
    let (last, parents) = segments
        .split_last()
        .expect("split yields at least one segment");
    let mut children = root;
    for (depth, segment) in parents.iter().enumerate() {
        let child = children
            .entry((*segment).to_owned())
            .or_insert_with(|| Node::Branch(BTreeMap::new()));
        children = match child {
            Node::Branch(grandchildren) => grandchildren,
            Node::Leaf(_) => return Err(conflict(&segments[..=depth].join("."))),
        };
    }
    match children.get(*last) {
        None => {
            children.insert((*last).to_owned(), Node::Leaf(value.to_owned()));
            Ok(())
        }
        Some(Node::Leaf(_)) => Err(ApiError::invalid_parameter(format!(
            "the parameter `{}` is given more than once",
            printable(name)
        ))),
        Some(Node::Branch(_)) => Err(conflict(name)),
    }
}

fn conflict(path: &str) -> ApiError {
    ApiError::invalid_parameter(format!(
        "the parameter `{}` is given both as a value and with sub-fields",
        printable(path)
    ))
}

/// A list index as the SDKs write it: decimal, no sign, no leading zero.
fn parse_index(segment: &str) -> Option<usize> {
    let is_canonical = !segment.is_empty()
        && segment.bytes().all(|byte| byte.is_ascii_digit())
        && (segment == "0" || !segment.starts_with('0'));
    if is_canonical {
        segment.parse().ok()
    } else {
        None
    }
}

fn into_value(node: Node, path: &str) -> Result<Value, ApiError> {
    let children = match node {
        Node::Leaf(text) => return Ok(Value::String(text)),
        Node::Branch(children) => children,
    };
    let looks_like_list = children
        .keys()
        .any(|key| key.bytes().all(|byte| byte.is_ascii_digit()));
    if !looks_like_list {
        let mut object = Map::new();
        for (key, child) in children {
            let child_path = format!("{path}.{key}");
            object.insert(key, into_value(child, &child_path)?);
        }
        return Ok(Value::Object(object));
    }
    // A list: every key must be an index, and together they must be exactly 0..n.
    let mut items: Vec<(usize, Node)> = Vec::with_capacity(children.len());
    for (key, child) in children {
        let index = parse_index(&key).ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "the list `{}` has an invalid index `{}`",
                printable(path),
                printable(&key)
            ))
        })?;
        items.push((index, child));
    }
    items.sort_unstable_by_key(|(index, _)| *index);
    let mut list = Vec::with_capacity(items.len());
    for (expected, (index, child)) in items.into_iter().enumerate() {
        if index != expected {
            return Err(ApiError::invalid_parameter(format!(
                "the list `{}` is missing index {expected}",
                printable(path)
            )));
        }
        list.push(into_value(child, &format!("{path}.{index}"))?);
    }
    Ok(Value::Array(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(pairs: &[(&str, &str)], expected: Result<Value, &str>) {
        let actual = unflatten(pairs.iter().copied());
        match (actual, expected) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected),
            (Err(actual), Err(expected)) => {
                assert_eq!(actual.code, "InvalidParameter");
                assert_eq!(actual.message, expected);
            }
            (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn rebuilds_lists_objects_and_nesting() {
        check(
            &[
                ("Destination.1", "b@x.test"),
                ("Destination.0", "a@x.test"),
                ("Template.TemplateID", "12"),
                ("Template.TemplateData", "{}"),
                ("Datas.0.Email", "c@x.test"),
                ("Datas.1.Email", "d@x.test"),
                ("TagList.0.TagKey", "k"),
                ("TagList.0.TagValue", "v"),
                ("Limit", "20"),
            ],
            Ok(json!({
                "Destination": ["a@x.test", "b@x.test"],
                "Template": {"TemplateID": "12", "TemplateData": "{}"},
                "Datas": [{"Email": "c@x.test"}, {"Email": "d@x.test"}],
                "TagList": [{"TagKey": "k", "TagValue": "v"}],
                "Limit": "20",
            })),
        );
        check(&[], Ok(json!({})));
    }

    #[test]
    fn sorts_indices_numerically() {
        let names: Vec<String> = (0..12).rev().map(|i| format!("X.{i}")).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
        let expected: Vec<String> = (0..12).map(|i| format!("X.{i}")).collect();
        check(&pairs, Ok(json!({ "X": expected })));
    }

    #[test]
    fn rejects_malformed_trees() {
        check(
            &[("Destination.0", "a"), ("Destination.2", "c")],
            Err("the list `Destination` is missing index 1"),
        );
        check(
            &[("Destination.0", "a"), ("Destination.01", "b")],
            Err("the list `Destination` has an invalid index `01`"),
        );
        check(
            &[("Destination.0", "a"), ("Destination.x", "b")],
            Err("the list `Destination` has an invalid index `x`"),
        );
        check(
            &[("Destination.99999999999999999999999", "a")],
            Err("the list `Destination` has an invalid index `99999999999999999999999`"),
        );
        check(
            &[("Template", "a"), ("Template.TemplateID", "1")],
            Err("the parameter `Template` is given both as a value and with sub-fields"),
        );
        check(
            &[("Template.TemplateID", "1"), ("Template", "a")],
            Err("the parameter `Template` is given both as a value and with sub-fields"),
        );
        check(
            &[("Limit", "1"), ("Limit", "2")],
            Err("the parameter `Limit` is given more than once"),
        );
        check(
            &[("A..B", "1")],
            Err("the parameter name `A..B` is malformed"),
        );
        check(&[("", "1")], Err("the parameter name `` is malformed"));
        check(
            &[("A.B.C.D.E.F.G.H.I", "1")],
            Err("the parameter `A.B.C.D.E.F.G.H.I` is nested too deeply"),
        );
    }
}
