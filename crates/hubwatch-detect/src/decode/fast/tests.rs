//! The fast path against the `serde_json` path: on every body it takes it must give what
//! `serde_json` gives, and it must take the well-formed bodies Azure sends.

use super::super::{decode_body_with_serde_json, DecodeLimits};
use crate::json_strategies::{mutate, respell, value};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Where `decode_body` starts reading: past a byte order mark.
fn content_start(body: &str) -> usize {
    if body.starts_with('\u{feff}') {
        3
    } else {
        0
    }
}

/// `Some(why)` when the fast path took `body` and differs from the `serde_json` path.
fn disagreement(body: &str) -> Option<String> {
    let start = content_start(body);
    // `decode_body` answers a blank body before either path reads it.
    if body[start..].bytes().all(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let fast = super::decode(body, start)?;
    match decode_body_with_serde_json(body.as_bytes(), &DecodeLimits::default()) {
        Ok(reference) => fast.differs_from(&reference),
        Err(e) => Some(format!("the fast path took a body serde_json rejects: {e}")),
    }
}

/// A body as senders write it: envelopes, bare records or arrays, one or several, compact or
/// pretty, with whitespace between them.
fn body() -> impl Strategy<Value = String> {
    // A record's own keys are plain, as Azure writes them (a bare record's are its document's).
    let record = proptest::collection::vec(("[a-zA-Z0-9_.]{0,10}", value()), 0..6)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()));
    let element = prop_oneof![8 => record, 1 => value()];
    let document = (
        proptest::collection::vec(element, 0..4),
        0u8..3,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(items, shape, pretty, seed)| {
            let doc = match shape {
                0 => serde_json::json!({"time": "t", "records": items, "other": [1]}),
                1 => Value::Array(items),
                _ => items.into_iter().next().unwrap_or(Value::Null),
            };
            let text = if pretty {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            };
            respell(&text.unwrap_or_default(), seed)
        });
    (
        proptest::collection::vec(document, 1..4),
        "[ \t\r\n]{0,3}",
        any::<bool>(),
    )
        .prop_map(|(docs, ws, bom)| {
            let body = docs.join(&ws);
            if bom {
                format!("\u{feff}{body}")
            } else {
                body
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Every well-formed body (no scalar document) is taken, and read as `serde_json` reads it.
    #[test]
    fn takes_well_formed_bodies_and_agrees(body in body()) {
        let start = content_start(&body);
        // Left to serde_json by design: scalar documents, escapes in a document's own keys.
        let escaped = |k: &String| k.chars().any(|c| c == '"' || c == '\\' || c < ' ');
        let left = serde_json::Deserializer::from_str(&body[start..])
            .into_iter::<Value>()
            .any(|v| match v {
                Ok(Value::Object(m)) => m.keys().any(escaped),
                Ok(Value::Array(_)) => false,
                _ => true,
            });
        prop_assert!(left || super::decode(&body, start).is_some(), "not taken: {body:?}");
        prop_assert_eq!(disagreement(&body), None, "{:?}", body);
    }

    /// Broken bodies: whatever the fast path takes, `serde_json` reads the same way.
    #[test]
    fn agrees_on_mutated_bodies(
        body in body(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        if let Some(body) = mutate(&body, &edits) {
            prop_assert_eq!(disagreement(&body), None, "{:?}", body);
        }
    }

    /// Token soup: short sequences of JSON pieces, most of them invalid.
    #[test]
    fn agrees_on_token_soup(tokens in proptest::collection::vec(prop_oneof![
        Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just(" "),
        Just("\"records\""), Just("\"a\""), Just("\"\\u00e9\""), Just("\"\\uD800\""),
        Just("\"\\x\""), Just("\"\t\""), Just("0"), Just("-0"), Just("01"), Just("1."),
        Just("1.5e+3"), Just("1e"), Just("-"), Just("true"), Just("tru"), Just("null"),
        Just("nulls"), Just("\"rec\\u006frds\""), Just("\u{feff}"), Just("é"),
    ], 0..24)) {
        let body = tokens.concat();
        prop_assert_eq!(disagreement(&body), None, "{:?}", body);
    }
}

#[test]
fn gives_up_where_serde_json_must_decide() {
    for body in [
        r#"{"records":[{"a":1}],"records":[{"b":2}]}"#, // repeated key
        r#"{"rec\u006frds":[{"a":1}]}"#,                // escaped envelope key
        r#"{"records":{"a":1}}"#,                       // not an array
        r#"{"a":1} 5"#,                                 // scalar document
        r#"{"a":"\x"}"#,                                // bad escape
        "{\"a\":\"\t\"}",                               // control character
        r#"{"a":01}"#,
        r#"{"a":1,}"#,
    ] {
        assert!(super::decode(body, 0).is_none(), "{body}");
    }
    let deep = format!("[{}{}]", "[".repeat(200), "]".repeat(200));
    assert!(super::decode(&deep, 0).is_none());
    let ok = format!("[{}{}]", "[".repeat(100), "]".repeat(100));
    assert!(super::decode(&ok, 0).is_some());
    assert_eq!(disagreement(&ok), None);
}
