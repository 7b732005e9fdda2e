//! The prefilter is exact for every ported rule: `Detector::process` (prefilter on) raises
//! exactly the matches of evaluating every rule on every record, record by record.
//!
//! Records are built around each port's interesting values: the seeds are the records of
//! `tests/python/gen_activity_records.py` (the golden data, which cover the operations, fields
//! and shapes of all 58 upstream rules), preferring those some port matches. Each is then
//! changed where case mappings matter (a value or key upper-cased with Unicode's mapping,
//! lower-cased, re-cased in ASCII, or given a character whose mapping yields ASCII: long s,
//! dotless i, Kelvin sign, dotted I, sharp s, ligatures; or the whole record upper-cased) and
//! written with JSON escapes (`\u0041` in either hex case, `\/`, surrogate pairs) in some or
//! all characters, one to four records to a body.
//!
//! All ports run together in one detector; and each port's own needles must hit every record
//! it matches (so that another rule's needle cannot hide a port's miss). A port without
//! needles disables the prefilter, and is listed.

mod support;

use hubwatch_detect::alert::Origin;
use hubwatch_detect::decode::DecodeLimits;
use hubwatch_detect::dedup::Deduper;
use hubwatch_detect::detect::Detector;
use hubwatch_detect::prefilter::{Hits, Prefilter};
use hubwatch_detect::record::Record;
use hubwatch_detect::rules::builtin::{self, Port};
use hubwatch_detect::rules::{Rule, RuleSet};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

struct Seeds {
    all: Vec<Map<String, Value>>,
    /// Indexes of seeds that some port matches.
    hot: Vec<usize>,
    /// Every port, and a detector (prefilter on) holding them all.
    rules: Vec<Rule>,
    detector: Detector,
    /// Each port's own prefilter, by rule id (`None`: the port names no needles).
    own: HashMap<String, Option<Prefilter>>,
}

fn ports() -> Vec<&'static Port> {
    builtin::ports().collect()
}

fn rule_set(rules: Vec<Rule>) -> RuleSet {
    RuleSet {
        rules,
        disabled: Vec::new(),
    }
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let path = support::repo_root()
            .join("crates/hubwatch-detect/tests/data/activity_records.jsonl.gz");
        let all: Vec<Map<String, Value>> = support::gz_lines(&path)
            .iter()
            .filter(|l| l.len() < 6000)
            .filter_map(|l| support::parse_record(l))
            .collect();
        let rules: Vec<Rule> = ports().into_iter().map(Rule::from_port).collect();
        let hot = (0..all.len())
            .filter(|&i| {
                rules
                    .iter()
                    .any(|r| matches!(r.evaluate(&Record::new(&all[i])), Ok(Some(_))))
            })
            .collect();
        let mut own = HashMap::new();
        let mut without = Vec::new();
        for rule in &rules {
            let needles = rule.logic.needles();
            if needles.is_none() {
                without.push(rule.id().to_string());
            }
            own.insert(
                rule.id().to_string(),
                Prefilter::new(needles.map(|n| vec![n])),
            );
        }
        if !without.is_empty() {
            eprintln!(
                "ports without needles (no prefilter): {}",
                without.join(", ")
            );
        }
        let every = ports().into_iter().map(Rule::from_port).collect();
        let detector = Detector::new(Arc::new(rule_set(every)), DecodeLimits::default());
        Seeds {
            all,
            hot,
            rules,
            detector,
            own,
        }
    })
}

// ---------- changes ----------

/// Characters whose Unicode case mapping yields ASCII, for the ASCII text they replace.
const LOOKALIKES: &[(&str, &str)] = &[
    ("s", "\u{17f}"),
    ("i", "\u{131}"),
    ("k", "\u{212a}"),
    ("K", "\u{212a}"),
    ("I", "\u{130}"),
    ("ss", "\u{df}"),
    ("SS", "\u{1e9e}"),
    ("fi", "\u{fb01}"),
    ("st", "\u{fb06}"),
    ("ff", "\u{fb00}"),
    ("fl", "\u{fb02}"),
    ("j", "\u{1f0}"),
    ("t", "\u{1e97}"),
];

