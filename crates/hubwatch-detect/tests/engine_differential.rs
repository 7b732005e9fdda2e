//! The engine semantics of `Rule::evaluate` and `rules::py` against panther_core, live.
//!
//! `tests/python/engine_rules/` holds small rules of our own that exercise what Panther's
//! engine does around a rule: titles rendering event values (Panther's `ImmutableList` and
//! `ImmutableCaseInsensitiveDict` wrappers), titles that raise, are not strings or run over
//! 1,000 characters, dedup strings that raise or are empty, alert contexts with nested event
//! values, exceptions (`{"_error": repr}`) and the 200 KiB limit, dynamic severities,
//! case-insensitive lookups of keys that differ only in case, `deep_get`, `rule()` errors and
//! `json.loads` inside a rule. `fixtures.rs` twins each in Rust.
//!
//! The test generates records (`tests/python/gen_engine_records.py`), runs panther_core over
//! them (`tests/python/panther_oracle.py`) and asserts that every fixture gives, per record,
//! the same trigger or rule error, title, dedup, severity and alert context text. Records the
//! generator marked with a tracked difference are reported apart. Without python3 and
//! panther_core the test skips, except under `CI=true`, where it fails.

#[path = "engine_differential/fixtures.rs"]
mod fixtures;
mod support;

use hubwatch_detect::record::Record;
use hubwatch_detect::rules::Rule;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use support::{compare, parse_record, repo_root, Diff, OracleLine};

const SHOWN: usize = 8;

#[derive(Debug, Deserialize)]
struct Marks {
    known: BTreeMap<String, String>,
    records: BTreeMap<String, Vec<usize>>,
}

/// What the fixture's YAML says (the Python side's truth).
#[derive(Debug, Deserialize)]
struct Yaml {
    #[serde(rename = "RuleID")]
    rule_id: String,
    #[serde(rename = "Filename")]
    filename: String,
    #[serde(rename = "DisplayName", default)]
    display_name: String,
    #[serde(rename = "Severity")]
    severity: String,
}

fn python_with_panther_core() -> bool {
    Command::new("python3")
        .args(["-c", "import panther_core"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(root: &Path, args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(args)
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("python3 {args:?}: {e}"));
    assert!(
        out.status.success(),
        "python3 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn yaml_rules(dir: &Path) -> Vec<Yaml> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("engine_rules")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("rule YAML");
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

#[test]
fn engine_semantics_match_panther_core_live() {
    if !python_with_panther_core() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: python3 with panther_core is required (pip install -r tests/python/requirements.txt)"
        );
        eprintln!("SKIP engine_differential: python3 with panther_core not found (pip install -r tests/python/requirements.txt)");
        return;
    }
    let root = repo_root();
    let dir = std::env::temp_dir().join(format!("hubwatch-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (records_path, marks_path) = (dir.join("records.jsonl"), dir.join("marks.json"));
    let (records_arg, marks_arg) = (
        records_path.to_string_lossy().into_owned(),
        marks_path.to_string_lossy().into_owned(),
    );
    run(
        &root,
        &[
            "tests/python/gen_engine_records.py",
            "--out",
            &records_arg,
            "--marks",
            &marks_arg,
        ],
    );
    let oracle = run(
        &root,
        &[
            "tests/python/panther_oracle.py",
            "tests/python/engine_rules",
            &records_arg,
        ],
    );
    let records: Vec<String> = std::fs::read_to_string(&records_path)
        .expect("records")
        .lines()
        .map(String::from)
        .collect();
    let marks: Marks = serde_json::from_str(&std::fs::read_to_string(&marks_path).expect("marks"))
        .expect("marks parse");
    std::fs::remove_dir_all(&dir).ok();

    // Fixtures against their YAML, by Filename.
    let fixtures = fixtures::ports();
    let yamls = yaml_rules(&root.join("tests/python/engine_rules"));
    let mut problems = Vec::new();
    let mut rules: Vec<(Rule, &Yaml)> = Vec::new();
    for y in &yamls {
        match fixtures.iter().find(|p| p.filename == y.filename) {
            None => problems.push(format!("{} has no Rust twin in fixtures.rs", y.filename)),
            Some(p) => {
                let m = &p.meta;
                if (m.rule_id, m.display_name, m.severity.as_str())
                    != (
                        y.rule_id.as_str(),
                        y.display_name.as_str(),
                        y.severity.to_uppercase().as_str(),
                    )
                {
                    problems.push(format!(
                        "{}: fixture facts differ from the YAML",
                        y.filename
                    ));
                }
                rules.push((Rule::from_port(p), y));
            }
        }
    }
    assert_eq!(
        rules.len(),
        fixtures.len(),
        "every fixture has a YAML: {problems:?}"
    );

    let expected: HashMap<(usize, String), OracleLine> = oracle
        .lines()
        .map(OracleLine::parse)
        .map(|o| ((o.i, o.rule.clone()), o))
        .collect();
    let marked: HashMap<usize, &str> = marks
        .records
        .iter()
        .flat_map(|(name, idx)| idx.iter().map(move |&i| (i, name.as_str())))
        .collect();
    let mut failures: Vec<Diff> = Vec::new();
    let mut known: BTreeMap<&str, Vec<Diff>> = BTreeMap::new();
    for (i, line) in records.iter().enumerate() {
        let fields = parse_record(line).unwrap_or_else(|| panic!("record {i}: {line:.200}"));
        let record = Record::new(&fields);
        for (rule, y) in &rules {
            let exp = expected.get(&(i, y.rule_id.clone()));
            let diffs = compare(i, &y.rule_id, &y.display_name, exp, &rule.evaluate(&record));
            match marked.get(&i) {
                Some(name) => known.entry(name).or_default().extend(diffs),
                None => failures.extend(diffs),
            }
        }
    }
    eprintln!(
        "engine: {} records x {} fixtures; panther_core gave {} alerts or rule errors",
        records.len(),
        rules.len(),
        expected.len()
    );
    for (name, about) in &marks.known {
        let diffs = known.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let n = marks.records.get(name).map_or(0, Vec::len);
        eprintln!(
            "known: {name} ({about}): {} differences in {n} marked records",
            diffs.len()
        );
        for d in diffs.iter().take(3) {
            eprintln!("  {}", d.render(&records[d.record]));
        }
    }
    if !failures.is_empty() {
        problems.push(format!(
            "{} differences from panther_core; the first {}:\n{}",
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
