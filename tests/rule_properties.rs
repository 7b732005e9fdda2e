//! Properties of the rules and the prefilter, over generated records.
//!
//! 1. The built-in Key Vault rule (Rust) and a simple detection written in YAML with the same
//!    match logic agree on match / no match for any record built around the interesting
//!    fields: `operationName` in every ASCII casing, with JSON escapes, surrounding whitespace,
//!    non-string types, `resultType` variants and missing keys, field names in any casing.
//!    A rule error (the built-in raises on a non-string `operationName`) counts as no match.
//!
//!    Where the semantics differ by design, the generator is restricted and the difference is
//!    pinned by a separate test: the built-in upper-cases (Python's `str.upper`), the YAML
//!    `IIsIn` lower-cases (Panther's `IEquals` family), and Unicode case mappings are not
//!    symmetric: the long s `ſ` upper-cases to `S` but lower-cases to itself, the Kelvin sign
//!    lower-cases to `k` but upper-cases to itself. Characters generated in values are therefore
//!    ASCII or non-ASCII letters whose mappings stay outside ASCII (é, ß is excluded: it
//!    upper-cases to "SS").
//! 2. The prefilter never hides a match: `Detector::process` (prefilter on) raises exactly as
//!    many matches as evaluating every rule on every record of the body, for bodies whose JSON
//!    text spells values with `\uXXXX` escapes, escaped slashes and the characters whose case
//!    mappings yield ASCII.

use hubwatch::alert::Origin;
use hubwatch::decode::DecodeLimits;
use hubwatch::dedup::Deduper;
use hubwatch::detect::Detector;
use hubwatch::record::Record;
use hubwatch::rules::{load_rule, Rule, RuleSet};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

const OPS: [&str; 3] = [
    "Microsoft.KeyVault/vaults/keys/read/action",
    "Microsoft.KeyVault/vaults/keys/restore/action",
    "Microsoft.KeyVault/vaults/keys/recover/action",
];

/// The built-in rule's match logic as a simple detection.
const YAML_RULE: &str = r#"
AnalysisType: rule
RuleID: "Test.YAML.KeyVault.KeyAccessed"
DisplayName: "Key Vault key accessed (YAML twin of the built-in)"
Enabled: true
LogTypes:
  - Azure.MonitorActivity
Severity: Medium
Detection:
  - Key: operationName
    Condition: IIsIn
    Values:
      - Microsoft.KeyVault/vaults/keys/read/action
      - Microsoft.KeyVault/vaults/keys/restore/action
      - Microsoft.KeyVault/vaults/keys/recover/action
  - Key: resultType
    Condition: IsIn
    Values:
      - Success
      - Succeeded
AlertTitle: "key {operationName} by {callerIpAddress}"
"#;

fn builtin() -> Rule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules/azure_keyvault_key_accessed_or_recovered.yml");
    let text = std::fs::read_to_string(&path).expect("built-in rule file");
    load_rule(&path, &text).expect("built-in rule loads")
}

fn yaml() -> Rule {
    load_rule(Path::new("test-yaml-twin.yml"), YAML_RULE).expect("YAML twin loads")
}

fn matched(rule: &Rule, fields: &Map<String, Value>) -> bool {
    matches!(rule.evaluate(&Record::new(fields)), Ok(Some(_)))
}

/// Every rule the detector tests below use: the embedded ones plus the YAML twin.
fn all_rules() -> RuleSet {
    let mut set = RuleSet::embedded().expect("embedded rules");
    set.rules.push(yaml());
    set
}

// ---------- generators ----------