/// Paths to every string of a record: values, and keys (`true` in the last step).
fn slots(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    match v {
        Value::String(_) => out.push((path.clone(), false)),
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                out.push((path.clone(), true));
                slots(x, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                path.push(format!("#{i}"));
                slots(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn change_text(s: &str, kind: u8, r: u32) -> String {
    match kind % 4 {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => s
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if (r >> (i % 32)) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
        _ => {
            let fits: Vec<(usize, &str, &str)> = LOOKALIKES
                .iter()
                .flat_map(|(from, to)| s.match_indices(from).map(move |(at, f)| (at, f, *to)))
                .collect();
            match fits.get(r as usize % fits.len().max(1)) {
                Some((at, from, to)) => format!("{}{to}{}", &s[..*at], &s[at + from.len()..]),
                None => s.to_string(),
            }
        }
    }
}

fn apply(v: &mut Value, path: &[String], key: bool, kind: u8, r: u32) {
    let Some((first, rest)) = path.split_first() else {
        if let Value::String(s) = v {
            *s = change_text(s, kind, r);
        }
        return;
    };
    match v {
        Value::Object(m) if rest.is_empty() && key => {
            let new = change_text(first, kind, r);
            if !m.contains_key(&new) {
                *m = std::mem::take(m)
                    .into_iter()
                    .map(|(k, x)| {
                        if &k == first {
                            (new.clone(), x)
                        } else {
                            (k, x)
                        }
                    })
                    .collect();
            }
        }
        Value::Object(m) => {
            if let Some(x) = m.get_mut(first) {
                apply(x, rest, key, kind, r);
            }
        }
        Value::Array(items) => {
            let i: usize = first[1..].parse().unwrap_or(usize::MAX);
            if let Some(x) = items.get_mut(i) {
                apply(x, rest, key, kind, r);
            }
        }
        _ => {}
    }
}

fn upper_all(v: &mut Value) {
    match v {
        Value::String(s) => *s = s.to_uppercase(),
        Value::Array(items) => items.iter_mut().for_each(upper_all),
        Value::Object(m) => m.values_mut().for_each(upper_all),
        _ => {}
    }
}

fn changed(mut v: Value, changes: &[(u8, u32, u32)]) -> Value {
    for &(kind, at, r) in changes {
        if kind == 7 {
            upper_all(&mut v);
            continue;
        }
        let mut all = Vec::new();
        slots(&v, &mut Vec::new(), &mut all);
        // Half the time the change goes to operationName, what most ports match on.
        let op = all
            .iter()
            .position(|(p, k)| !k && p.len() == 1 && p[0].eq_ignore_ascii_case("operationName"));
        let pick = match op {
            Some(i) if at % 2 == 0 => Some(i),
            _ if all.is_empty() => None,
            _ => Some(at as usize % all.len()),
        };
        if let Some(i) = pick {
            let (path, key) = all[i].clone();
            apply(&mut v, &path, key, kind, r);
        }
    }
    v
}

// ---------- spelling ----------

/// How a string is written: raw, or with a share (0-255) of its characters escaped.
fn write_str(out: &mut String, s: &str, share: u8, salt: &mut u32) {
    out.push('"');
    for c in s.chars() {
        *salt = salt.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let escape = ((*salt >> 16) as u8) < share;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escape && *salt & 1 == 0 => out.push_str("\\/"),
            c if (c as u32) < 0x20 || escape => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    if *salt & 2 == 0 {
                        out.push_str(&format!("\\u{u:04x}"));
                    } else {
                        out.push_str(&format!("\\u{u:04X}"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(out: &mut String, v: &Value, share: u8, salt: &mut u32) {
    match v {
        Value::String(s) => write_str(out, s, share, salt),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x, share, salt);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, k, share, salt);
                out.push(':');
                write_value(out, x, share, salt);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

type Part = (u32, bool, Vec<(u8, u32, u32)>, u8);

fn part() -> impl Strategy<Value = Part> {
    (
        any::<u32>(),
        any::<bool>(),
        proptest::collection::vec((0u8..8, any::<u32>(), any::<u32>()), 0..4),
        prop_oneof![3 => Just(0u8), 2 => any::<u8>(), 1 => Just(255u8)],
    )
}

/// The body, and each record's text in it.
fn body(parts: &[Part], mut salt: u32, bare: bool) -> (String, Vec<String>) {
    let s = seeds();
    let (mut text, mut texts) = (String::new(), Vec::new());
    let single = bare && parts.len() == 1;
    if !single {
        text.push_str("{\"records\": [");
    }
    for (n, (pick, hot, changes, share)) in parts.iter().enumerate() {
        let i = match (*hot, s.hot.is_empty()) {
            (true, false) => s.hot[*pick as usize % s.hot.len()],
            _ => *pick as usize % s.all.len(),
        };
        if n > 0 {
            text.push_str(",\n");
        }
        let v = changed(Value::Object(s.all[i].clone()), changes);
        let mut one = String::new();
        write_value(&mut one, &v, *share, &mut salt);
        text.push_str(&one);
        texts.push(one);
    }
    if !single {
        text.push_str("]}");
    }
    (text, texts)
}

/// (record index, rule id) of every match, evaluating every rule on every record.
fn brute_force(detector_rules: &[Rule], text: &str) -> Vec<(usize, String)> {
    // As the service reads records: serde_json's `Value` would read the golden records' private
    // token keys as numbers.
    let parsed =
        hubwatch_detect::record::parse_document(text, 1000).expect("generated JSON parses");
    let records: Vec<Value> = match parsed {
        Value::Object(mut m) if m.contains_key("records") => match m.remove("records") {
            Some(Value::Array(a)) => a,
            _ => vec![],
        },
        other => vec![other],
    };
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let Value::Object(fields) = r else { continue };
        for rule in detector_rules {
            if matches!(rule.evaluate(&Record::new(fields)), Ok(Some(_))) {
                out.push((i, rule.id().to_string()));
            }
        }
    }
    out.sort();
    out
}

fn detected(detector: &Detector, text: &str) -> Vec<(usize, String)> {
    let source = Origin::File {
        path: "prefilter_exact".into(),
        line: 1,
        record_index: None,
    };
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let out = detector.process(text.as_bytes(), &source, &mut Deduper::new(false), now);
    let mut got: Vec<(usize, String)> = out
        .alerts
        .iter()
        .map(|a| match &a.source {
            Origin::File { record_index, .. }
            | Origin::EventHubs { record_index, .. }
            | Origin::Blob { record_index, .. } => (record_index.unwrap_or(0), a.rule_id.clone()),
        })
        .collect();
    got.sort();
    got
}

/// 600 cases by default (`PROPTEST_CASES` for more); failures are kept beside this file.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/prefilter_exact.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prefilter_keeps_every_match_of_every_port(
        parts in proptest::collection::vec(part(), 1..5),
        salt in any::<u32>(),
        bare in any::<bool>(),
    ) {
        let (text, texts) = body(&parts, salt, bare);
        let s = seeds();
        let expected = brute_force(&s.rules, &text);
        prop_assert_eq!(detected(&s.detector, &text), expected.clone(), "all ports on body {}", text);
        // Each port alone: its own needles must hit every record it matches.
        for (i, id) in &expected {
            if let Some(Some(own)) = s.own.get(id) {
                prop_assert!(own.scan(texts[*i].as_bytes()) != Hits::None, "{}'s needles miss record {}", id, texts[*i]);
            }
        }
    }
}

/// The seeds reach what the ports match, and changed and escaped copies still match: the
/// property above is not vacuous.
#[test]
fn seeds_hold_matches() {
    let s = seeds();
    assert!(s.all.len() > 1000, "{} seeds", s.all.len());
    if s.rules.is_empty() {
        return;
    }
    assert!(!s.hot.is_empty(), "no seed matches any port");
    let mut matched = 0;
    for pick in 0..40u32 {
        for (kind, share) in [(3u8, 0u8), (0, 128), (7, 255), (1, 40)] {
            let part: Part = (pick * 7919, true, vec![(kind, 0, pick)], share);
            let (text, _) = body(&[part], pick, true);
            matched += brute_force(&s.rules, &text).len();
        }
    }
    assert!(matched > 0, "no changed seed matches");
    eprintln!(
        "prefilter property: {} seeds, {} matched by a port; {matched} matches among 160 changed copies; {} ports",
        s.all.len(),
        s.hot.len(),
        s.rules.len()
    );
}
