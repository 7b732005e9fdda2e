//! Tests of whole simple detections: parsing, combinators, outputs, errors and needles.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn yaml(text: &str) -> serde_norway::Value {
    serde_norway::from_str(text).unwrap()
}

fn detection(text: &str) -> SimpleDetection {
    SimpleDetection::parse(&yaml(text), None, None, None).unwrap()
}

fn parse_err(text: &str) -> SimpleError {
    match SimpleDetection::parse(&yaml(text), None, None, None) {
        Ok(d) => panic!("expected an error, parsed {d:?}"),
        Err(e) => e,
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("test input is an object"),
    }
}

fn matches(d: &SimpleDetection, v: Value) -> bool {
    let m = obj(v);
    d.matches(&Record::new(&m)).unwrap()
}

const SHIPPED: &str = r#"
- Key: category
  Condition: Equals
  Value: AuditEvent
- Key: operationName
  Condition: IsIn
  Values: [KeyGet, KeyRecover, KeyRestore]
- Key: resultType
  Condition: IsIn
  Values: [Success, Succeeded]
"#;

#[test]
fn implicit_all() {
    let d = detection(SHIPPED);
    let hit = json!({"category": "AuditEvent", "OPERATIONNAME": "KeyGet", "resultType": "Success"});
    assert!(matches(&d, hit));
    assert!(!matches(
        &d,
        json!({"category": "AuditEvent", "operationName": "keyget", "resultType": "Success"})
    ));
    assert!(!matches(
        &d,
        json!({"category": "AuditEvent", "operationName": "KeyGet"})
    ));
    assert_eq!(
        d.needles(),
        Some(vec!["AuditEvent".to_string()]),
        "the child whose shortest needle is longest"
    );
}

#[test]
fn combinators() {
    let d = detection(
        r#"
- Any:
    - Key: a
      Condition: Equals
      Value: x
    - Key: b
      Condition: Equals
      Value: y
- OnlyOne:
    - Key: c
      Condition: Exists
    - Key: d
      Condition: Exists
- None:
    - Key: e
      Condition: Equals
      Value: bad
    - All:
        - Key: f
          Condition: Equals
          Value: 1
        - Key: g
          Condition: Equals
          Value: 2
"#,
    );
    assert!(matches(&d, json!({"a": "x", "c": 1})));
    assert!(matches(&d, json!({"b": "y", "d": 1, "f": 1})));
    assert!(!matches(&d, json!({"a": "z", "c": 1})), "Any: neither");
    assert!(
        !matches(&d, json!({"a": "x", "c": 1, "d": 1})),
        "OnlyOne: both"
    );
    assert!(!matches(&d, json!({"a": "x"})), "OnlyOne: none");
    assert!(
        !matches(&d, json!({"a": "x", "c": 1, "e": "bad"})),
        "None: first"
    );
    assert!(
        !matches(&d, json!({"a": "x", "c": 1, "f": 1, "g": 2})),
        "None: All"
    );
    assert!(matches(&d, json!({"a": "x", "c": 1, "f": 1, "g": 3})));
    assert_eq!(d.needles(), Some(vec!["x".to_string(), "y".to_string()]));
}

#[test]
fn key_specifiers() {
    let d = detection(
        r#"
- KeyPath: records[*].identity.claim.appid
  Condition: Equals
  Value: app-1
- DeepKey: [props, items, 1]
  Condition: IsGreaterThan
  Value: 10
- Key: props
  DeepKey: [Name]
  Condition: IStartsWith
  Value: vault
- Key: a.b
  Condition: Exists
"#,
    );
    let base = json!({
        "Records": [{"identity": {"claim": {"appid": "other"}}}, {"IDENTITY": {"Claim": {"AppId": "app-1"}}}],
        "props": {"items": [1, 11], "name": "VaultX"},
        "a.b": null
    });
    assert!(matches(&d, base.clone()));
    let mut no_app = base.clone();
    no_app["Records"][1]["IDENTITY"]["Claim"]["AppId"] = json!("x");
    assert!(!matches(&d, no_app));
    let mut small = base.clone();
    small["props"]["items"][1] = json!(10);
    assert!(!matches(&d, small));
    let mut no_dotted = base;
    no_dotted.as_object_mut().unwrap().remove("a.b");
    assert!(!matches(&d, no_dotted));
}