/// A string in random ASCII casing.
fn recase(s: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), s.len()).prop_map(move |flips| {
        s.chars()
            .zip(flips)
            .map(|(c, up)| {
                if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

/// Characters whose upper- and lower-case forms agree in whether they equal the ASCII letters
/// of the operation names (see the module comment).
fn filler() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![
        "", " ", "\t", "\n", "x", "é", "É", "/", "ü", "Ω", "日", "\u{a0}",
    ])
    .prop_map(String::from)
}

/// operationName values: near misses and hits in every casing, with whitespace and fillers.
fn op_string() -> impl Strategy<Value = String> {
    let op = proptest::sample::select(OPS.to_vec());
    prop_oneof![
        4 => op.clone().prop_flat_map(recase),
        2 => (filler(), op.clone().prop_flat_map(recase), filler())
            .prop_map(|(a, o, b)| format!("{a}{o}{b}")),
        1 => (op.clone(), 0usize..40).prop_map(|(o, cut)| o[..cut.min(o.len())].to_string()),
        1 => (op, 0usize..42, filler()).prop_map(|(o, at, f)| {
            let at = at.min(o.len());
            format!("{}{f}{}", &o[..at], &o[at..])
        }),
        1 => Just("Microsoft.KeyVault/vaults/secrets/read/action".to_string()),
        1 => "[a-zA-Z/. ]{0,20}",
    ]
}

fn op_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        8 => op_string().prop_map(|s| Some(Value::String(s))),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any::<i64>().prop_map(|n| Some(Value::from(n))),
        1 => any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        1 => op_string().prop_map(|s| Some(Value::Array(vec![Value::String(s)]))),
        1 => op_string().prop_map(|s| {
            let mut m = Map::new();
            m.insert("value".into(), Value::String(s));
            Some(Value::Object(m))
        }),
    ]
}

fn result_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(Some(Value::from("Success"))),
        3 => Just(Some(Value::from("Succeeded"))),
        1 => proptest::sample::select(vec![
            "success", "SUCCESS", "Succeeded ", " Success", "Failure", "Start", "", "Succes",
        ])
        .prop_map(|s| Some(Value::from(s))),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(Value::Bool(true))),
        1 => Just(Some(Value::Array(vec![Value::from("Success")]))),
    ]
}

/// A field name in one of the spellings the case-insensitive lookup accepts.
fn key(name: &'static str) -> impl Strategy<Value = String> {
    recase(name)
}

/// A record: the two interesting fields (or their absence) in any key casing, sometimes a
/// duplicate spelling, and some unrelated fields.
fn record() -> impl Strategy<Value = Map<String, Value>> {
    (
        key("operationName"),
        op_value(),
        key("resultType"),
        result_value(),
        proptest::option::of((key("operationName"), op_value())),
        proptest::option::of(prop_oneof![
            Just(Value::from("10.0.0.1")),
            Just(Value::Null),
            Just(Value::from(7)),
        ]),
        proptest::option::of(prop_oneof![
            Just(Value::from(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/keys/k"
            )),
            Just(Value::Null),
            Just(Value::from("")),
        ]),
    )
        .prop_map(|(ok, op, rk, rv, dup, caller, rid)| {
            let mut m = Map::new();
            if let Some(r) = rv {
                m.insert(rk, r);
            }
            if let Some(o) = op {
                m.insert(ok, o);
            }
            if let Some((k, Some(v))) = dup {
                m.insert(k, v);
            }
            if let Some(c) = caller {
                m.insert("callerIpAddress".into(), c);
            }
            if let Some(r) = rid {
                m.insert("resourceId".into(), r);
            }
            m.insert("time".into(), Value::from("2025-12-23T10:30:00Z"));
            m
        })
}

/// How a string is spelled in JSON text: raw, `\uXXXX` escapes, escaped slashes.
#[derive(Debug, Clone, Copy)]
enum Spelling {
    Raw,
    EscapeSome(u8),
    EscapeAll,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    prop_oneof![
        3 => Just(Spelling::Raw),
        2 => any::<u8>().prop_map(Spelling::EscapeSome),
        1 => Just(Spelling::EscapeAll),
    ]
}

