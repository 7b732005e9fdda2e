//! Arbitrary bytes as an Event Hubs body: the decoder must not panic, must read every body as
//! its `serde_json` path alone does, and must account for the whole body (every byte in an
//! evaluated document or a dead-lettered part, records numbered `0..total` across documents),
//! also when the body is sent twice in a row (a forwarder's batch); the detector (embedded
//! rules, prefilter, dedup, alert building) must not panic and dead-letters exactly the bad
//! records and parts.
#![no_main]

use hubwatch::alert::Origin;
use hubwatch::decode::{decode_body, decode_body_with_serde_json, DecodeLimits};
use hubwatch::dedup::Deduper;
use hubwatch::detect::Detector;
use hubwatch::rules::RuleSet;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| {
        let rules = RuleSet::embedded().unwrap_or_else(|e| panic!("embedded rules: {e}"));
        Detector::new(Arc::new(rules), DecodeLimits::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    let mut twice = data.to_vec();
    twice.push(b'\n');
    twice.extend_from_slice(data);
    for body in [data, &twice[..]] {
        // The hand-written fast path reads every body it takes as serde_json does.
        match (decode_body(body, &limits), decode_body_with_serde_json(body, &limits)) {
            (Ok(fast), Ok(reference)) => {
                if let Some(why) = fast.differs_from(&reference) {
                    panic!("the fast path differs from serde_json: {why}");
                }
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("the fast path differs from serde_json: {a:?} vs {b:?}"),
        }
        let Ok(decoded) = decode_body(body, &limits) else {
            continue;
        };
        for r in &decoded.records {
            // Every good record is a JSON object borrowed from the body.
            assert!(r.text.starts_with('{'), "record is not an object: {:?}", r.text);
            let start = r.text.as_ptr() as usize - body.as_ptr() as usize;
            assert!(start + r.text.len() <= body.len());
        }
        if let Some(gap) = decoded.unaccounted(body) {
            panic!("decoding does not account for the body: {gap}");
        }
    }
    let source = Origin::File {
        path: "fuzz".into(),
        line: 1,
        record_index: None,
    };
    let mut dedup = Deduper::new(true);
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let out = detector().process(data, &source, &mut dedup, now);
    assert_eq!(out.stats.alerts as usize, out.alerts.len());
    if let Ok(decoded) = decode_body(data, &limits) {
        let input_problems = out
            .problems
            .iter()
            .filter(|p| p.kind != "rule_error" && p.kind != "alert_error")
            .count();
        // Records the rules could not parse (depth) are dead-lettered on top of the decoder's.
        assert!(input_problems >= decoded.bad.len() + decoded.parts.len());
    }
    for a in &out.alerts {
        // Alerts serialise (they go to sinks as JSON).
        serde_json::to_vec(a).unwrap_or_else(|e| panic!("alert does not serialise: {e}"));
    }
});
