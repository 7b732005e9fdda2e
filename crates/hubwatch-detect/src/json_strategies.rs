//! Proptest strategies for JSON text, shared by the tests that compare a fast path with
//! `serde_json`: values with everything strings can hold, respellings with other valid escapes,
//! and byte edits that break documents.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Strings with what needs escaping, escapes written by hand, and non-ASCII text.
pub(crate) fn string() -> impl Strategy<Value = String> {
    "([a-zA-Z0-9 /._-]|\"|\\\\|[\\x00-\\x1f]|é|\u{1F600}|\u{2028}){0,12}"
}

pub(crate) fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((string(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Rewrites some characters of a serialised document as other valid escapes (`\/`, `\u00e9`,
/// upper-case hex), which `serde_json` never writes but other producers do; not in a
/// document's own keys (depth 1), which the fast path leaves to `serde_json` when escaped.
pub(crate) fn respell(text: &str, seed: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut depth = 0;
    for (i, c) in text.chars().enumerate() {
        if !in_string {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
        }
        let pick = depth >= 2 && (seed.rotate_left(i as u32 % 64) ^ i as u64).is_multiple_of(7);
        if in_string && !escaped && c != '"' && c != '\\' && pick {
            match c {
                '/' => out.push_str("\\/"),
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04X}", c as u32)),
                c => out.push(c),
            }
            continue;
        }
        if in_string && !escaped && c == '"' {
            in_string = false;
        } else if !in_string && c == '"' {
            in_string = true;
        }
        escaped = in_string && !escaped && c == '\\';
        out.push(c);
    }
    out
}

/// Edits at byte positions, kept only where the body stays UTF-8 (the fast path reads text).
pub(crate) fn mutate(body: &str, edits: &[(usize, u8, u8)]) -> Option<String> {
    const BYTES: &[u8] = b"{}[]:,\"\\ \n0-1.eE+tfnua\x01\x1f/";
    let mut b = body.as_bytes().to_vec();
    for &(at, op, byte) in edits {
        if b.is_empty() {
            break;
        }
        let at = at % b.len();
        let byte = BYTES[byte as usize % BYTES.len()];
        match op % 3 {
            0 => b[at] = byte,
            1 => b.insert(at, byte),
            _ => {
                b.remove(at);
            }
        }
    }
    String::from_utf8(b).ok()
}
