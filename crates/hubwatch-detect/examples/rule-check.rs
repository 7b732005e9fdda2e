//! Development aid for rule ports: runs the upstream tests of every rule file of a directory
//! whose `Filename` has a port, and optionally evaluates records through them.
//!
//! `cargo run -p hubwatch-detect --example rule-check -- DIR [RECORDS.jsonl]`
//!
//! Without records it prints one line per failed test and `N passed, N failed`. With records
//! (one JSON object per line) it prints, for every (record, rule) that triggers or raises in
//! `rule()`, one JSON line: `{"i", "rule", "title", "dedup", "severity", "alert_context"}` or
//! `{"i", "rule", "error"}`, the format `tests/python/panther_oracle.py` prints for panther_core.

use hubwatch_detect::record::Record;
use hubwatch_detect::rules::{builtin, load_rule, selftest, Rule};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: rule-check DIR [RECORDS.jsonl]")?);
    let records = args.next();
    let mut rules: Vec<Rule> = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    paths.sort();
    let known = builtin::names();
    let mut unported = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let filename = text
            .lines()
            .find_map(|l| l.strip_prefix("Filename:"))
            .map(|f| f.trim().trim_matches('"').to_string());
        match filename {
            Some(f) if known.contains(&f.as_str()) => rules.push(load_rule(&path, &text)?),
            Some(f) => unported.push(f),
            None => {}
        }
    }
    eprintln!(
        "{} rule(s) with a port; {} without",
        rules.len(),
        unported.len()
    );
    let Some(records) = records else {
        let mut report = selftest::TestReport::default();
        for rule in &rules {
            selftest::run_rule(rule, &mut report);
        }
        for f in &report.failures {
            println!("{f}");
        }
        println!("{} passed, {} failed", report.passed, report.failed());
        return Ok(());
    };
    let file = std::io::BufReader::new(std::fs::File::open(records)?);
    for (i, line) in file.lines().enumerate() {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line?) else {
            continue;
        };
        let record = Record::new(&fields);
        for rule in &rules {
            let out = match rule.evaluate(&record) {
                Ok(None) => continue,
                Ok(Some(d)) => json!({
                    "i": i, "rule": rule.id(), "title": d.title, "dedup": d.dedup,
                    "severity": d.severity.as_str(), "alert_context": d.alert_context,
                }),
                Err(e) => json!({"i": i, "rule": rule.id(), "error": e.0}),
            };
            println!("{out}");
        }
    }
    Ok(())
}
