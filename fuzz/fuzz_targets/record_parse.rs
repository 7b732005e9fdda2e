//! Arbitrary text as a record: `record::parse_object` gives exactly what `serde_json::from_str`
//! gives (the same map, key order and number spelling, or the same error), except where a key
//! is one of serde_json's private tokens, which `parse_object` keeps plain (as Python does).
#![no_main]

use hubwatch::record::{parse_object, PRIVATE};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ours = parse_object(text);
    if ours.as_ref().is_ok_and(|m| names_private(&Value::Object(m.clone()))) {
        return;
    }
    let theirs = serde_json::from_str::<Map<String, Value>>(text);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(serde_json::to_string(a).ok(), serde_json::to_string(b).ok());
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("parse_object differs from serde_json: {ours:?} vs {theirs:?}"),
    }
});

fn names_private(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| k.starts_with(PRIVATE) || names_private(v)),
        Value::Array(a) => a.iter().any(names_private),
        _ => false,
    }
}
