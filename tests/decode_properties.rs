//! Property tests: decoding never panics, and one bad record never costs the others.

use hubwatch::alert::Origin;
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
        if let Ok(d) = decode_body(&body, &DecodeLimits::default()) {
            prop_assert_eq!(d.unaccounted(&body), None);
        }
    }

    #[test]
    fn json_like_bytes_decode_without_panic(body in "[\\[\\]{}\",:\\\\a-z0-9 \\x00-\\x1f\u{80}-\u{10ffff}]{0,200}") {
        for text in [body.clone(), format!("{{\"records\":[{body}]}}"), format!("{body}\n{body}")] {
            if let Ok(d) = decode_body(text.as_bytes(), &DecodeLimits::default()) {
                prop_assert_eq!(d.unaccounted(text.as_bytes()), None);
            }
        }
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
        let source = Origin::File { path: "p".into(), line: 1, record_index: None };
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
    let source = Origin::File {
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

/// One record of a generated document.
#[derive(Debug, Clone)]
enum Rec {
    Match(usize),
    Other(usize),
    NotObject(u8),
    BadUtf8,
}

impl Rec {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Rec::Match(i) => good_record(*i).into_bytes(),
            Rec::Other(i) => {
                format!(r#"{{"operationName":"Microsoft.Web/sites/write","n":{i}}}"#).into_bytes()
            }
            Rec::NotObject(k) => [&b"7"[..], b"\"s\"", b"null", b"[1]"][*k as usize % 4].to_vec(),
            Rec::BadUtf8 => b"{\"x\":\"\xff\xfe\"}".to_vec(),
        }
    }
    fn good(&self) -> bool {
        matches!(self, Rec::Match(_) | Rec::Other(_))
    }
}

/// A piece of a generated body: the shapes a forwarder or a broken producer sends.
#[derive(Debug, Clone)]
enum Piece {
    /// `{"records": [...]}`, optionally after an earlier `"records"` array (a duplicate key).
    Envelope(Vec<Rec>, Option<Vec<Rec>>),
    Array(Vec<Rec>),
    Bare(usize),
    /// A JSON value that is no list of records.
    Scalar(u8),
    /// Bytes that are not JSON.
    Garbage(u8),
}

fn list(recs: &[Rec]) -> Vec<u8> {
    let mut out = b"[".to_vec();
    for (i, r) in recs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(r.bytes());
    }
    out.push(b']');
    out
}

impl Piece {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Piece::Envelope(recs, earlier) => {
                let mut out = b"{".to_vec();
                if let Some(e) = earlier {
                    out.extend_from_slice(b"\"records\":");
                    out.extend(list(e));
                    out.extend_from_slice(b",\"category\":\"Administrative\",");
                }
                out.extend_from_slice(b"\"records\": ");
                out.extend(list(recs));
                out.push(b'}');
                out
            }
            Piece::Array(recs) => list(recs),
            Piece::Bare(i) => good_record(*i).into_bytes(),
            Piece::Scalar(k) => {
                [&b"null"[..], b"5", b"\"text\"", b"true"][*k as usize % 4].to_vec()
            }
            Piece::Garbage(k) => [&b"xyz"[..], b"}", b"]", b"\xff\xfe", b"\x00", b"}xyz", b","]
                [*k as usize % 7]
                .to_vec(),
        }
    }

    /// Whether a separator next to this piece must be whitespace (a scalar or garbage would
    /// otherwise run into its neighbour).
    fn needs_space(&self) -> bool {
        matches!(self, Piece::Scalar(_) | Piece::Garbage(_))
    }
}

/// What decoding a generated body must give: evaluated record texts in order, the number of
/// bad records, and the kinds of the rejected parts.
#[derive(Debug, Default)]
struct Expected {
    records: Vec<Vec<u8>>,
    bad: usize,
    parts: Vec<&'static str>,
}

fn expect(pieces: &[Piece]) -> Expected {
    let mut e = Expected::default();
    // Consecutive pieces that each fail whole as "not JSON" make one entry.
    let mut last_whole_invalid = false;
    for p in pieces {
        let mut whole_invalid = false;
        let (recs, earlier) = match p {
            Piece::Envelope(recs, earlier) => (recs, earlier.as_deref()),
            Piece::Array(recs) => (recs, None),
            Piece::Bare(i) => {
                e.records.push(good_record(*i).into_bytes());
                last_whole_invalid = false;
                continue;
            }
            Piece::Scalar(_) => {
                e.parts.push("not_records");
                last_whole_invalid = false;
                continue;
            }
            Piece::Garbage(_) => {
                if !last_whole_invalid {
                    e.parts.push("invalid_json");
                }
                last_whole_invalid = true;
                continue;
            }
        };
        // Bad UTF-8 anywhere in the document sends it down the salvage path.
        let salvaged = recs
            .iter()
            .chain(earlier.into_iter().flatten())
            .any(|r| matches!(r, Rec::BadUtf8));
        let good: Vec<Vec<u8>> = recs.iter().filter(|r| r.good()).map(Rec::bytes).collect();
        let bad = recs.len() - good.len();
        if salvaged && good.is_empty() && bad <= 1 {
            // Nothing to salvage: the document is reported whole.
            whole_invalid = true;
            if !last_whole_invalid {
                e.parts.push("invalid_json");
            }
        } else {
            e.records.extend(good);
            e.bad += bad;
            if earlier.is_some_and(|a| !a.is_empty()) {
                e.parts.push("records_shadowed");
            }
            if earlier.is_some_and(|a| a.iter().any(|r| matches!(r, Rec::BadUtf8))) {
                e.parts.push("invalid_envelope");
            }
        }
        last_whole_invalid = whole_invalid;
    }
    e.parts.sort_unstable();
    e
}