#[test]
fn negative_over_wildcard_means_no_element() {
    let d = detection(
        r#"
- KeyPath: items[*].name
  Condition: DoesNotEqual
  Value: admin
"#,
    );
    assert!(matches(
        &d,
        json!({"items": [{"name": "a"}, {"name": "b"}]})
    ));
    assert!(!matches(
        &d,
        json!({"items": [{"name": "a"}, {"name": "admin"}]})
    ));
    assert!(matches(&d, json!({"items": []})));
    assert!(matches(&d, json!({})));
    assert_eq!(d.needles(), None);
}

#[test]
fn title_context_and_group_by() {
    let ctx = yaml(
        r#"
- KeyName: z_last_alphabetically
  KeyValue:
    KeyPath: props.id
- KeyName: a_first
  KeyValue:
    Key: caller
- KeyName: missing
  KeyValue:
    DeepKey: [nope, deeper]
- KeyName: all_names
  KeyValue:
    KeyPath: items[*].name
"#,
    );
    let group = yaml("[{KeyPath: caller}, {Key: op}]");
    let d = SimpleDetection::parse(
        &yaml(SHIPPED),
        Some("op {operationName} by [{caller}] {{x}}"),
        Some(&ctx),
        Some(&group),
    )
    .unwrap();
    let m = obj(json!({
        "operationName": "KeyGet", "caller": "1.2.3.4", "op": 7,
        "props": {"ID": "k"}, "items": [{"name": "a"}, {"name": 2}]
    }));
    let r = Record::new(&m);
    assert_eq!(
        d.title(&r).unwrap().as_deref(),
        Some("op KeyGet by [1.2.3.4] {x}")
    );
    let c = d.alert_context(&r).unwrap();
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        vec!["z_last_alphabetically", "a_first", "missing", "all_names"]
    );
    assert_eq!(c["z_last_alphabetically"], json!("k"));
    assert_eq!(c["missing"], Value::Null);
    assert_eq!(c["all_names"], json!(["a", 2]));
    assert_eq!(d.dedup(&r).unwrap().as_deref(), Some("1.2.3.4:7"));
    let empty = obj(json!({}));
    assert_eq!(d.dedup(&Record::new(&empty)).unwrap().as_deref(), Some(""));
    assert_eq!(
        d.title(&Record::new(&empty)).unwrap().as_deref(),
        Some("op  by [] {x}")
    );

    let plain = detection(SHIPPED);
    assert_eq!(plain.title(&r).unwrap(), None);
    assert_eq!(plain.dedup(&r).unwrap(), None);
    assert!(plain.alert_context(&r).unwrap().is_empty());
}

#[test]
fn parse_errors_name_the_problem() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "- {Key: a, Condition: Equalz, Value: x}",
            "unknown Condition \"Equalz\"",
            "Equalz",
        ),
        (
            "- {Key: a, Condition: Equals, Valeu: x}",
            "unknown key \"Valeu\"",
            "Valeu",
        ),
        ("- {Key: a, Condition: Equals}", "Equals needs a Value", "a"),
        (
            "- {Key: a, Condition: IsIn, Value: x}",
            "Values (a list), not Value",
            "a",
        ),
        (
            "- {Key: a, Condition: IsIn, Values: x}",
            "to be a list",
            "a",
        ),
        (
            "- {Key: a, Condition: IsIn, Values: []}",
            "empty Values",
            "a",
        ),
        (
            "- {Key: a, Condition: IIsIn, Values: [1]}",
            "to be a string",
            "a",
        ),
        (
            "- {Key: a, Condition: StartsWith, Value: 5}",
            "to be a string",
            "a",
        ),
        (
            "- {Key: a, Condition: IsGreaterThan, Value: '5'}",
            "to be a number",
            "a",
        ),
        (
            "- {Key: a, Condition: Equals, Value: [1]}",
            "found a list",
            "a",
        ),
        ("- {Key: a, Condition: Equals, Value: null}", "IsNull", "a"),
        (
            "- {Key: a, Condition: Exists, Value: x}",
            "takes no Value",
            "a",
        ),
        (
            "- {Key: a, Condition: Equals, Values: [x]}",
            "single Value",
            "a",
        ),
        (
            "- {Key: a, Condition: IsIPAddressInCIDR, Value: 1.2.3.4/40}",
            "CIDR",
            "a",
        ),
        (
            "- {Key: a, KeyPath: b.c, Condition: Exists}",
            "cannot be combined",
            "b.c",
        ),
        (
            "- {KeyPath: 'b..c', Condition: Exists}",
            "empty key name",
            "b..c",
        ),
        (
            "- {KeyPath: 'b[x]', Condition: Exists}",
            "array index",
            "b[x]",
        ),
        ("- {Key: a}", "has no Condition", "a"),
        (
            "- {DeepKey: [props, 0, leaf], Condition: Equals}",
            "needs a Value (on \"props[0].leaf\")",
            "leaf",
        ),
        ("- {Key: a, Condition: 5}", "condition name", "a"),
        ("- {Condition: Exists}", "needs a key", "Detection"),
        (
            "- {DeepKey: [], Condition: Exists}",
            "DeepKey is an empty list",
            "DeepKey",
        ),
        ("- {All: [], Any: []}", "cannot share", ""),
        ("- {All: []}", "All is an empty list", "All"),
        ("- Key", "must be a mapping", "Detection"),
        ("[]", "Detection is an empty list", "Detection"),
        ("Key: a", "Detection must be a list", "Detection"),
    ];
    for (text, message, anchor) in cases {
        let e = parse_err(text);
        assert!(
            e.message.contains(message),
            "{text}: {:?} should mention {message:?}",
            e.message
        );
        if !anchor.is_empty() {
            assert_eq!(e.anchor(), *anchor, "{text}");
        }
    }
}