fn write_str(out: &mut String, s: &str, sp: Spelling, salt: &mut u32) {
    out.push('"');
    for c in s.chars() {
        *salt = salt.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let escape = match sp {
            Spelling::Raw => false,
            Spelling::EscapeAll => true,
            Spelling::EscapeSome(p) => ((*salt >> 16) as u8) < p,
        };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escape && *salt & 1 == 0 => out.push_str("\\/"),
            c if (c as u32) < 0x20 || escape => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    if *salt & 2 == 0 {
                        out.push_str(&format!("\\u{unit:04x}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(out: &mut String, v: &Value, sp: Spelling, salt: &mut u32) {
    match v {
        Value::String(s) => write_str(out, s, sp, salt),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, sp, salt);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k, sp, salt);
                out.push(':');
                write_value(out, item, sp, salt);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A record for the prefilter property: the generated record, with values (and keys) that
/// may use the characters whose case mappings yield ASCII.
fn prefilter_record() -> impl Strategy<Value = Map<String, Value>> {
    (record(), proptest::option::of(0usize..3), any::<u16>()).prop_map(|(mut m, tricky, at)| {
        if let Some(t) = tricky {
            // Swap one ASCII letter of operationName for a look-alike that upper-cases or
            // lower-cases to ASCII (long s -> S, Kelvin -> k, dotless i -> I).
            let (from, to) = [('s', 'ſ'), ('k', '\u{212a}'), ('i', 'ı')][t];
            let hit = m
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case("operationName"));
            if let Some((_, Value::String(s))) = hit {
                let positions: Vec<usize> = s
                    .char_indices()
                    .filter(|(_, c)| c.eq_ignore_ascii_case(&from))
                    .map(|(i, _)| i)
                    .collect();
                if !positions.is_empty() {
                    let i = positions[at as usize % positions.len()];
                    s.replace_range(i..i + 1, &to.to_string());
                }
            }
        }
        m
    })
}

fn body() -> impl Strategy<Value = (String, Vec<Map<String, Value>>)> {
    (
        proptest::collection::vec((prefilter_record(), spelling()), 1..6),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(|(recs, mut salt, bare)| {
            let mut text = String::new();
            let single = bare && recs.len() == 1;
            if !single {
                text.push_str("{\"records\":[");
            }
            for (i, (m, sp)) in recs.iter().enumerate() {
                if i > 0 {
                    text.push_str(",\n");
                }
                write_value(&mut text, &Value::Object(m.clone()), *sp, &mut salt);
            }
            if !single {
                text.push_str("]}");
            }
            (text, recs.into_iter().map(|(m, _)| m).collect())
        })
}

fn process(detector: &Detector, body: &str) -> hubwatch::detect::Processed {
    let source = Origin::File {
        path: "prop".into(),
        line: 1,
        record_index: None,
    };
    detector.process(
        body.as_bytes(),
        &source,
        &mut Deduper::new(false),
        time::OffsetDateTime::now_utc(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn builtin_and_yaml_twin_agree(rec in record()) {
        let (b, y) = (builtin(), yaml());
        prop_assert_eq!(matched(&b, &rec), matched(&y, &rec), "record {}", Value::Object(rec.clone()));
    }

    #[test]
    fn prefilter_never_hides_a_match((text, recs) in body()) {
        let set = all_rules();
        // Brute force: every rule on every record, as parsed back from the body text.
        let parsed: Value = serde_json::from_str(&text).expect("generated JSON parses");
        let records: Vec<Map<String, Value>> = match parsed {
            Value::Object(m) if m.contains_key("records") => m["records"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
                .unwrap_or_default(),
            Value::Object(m) => vec![m],
            _ => vec![],
        };
        prop_assert_eq!(records.len(), recs.len());
        let mut expected = 0u64;
        for r in &records {
            for rule in &set.rules {
                if matches!(rule.evaluate(&Record::new(r)), Ok(Some(_))) {
                    expected += 1;
                }
            }
        }
        let detector = Detector::new(Arc::new(set), DecodeLimits::default());
        let out = process(&detector, &text);
        prop_assert_eq!(out.stats.matches, expected, "body {}", text);
        prop_assert_eq!(out.stats.alerts, expected);
    }
}

/// The generator above leaves out the characters where Python's `str.upper` (the built-in) and
/// Unicode lower-casing (`IIsIn`, like Panther's `IEquals`) disagree; this pins what each does.
#[test]
fn upper_and_lower_casing_differ_only_where_documented() {
    let (b, y) = (builtin(), yaml());
    let rec = |op: &str| {
        let mut m = Map::new();
        m.insert("operationName".into(), Value::from(op));
        m.insert("resultType".into(), Value::from("Success"));
        m
    };
    // Long s: upper-cases to S (built-in matches), lower-cases to itself (YAML does not).
    let long_s = rec("Micro\u{17f}oft.KeyVault/vaults/keys/read/action");
    assert!(matched(&b, &long_s));
    assert!(!matched(&y, &long_s));
    // Kelvin sign: lower-cases to k (YAML matches), upper-cases to itself (built-in does not).
    let kelvin = rec("Microsoft.KeyVault/vaults/\u{212a}eys/read/action");
    assert!(!matched(&b, &kelvin));
    assert!(matched(&y, &kelvin));
    // A non-string operationName: the built-in raises (a rule error), the YAML rule is false.
    let mut null_op = rec("");
    null_op.insert("operationName".into(), Value::Null);
    assert!(builtin().evaluate(&Record::new(&null_op)).is_err());
    assert!(matches!(y.evaluate(&Record::new(&null_op)), Ok(None)));
}
