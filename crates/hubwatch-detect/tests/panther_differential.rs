//! Exactness of the Azure Activity rule ports against Panther's own engine, on golden data.
//!
//! `tests/data/activity_records.jsonl.gz` holds records made by
//! `tests/python/gen_activity_records.py`; `tests/data/panther_golden.jsonl.gz` holds what
//! panther_core (`Rule.run(..., batch_mode=True)`) gave for them with the upstream rules, made
//! by `scripts/panther-golden.sh PANTHER_ANALYSIS_CHECKOUT` (the one command that regenerates
//! both). No upstream code is needed here.
//!
//! For every record and every ported rule found in the golden header (matched by `Filename`):
//! the same trigger or rule error (exception `repr` exactly), and for an alert the same title,
//! dedup string, severity and alert context (the text Python's `json.dumps` writes: values, key
//! order, number forms, `{"_error": repr}` contexts). The ports must carry the upstream facts
//! (id, display name, severity, grouping) the header lists.
//!
//! Every golden rule must have a port, and a port that the golden data does not cover fails:
//! regenerate. Records the
//! generator marked with a centrally tracked difference (header `known`, e.g. integers beyond
//! 64 bits) are reported apart and do not fail the test.

mod support;

use hubwatch_detect::record::Record;
use hubwatch_detect::rules::builtin::{self, Port};
use hubwatch_detect::rules::Rule;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use support::{compare, gz_lines, parse_record, Diff, OracleLine};

const SHOWN: usize = 8;

#[derive(Debug, Deserialize)]
struct Header {
    records: usize,
    records_sha256: String,
    panther_core: String,
    python: String,
    known: BTreeMap<String, Known>,
    rules: Vec<Facts>,
}

#[derive(Debug, Deserialize)]
struct Known {
    about: String,
    records: Vec<usize>,
}

/// What the upstream YAML says about a rule.
#[derive(Debug, Deserialize)]
struct Facts {
    rule_id: String,
    filename: String,
    display_name: String,
    enabled: bool,
    severity: String,
    create_alert: bool,
    dedup_period_minutes: Option<u64>,
    threshold: Option<u64>,
}

fn fact_mismatches(f: &Facts, p: &Port) -> Vec<String> {
    let m = &p.meta;
    let mut out = Vec::new();
    let mut check = |name: &str, upstream: String, port: String| {
        if upstream != port {
            out.push(format!(
                "{}: {name} upstream {upstream:?}, port {port:?}",
                f.filename
            ));
        }
    };
    check("RuleID", f.rule_id.clone(), m.rule_id.into());
    check("DisplayName", f.display_name.clone(), m.display_name.into());
    check("Enabled", f.enabled.to_string(), m.enabled.to_string());
    check("Severity", f.severity.clone(), m.severity.as_str().into());
    check(
        "CreateAlert",
        f.create_alert.to_string(),
        m.create_alert.to_string(),
    );
    check(
        "DedupPeriodMinutes",
        format!("{:?}", f.dedup_period_minutes),
        format!("{:?}", m.dedup_period_minutes),
    );
    check(
        "Threshold",
        format!("{:?}", f.threshold),
        format!("{:?}", m.threshold),
    );
    out
}

fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn ports_match_panther_core_on_golden_records() {
    let golden = gz_lines(&data("panther_golden.jsonl.gz"));
    let (header_line, outputs) = golden.split_first().expect("golden header");
    let header: Header = serde_json::from_str(header_line).expect("golden header parses");
    let records = gz_lines(&data("activity_records.jsonl.gz"));
    let mut sha = Sha256::new();
    for r in &records {
        sha.update(r.as_bytes());
        sha.update(b"\n");
    }
    assert_eq!(
        (records.len(), hex::encode(sha.finalize())),
        (header.records, header.records_sha256.clone()),
        "records and golden outputs are from different runs: regenerate with scripts/panther-golden.sh"
    );

    // Ports against the golden rules, by Filename.
    let by_file: HashMap<&str, &Facts> = header
        .rules
        .iter()
        .map(|f| (f.filename.as_str(), f))
        .collect();
    let mut problems = Vec::new();
    let mut rules: Vec<(Rule, &Facts)> = Vec::new();
    // The Panther ports; hubwatch's own rules (keyvault_dataplane) have no upstream to compare with.
    for port in builtin::azure_activity::ports() {
        match by_file.get(port.filename) {
            None => problems.push(format!(
                "port {} has no golden outputs: regenerate with scripts/panther-golden.sh",
                port.filename
            )),
            Some(f) => {
                problems.extend(fact_mismatches(f, port));
                rules.push((Rule::from_port(port), f));
            }
        }
    }
    let ported: Vec<&str> = rules.iter().map(|(_, f)| f.filename.as_str()).collect();
    let skipped: Vec<&str> = header
        .rules
        .iter()
        .map(|f| f.filename.as_str())
        .filter(|f| !ported.contains(f))
        .collect();

    let mut expected: HashMap<(usize, &str), OracleLine> = HashMap::new();
    for line in outputs {
        let o = OracleLine::parse(line);
        let key = (o.i, header_rule_id(&header, &o.rule));
        expected.insert(key, o);
    }
    let marked: HashMap<usize, &str> = header
        .known
        .iter()
        .flat_map(|(name, k)| k.records.iter().map(move |&i| (i, name.as_str())))
        .collect();

    let mut failures: Vec<Diff> = Vec::new();
    let mut known: BTreeMap<&str, Vec<Diff>> = BTreeMap::new();
    let mut compared = 0usize;
    let (mut alerts, mut errors) = (0usize, 0usize);
    for (i, line) in records.iter().enumerate() {
        let Some(fields) = parse_record(line) else {
            panic!("record {i} is not a JSON object hubwatch can parse: {line:.300}");
        };
        let record = Record::new(&fields);
        for (rule, facts) in &rules {
            let exp = expected.get(&(i, facts.rule_id.as_str()));
            match exp {
                Some(e) if e.error.is_some() => errors += 1,
                Some(_) => alerts += 1,
                None => {}
            }
            compared += 1;
            let diffs = compare(
                i,
                &facts.rule_id,
                &facts.display_name,
                exp,
                &rule.evaluate(&record),
            );
            match marked.get(&i) {
                Some(name) => known.entry(name).or_default().extend(diffs),
                None => failures.extend(diffs),
            }
        }
    }

    eprintln!(
        "golden: {} records x {} ported rules = {compared} comparisons ({alerts} alerts, {errors} rule errors expected); panther_core {} on Python {}",
        records.len(),
        rules.len(),
        header.panther_core,
        header.python
    );
    if !skipped.is_empty() {
        eprintln!(
            "skipped, no port yet ({} of {}): {}",
            skipped.len(),
            header.rules.len(),
            skipped.join(", ")
        );
        problems.push(format!("{} golden rules have no port", skipped.len()));
    }
    for (name, k) in &header.known {
        let diffs = known.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        eprintln!(
            "known: {name} ({}): {} differences in {} marked records",
            k.about,
            diffs.len(),
            k.records.len()
        );
        for d in diffs.iter().take(3) {
            eprintln!("  {}", d.render(&records[d.record]));
        }
    }
    if !failures.is_empty() {
        let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &failures {
            *per_rule.entry(d.rule.as_str()).or_default() += 1;
        }
        problems.push(format!(
            "{} differences from panther_core (per rule: {per_rule:?}); the first {}:\n{}",
            failures.len(),
            SHOWN.min(failures.len()),
            failures
                .iter()
                .take(SHOWN)
                .map(|d| d.render(&records[d.record]))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The golden header's spelling of a rule id (the map keys borrow from the header).
fn header_rule_id<'a>(header: &'a Header, id: &str) -> &'a str {
    header
        .rules
        .iter()
        .find(|f| f.rule_id == id)
        .map(|f| f.rule_id.as_str())
        .unwrap_or_else(|| panic!("golden output for rule {id} not in the header"))
}

#[test]
fn python_json_dumps_emulation() {
    // json.dumps({"a": [1, 1.0, 1e16, None, True], "é": "\x7f\"\n😀"}) in Python.
    let v = serde_json::json!({"a": [1, 1.0, 1e16, null, true], "é": "\u{7f}\"\n😀"});
    assert_eq!(
        support::py_dumps(&v),
        r#"{"a": [1, 1.0, 1e+16, null, true], "\u00e9": "\u007f\"\n\ud83d\ude00"}"#
    );
}