#[test]
fn output_parse_errors() {
    let det = yaml(SHIPPED);
    let bad_title = SimpleDetection::parse(&det, Some("x {unclosed"), None, None).unwrap_err();
    assert!(bad_title.message.contains("unclosed"));
    assert_eq!(bad_title.section, Some("AlertTitle"));
    let ctx = yaml("[{KeyName: a, KeyValue: {KeyPathh: b}}]");
    let e = SimpleDetection::parse(&det, None, Some(&ctx), None).unwrap_err();
    assert!(e.message.contains("KeyPathh") && e.anchor() == "KeyPathh");
    let ctx = yaml("[{KeyName: a}]");
    let e = SimpleDetection::parse(&det, None, Some(&ctx), None).unwrap_err();
    assert!(e.message.contains("no KeyValue"));
    let ctx = yaml("[{KeyName: a, KeyValue: {}}]");
    let e = SimpleDetection::parse(&det, None, Some(&ctx), None).unwrap_err();
    assert!(e.message.contains("needs KeyPath"));
    let group = yaml("{KeyPath: a}");
    let e = SimpleDetection::parse(&det, None, None, Some(&group)).unwrap_err();
    assert!(e.message.contains("GroupBy must be a list"));
    let group = yaml("[{Path: a}]");
    let e = SimpleDetection::parse(&det, None, None, Some(&group)).unwrap_err();
    assert!(e.message.contains("unknown key \"Path\""));
}

#[test]
fn error_lines_prefer_the_section() {
    let text = "Description: reads operationName\nDetection:\n  - Key: operationName\n    Condition: IsIn\n";
    let e = parse_err("- {Key: operationName, Condition: IsIn}");
    assert_eq!(e.line_in(text), 3);
    let e = SimpleError::new("x", "nowhere");
    assert_eq!(e.line_in(text), 1);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut text = String::from("{Key: a, Condition: Exists}");
    for _ in 0..40 {
        text = format!("{{All: [{text}]}}");
    }
    let e = parse_err(&format!("[{text}]"));
    assert!(e.message.contains("nest deeper"), "{}", e.message);
    let mut text = String::from("{Key: a, Condition: Exists}");
    for _ in 0..(expr::MAX_DEPTH - 1) {
        text = format!("{{Any: [{text}]}}");
    }
    let d = detection(&format!("[{text}]"));
    assert!(matches(&d, json!({"a": 1})));
}

#[test]
fn huge_arrays_are_fine() {
    let d = detection("- {KeyPath: 'a[*][*]', Condition: Equals, Value: z}");
    let row: Vec<Value> = (0..1000).map(|i| json!(i)).collect();
    let rows: Vec<Value> = (0..200).map(|_| Value::Array(row.clone())).collect();
    assert!(!matches(&d, json!({ "a": rows })));
}

