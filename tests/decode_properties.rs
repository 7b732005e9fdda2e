//! Property tests: decoding never panics, and one bad record never costs the others.

use hubwatch::alert::Source;
use hubwatch::decode::{decode_body, DecodeLimits};
use hubwatch::dedup::Deduper;
use hubwatch::detect::Detector;
use hubwatch::rules::RuleSet;
use proptest::prelude::*;
use std::sync::Arc;

fn good_record(i: usize) -> String {
    format!(
        r#"{{"time":"2025-12-23T10:{:02}:00Z","operationName":"Microsoft.KeyVault/vaults/keys/read/action","resultType":"Success","callerIpAddress":"10.0.0.{i}","n":{i}}}"#,
        i % 60
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_decode_without_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_body(&body, &DecodeLimits::default());
    }

    #[test]
    fn json_like_bytes_decode_without_panic(body in "[\\[\\]{}\",:\\\\a-z0-9 \\x00-\\x1f\u{80}-\u{10ffff}]{0,200}") {
        let _ = decode_body(body.as_bytes(), &DecodeLimits::default());
        let wrapped = format!("{{\"records\":[{body}]}}");
        let _ = decode_body(wrapped.as_bytes(), &DecodeLimits::default());
    }

    /// A record whose string holds arbitrary bytes (invalid UTF-8, raw control characters)
    /// is rejected alone; every other record of the body is still evaluated.
    #[test]
    fn a_bad_record_never_loses_the_others(
        before in 0usize..5,
        after in 0usize..5,
        junk in proptest::collection::vec(any::<u8>().prop_filter("no quote or backslash", |b| *b != b'"' && *b != b'\\'), 0..64),
        envelope in any::<bool>(),
    ) {
        let mut body = Vec::new();
        body.extend_from_slice(if envelope { b"{\"records\":[" } else { b"[" });
        let mut n = 0;
        for i in 0..before {
            body.extend_from_slice(good_record(i).as_bytes());
            body.push(b',');
            n += 1;
        }
        body.extend_from_slice(b"{\"x\":\"");
        body.extend_from_slice(&junk);
        body.extend_from_slice(b"\"}");
        for i in 0..after {
            body.push(b',');
            body.extend_from_slice(good_record(100 + i).as_bytes());
            n += 1;
        }
        body.extend_from_slice(if envelope { b"]}" } else { b"]" });
        let decoded = match decode_body(&body, &DecodeLimits::default()) {
            Ok(d) => d,
            // A body whose only record is bad is rejected whole: nothing else to keep.
            Err(e) => {
                prop_assert_eq!(n, 0, "{}", e);
                return Ok(());
            }
        };
        let good: Vec<_> = decoded.records.iter().filter(|r| r.text.contains("operationName")).collect();
        prop_assert_eq!(good.len(), n);
        prop_assert!(decoded.bad.len() <= 1);
        prop_assert_eq!(decoded.total(), n + 1);

        // End to end: every good record raises its alert (dedup off).
        let rules = Arc::new(seed_rules());
        let detector = Detector::new(rules, DecodeLimits::default());
        let source = Source::File { path: "p".into(), line: 1, record_index: None };
        let out = detector.process(&body, &source, &mut Deduper::new(false), time::OffsetDateTime::now_utc());
        prop_assert_eq!(out.alerts.len(), n);
    }
}

fn seed_rules() -> RuleSet {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules/azure_keyvault_key_accessed_or_recovered.yml");
    let text = std::fs::read_to_string(&path).expect("seed rule");
    let rule = hubwatch::rules::load_rule(&path, &text).expect("seed rule loads");
    RuleSet {
        rules: vec![rule],
        disabled: vec![],
    }
}

#[test]
fn huge_and_deep_inputs_stay_bounded() {
    let limits = DecodeLimits::default();
    // Over the Event Hubs limit: rejected before parsing.
    let big = vec![b' '; limits.max_body_bytes + 1];
    assert!(decode_body(&big, &limits).is_err());
    // 10,000-deep nesting: no stack overflow, a clear error.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let d = decode_body(deep.as_bytes(), &limits).expect("an array of one deep array");
    assert_eq!((d.records.len(), d.bad.len()), (0, 1));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    // Skipping over it is iterative, so it decodes as one record...
    let d = decode_body(deep_obj.as_bytes(), &limits).expect("one record");
    assert_eq!(d.records.len(), 1);
    // ...and a rule that has to read it gets a clear error instead of a stack overflow.
    let deep_match = format!(
        "{{\"operationName\":\"Microsoft.KeyVault/vaults/keys/read/action\",\"resultType\":\"Success\",\"x\":{deep_obj}}}"
    );
    let detector = Detector::new(Arc::new(seed_rules()), limits);
    let source = Source::File {
        path: "p".into(),
        line: 1,
        record_index: None,
    };
    let out = detector.process(
        deep_match.as_bytes(),
        &source,
        &mut Deduper::new(true),
        time::OffsetDateTime::now_utc(),
    );
    assert!(out.alerts.is_empty());
    assert_eq!(out.stats.record_errors, 1);
    assert!(
        out.problems[0].entry.reason.contains("recursion limit"),
        "{}",
        out.problems[0].entry.reason
    );
    // Many records in one body (as many as fit in the limit).
    let many = format!("[{}{{}}]", "{},".repeat(300_000));
    let d = decode_body(many.as_bytes(), &limits).expect("records");
    assert_eq!(d.records.len(), 300_001);
}
