//! Arbitrary text as a record: `record::parse_object` gives exactly what `serde_json::from_str`
//! gives (the same map, key order and number spelling, or the same error), except where a key
//! is one of serde_json's private tokens, which `parse_object` keeps plain (as Python does).
#![no_main]

use hubwatch::record::{names_private, parse_object};
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
