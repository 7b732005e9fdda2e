//! Arbitrary JSON object text through every embedded rule, and the prefilter invariant: when
//! the detector (with its prefilter) raises no alert for a record, no rule matches it.
#![no_main]

use hubwatch::alert::Origin;
use hubwatch::decode::DecodeLimits;
use hubwatch::dedup::Deduper;
use hubwatch::detect::Detector;
use hubwatch::record::Record;
use hubwatch::rules::RuleSet;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::sync::{Arc, OnceLock};

/// The embedded rules, and a detector over the same set.
fn detector() -> &'static (Arc<RuleSet>, Detector) {
    static D: OnceLock<(Arc<RuleSet>, Detector)> = OnceLock::new();
    D.get_or_init(|| {
        let rules = Arc::new(RuleSet::embedded().unwrap_or_else(|e| panic!("embedded rules: {e}")));
        let detector = Detector::new(rules.clone(), DecodeLimits::default());
        (rules, detector)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(fields) = serde_json::from_str::<Map<String, Value>>(text) else { return };
    if fields.contains_key("records") {
        // A top-level "records" key makes the body an envelope, not a bare record.
        return;
    }
    let (rules, d) = detector();
    let record = Record::new(&fields);
    // Brute force: every rule on the record.
    let mut expected = 0u64;
    let mut errors = 0u64;
    for rule in &rules.rules {
        match rule.evaluate(&record) {
            Ok(Some(det)) => {
                assert!(!det.title.is_empty());
                assert!(!det.dedup.is_empty());
                expected += 1;
            }
            Ok(None) => {}
            Err(_) => errors += 1,
        }
    }
    // The detector with its prefilter, on the record as a bare body and wrapped in records.
    let wrapped = format!("{{\"records\":[{text}]}}");
    for body in [text.as_bytes(), wrapped.as_bytes()] {
        let source = Origin::File {
            path: "fuzz".into(),
            line: 1,
            record_index: None,
        };
        let mut dedup = Deduper::new(false);
        let out = d.process(body, &source, &mut dedup, time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            out.stats.matches, expected,
            "prefilter hid a match (or invented one) for {text}"
        );
        assert!(out.stats.rule_errors <= errors + expected);
    }
});