fn rec_strategy() -> impl Strategy<Value = Rec> {
    prop_oneof![
        3 => (0usize..1000).prop_map(Rec::Match),
        3 => (0usize..1000).prop_map(Rec::Other),
        1 => any::<u8>().prop_map(Rec::NotObject),
        1 => Just(Rec::BadUtf8),
    ]
}

fn piece_strategy() -> impl Strategy<Value = Piece> {
    let recs = || proptest::collection::vec(rec_strategy(), 0..4);
    prop_oneof![
        4 => (recs(), proptest::option::of(recs())).prop_map(|(r, e)| Piece::Envelope(r, e)),
        2 => recs().prop_map(Piece::Array),
        1 => (0usize..1000).prop_map(Piece::Bare),
        1 => any::<u8>().prop_map(Piece::Scalar),
        1 => any::<u8>().prop_map(Piece::Garbage),
    ]
}

fn assemble(pieces: &[Piece], seps: &[u8], bom: bool) -> Vec<u8> {
    let mut body = if bom {
        b"\xef\xbb\xbf".to_vec()
    } else {
        Vec::new()
    };
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            let space = p.needs_space() || pieces[i - 1].needs_space();
            let sep: &[u8] = match seps.get(i).copied().unwrap_or(0) % 4 {
                0 if !space => b"",
                0 | 1 => b"\n",
                2 => b" ",
                _ => b"\r\n",
            };
            body.extend_from_slice(sep);
        }
        body.extend(p.bytes());
    }
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Concatenated documents, duplicate `records` keys, bad records and trailing bytes: every
    /// good record of every document is evaluated (the last of duplicate keys, as Python's
    /// json reads it), and everything else is a dead-lettered record or part. Every byte of the
    /// body is in an evaluated document or a dead-lettered part.
    #[test]
    fn every_document_is_evaluated_or_dead_lettered(
        pieces in proptest::collection::vec(piece_strategy(), 1..6),
        seps in proptest::collection::vec(any::<u8>(), 6),
        bom in any::<bool>(),
    ) {
        let body = assemble(&pieces, &seps, bom);
        let want = expect(&pieces);
        let limits = DecodeLimits::default();
        match decode_body(&body, &limits) {
            Ok(d) => {
                prop_assert_eq!(d.unaccounted(&body), None);
                let got: Vec<&[u8]> = d.records.iter().map(|r| r.text.as_bytes()).collect();
                let wanted: Vec<&[u8]> = want.records.iter().map(Vec::as_slice).collect();
                prop_assert_eq!(got, wanted);
                prop_assert_eq!(d.bad.len(), want.bad);
                let mut kinds: Vec<&str> = d.parts.iter().map(|p| p.error.kind()).collect();
                kinds.sort_unstable();
                prop_assert_eq!(kinds, want.parts.clone());
            }
            // The body is one failed part and nothing else.
            Err(e) => {
                prop_assert!(want.records.is_empty() && want.bad == 0, "{e}");
                prop_assert_eq!(want.parts.len(), 1, "{}", e);
                prop_assert_eq!(e.kind(), want.parts[0]);
            }
        }
        // End to end: one alert per matching record (dedup off); every other record and part
        // is a dead-letter entry.
        let detector = Detector::new(Arc::new(seed_rules()), limits);
        let source = Origin::File { path: "p".into(), line: 1, record_index: None };
        let out = detector.process(&body, &source, &mut Deduper::new(false), time::OffsetDateTime::now_utc());
        let matching = want.records.iter().filter(|r| r.windows(9).any(|w| w == b"keys/read")).count();
        prop_assert_eq!(out.alerts.len(), matching);
        prop_assert_eq!(out.problems.len(), want.bad + want.parts.len());
        prop_assert_eq!(out.stats.records as usize, want.records.len() + want.bad);
    }

    /// A generated body cut anywhere: nothing panics, nothing is unaccounted for, and every
    /// record evaluated is one the whole body held (truncation never invents a record).
    #[test]
    fn truncated_bodies_are_accounted_for(
        pieces in proptest::collection::vec(piece_strategy(), 1..5),
        seps in proptest::collection::vec(any::<u8>(), 5),
        cut in any::<proptest::sample::Index>(),
    ) {
        let body = assemble(&pieces, &seps, false);
        let body = &body[..cut.index(body.len() + 1)];
        // Every record text the whole body holds, in any array (a cut can leave an earlier
        // `records` array as the only one).
        let held: Vec<Vec<u8>> = pieces
            .iter()
            .flat_map(|p| match p {
                Piece::Envelope(r, e) => r.iter().chain(e.iter().flatten()).map(Rec::bytes).collect(),
                Piece::Array(r) => r.iter().map(Rec::bytes).collect(),
                Piece::Bare(i) => vec![good_record(*i).into_bytes()],
                _ => Vec::new(),
            })
            .collect();
        if let Ok(d) = decode_body(body, &DecodeLimits::default()) {
            prop_assert_eq!(d.unaccounted(body), None);
            for r in &d.records {
                prop_assert!(
                    held.iter().any(|w| w.as_slice() == r.text.as_bytes()),
                    "{} is not a record of the whole body", r.text
                );
            }
        }
    }
}
