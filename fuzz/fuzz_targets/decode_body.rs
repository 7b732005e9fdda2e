//! Arbitrary bytes as an Event Hubs body: the decoder must not panic, must account for every
//! record, and the detector (embedded rules, prefilter, dedup, alert building) must not panic.
#![no_main]

use hubwatch::alert::Source;
use hubwatch::decode::{decode_body, DecodeLimits};
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
    if let Ok(decoded) = decode_body(data, &limits) {
        for r in &decoded.records {
            // Every good record is a JSON object borrowed from the body.
            assert!(r.text.starts_with('{'), "record is not an object: {:?}", r.text);
            let start = r.text.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + r.text.len() <= data.len());
        }
        let mut idx: Vec<usize> = decoded
            .records
            .iter()
            .map(|r| r.index)
            .chain(decoded.bad.iter().map(|b| b.error.index()))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        assert_eq!(idx.len(), decoded.total(), "record indexes are not unique");
    }
    let source = Source::File {
        path: "fuzz".into(),
        line: 1,
        record_index: None,
    };
    let mut dedup = Deduper::new(true);
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let out = detector().process(data, &source, &mut dedup, now);
    assert_eq!(out.stats.alerts as usize, out.alerts.len());
    for a in &out.alerts {
        // Alerts serialise (they go to sinks as JSON).
        serde_json::to_vec(a).unwrap_or_else(|e| panic!("alert does not serialise: {e}"));
    }
});