#[test]
fn needles_of_combinators() {
    let none = detection("- None: [{Key: a, Condition: Equals, Value: xyz}]");
    assert_eq!(none.needles(), None);
    let any_partial =
        detection("- Any: [{Key: a, Condition: Equals, Value: xyz}, {Key: b, Condition: Exists}]");
    assert_eq!(any_partial.needles(), None);
    let all_partial =
        detection("- All: [{Key: a, Condition: IEquals, Value: XYZ}, {Key: b, Condition: Exists}]");
    assert_eq!(all_partial.needles(), Some(vec!["xyz".to_string()]));
    let numeric = detection("- {Key: a, Condition: Equals, Value: 5}");
    assert_eq!(numeric.needles(), None);
}

/// Conditions and values drawn from a small vocabulary so that random records hit them.
const WORDS: [&str; 6] = ["key", "KeyGet", "get", "Vault", "x", ""];

fn arb_leaf() -> impl Strategy<Value = String> {
    let cond = prop::sample::select(vec![
        "Equals",
        "IEquals",
        "StartsWith",
        "IStartsWith",
        "EndsWith",
        "IEndsWith",
        "Contains",
        "IContains",
        "DoesNotEqual",
        "IDoesNotContain",
        "Exists",
        "IsNull",
    ]);
    let key = prop::sample::select(vec!["a", "B", "c.d", "l[*]", "l[0].a"]);
    let word = prop::sample::select(WORDS.to_vec());
    (key, cond, word).prop_map(|(key, cond, word)| match cond {
        "Exists" | "IsNull" => format!("{{KeyPath: '{key}', Condition: {cond}}}"),
        _ => format!("{{KeyPath: '{key}', Condition: {cond}, Value: '{word}'}}"),
    })
}

fn arb_expr() -> impl Strategy<Value = String> {
    let set = prop::sample::select(vec!["IsIn", "IIsIn"]);
    let members = prop::collection::vec(prop::sample::select(WORDS.to_vec()), 1..3);
    let key = prop::sample::select(vec!["a", "b", "l[*]"]);
    let leaf = prop_oneof![
        arb_leaf(),
        (key, set, members).prop_map(|(k, c, m)| {
            let list: Vec<String> = m.iter().map(|w| format!("'{w}'")).collect();
            format!(
                "{{KeyPath: '{k}', Condition: {c}, Values: [{}]}}",
                list.join(", ")
            )
        })
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        let comb = prop::sample::select(vec!["All", "Any", "OnlyOne", "None"]);
        (comb, prop::collection::vec(inner, 1..3))
            .prop_map(|(c, items)| format!("{{{c}: [{}]}}", items.join(", ")))
    })
}

fn arb_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        prop::sample::select(vec![
            "key",
            "KEYGET",
            "keyget",
            "xKeyGety",
            "Vault",
            "vault get",
            "x",
            "",
            "VAULTX"
        ])
        .prop_map(|s| json!(s)),
        Just(Value::Null),
        (0i64..3).prop_map(|n| json!(n)),
    ];
    scalar.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(vec!["a", "A", "d"]), inner), 0..3)
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
        ]
    })
}

fn arb_record() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["a", "A", "b", "B", "c", "C", "l", "L"]),
            arb_value(),
        ),
        0..6,
    )
    .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whenever a detection matches a record whose JSON text is ASCII without backslashes, one
    /// of its needles occurs in that text ignoring ASCII case.
    #[test]
    fn needles_never_lose_a_match(
        exprs in prop::collection::vec(arb_expr(), 1..3),
        record in arb_record(),
    ) {
        let text = format!("[{}]", exprs.join(", "));
        let d = SimpleDetection::parse(&yaml(&text), None, None, None).unwrap();
        let raw = serde_json::to_string(&record).unwrap();
        prop_assume!(raw.is_ascii() && !raw.contains('\\'));
        if d.matches(&Record::new(&record)).unwrap() {
            if let Some(needles) = d.needles() {
                let lower = raw.to_ascii_lowercase();
                prop_assert!(
                    needles.iter().any(|n| lower.contains(&n.to_ascii_lowercase())),
                    "{text} matched {raw} but no needle of {needles:?} is in it"
                );
            }
        }
    }
}
