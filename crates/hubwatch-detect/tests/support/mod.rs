//! Shared by the differential tests: panther_oracle.py's output format, Python's `json.dumps`,
//! and the comparison of a rule's result with panther_core's, field by field.

#![allow(dead_code)] // each test binary uses its own part

use hubwatch_detect::record::python_repr;
use hubwatch_detect::rules::{truncate, Detection, RuleError};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The repository root (the crate is `crates/hubwatch-detect`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The lines of a gzipped text file, exactly as written (without their `\n`).
pub fn gz_lines(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map(|l| l.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// One line of panther_oracle.py's output: an alert (`title` is `null` when the rule has no
/// title function) or, when `rule()` raised, `error` (the exception's `repr`). The alert context
/// is kept as the text Python's `json.dumps` wrote, so key order and number forms count.
#[derive(Debug, Deserialize)]
pub struct OracleLine {
    pub i: usize,
    pub rule: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub dedup: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub alert_context: Option<Box<RawValue>>,
}

impl OracleLine {
    /// A line; a lone surrogate escape (Python strings can hold one, e.g. from `json.loads`
    /// inside a rule; Rust strings cannot) is read as U+FFFD, so such a line still compares.
    pub fn parse(line: &str) -> OracleLine {
        serde_json::from_str(line)
            .or_else(|_| serde_json::from_str(&lone_surrogates_replaced(line)))
            .unwrap_or_else(|e| panic!("oracle line {line:.200}: {e}"))
    }
}

fn lone_surrogates_replaced(line: &str) -> String {
    let unit = |at: usize| -> Option<u16> {
        let hex = line.get(at..at + 6)?.strip_prefix("\\u")?;
        u16::from_str_radix(hex, 16).ok()
    };
    let (mut out, mut i) = (String::with_capacity(line.len()), 0);
    while i < line.len() {
        if line[i..].starts_with("\\\\") {
            out.push_str("\\\\");
            i += 2;
            continue;
        }
        match unit(i) {
            Some(0xd800..=0xdbff) if matches!(unit(i + 6), Some(0xdc00..=0xdfff)) => {
                out.push_str(&line[i..i + 12]);
                i += 12;
            }
            Some(0xd800..=0xdfff) => {
                out.push_str("\\ufffd");
                i += 6;
            }
            _ => {
                let c = line[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// Python's `json.dumps(v)` with its defaults: `ensure_ascii`, separators `", "` and `": "`,
/// floats as `float.__repr__`.
pub fn py_dumps(v: &Value) -> String {
    let mut out = String::new();
    dump(v, &mut out);
    out
}

fn dump(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(_) => out.push_str(&python_repr(v)),
        Value::String(s) => dump_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_str(k, out);
                out.push_str(": ");
                dump(x, out);
            }
            out.push('}');
        }
    }
}

fn dump_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// One field on which hubwatch and panther_core disagree for a (record, rule).
#[derive(Debug, Clone)]
pub struct Diff {
    pub record: usize,
    pub rule: String,
    pub field: &'static str,
    pub panther: String,
    pub hubwatch: String,
}

impl Diff {
    /// The difference, with both values (long ones around their first differing character)
    /// and the record's beginning.
    pub fn render(&self, record_text: &str) -> String {
        let (p, h) = excerpts(&self.panther, &self.hubwatch);
        format!(
            "record {} rule {}: {}\n    panther_core: {p}\n    hubwatch:     {h}\n    record: {:.300}",
            self.record, self.rule, self.field, record_text
        )
    }
}

fn excerpts(a: &str, b: &str) -> (String, String) {
    const SHORT: usize = 240;
    let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if ac.len() <= SHORT && bc.len() <= SHORT {
        return (a.to_string(), b.to_string());
    }
    let at = ac.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let cut = |cs: &[char]| {
        let from = at.saturating_sub(60);
        let to = (at + 120).min(cs.len());
        let text: String = cs[from.min(to)..to].iter().collect();
        let (pre, post) = (
            if from > 0 { "…" } else { "" },
            if to < cs.len() { "…" } else { "" },
        );
        format!(
            "{pre}{text}{post} ({} chars, first difference at char {at})",
            cs.len()
        )
    };
    (cut(&ac), cut(&bc))
}

fn describe(actual: &Result<Option<Detection>, RuleError>) -> String {
    match actual {
        Ok(None) => "no alert".into(),
        Ok(Some(d)) => format!("alert {:?}", d.title),
        Err(e) => format!("rule error {}", e.0),
    }
}

/// Compares hubwatch's result for one (record, rule) with panther_core's line (`None`: no
/// alert and no rule error). Panther names an alert whose title is missing or empty after the
/// rule (display name, else id), as `Rule::evaluate` does: `display_name` is the upstream one.
pub fn compare(
    record: usize,
    rule_id: &str,
    display_name: &str,
    expected: Option<&OracleLine>,
    actual: &Result<Option<Detection>, RuleError>,
) -> Vec<Diff> {
    let diff = |field: &'static str, panther: String, hubwatch: String| Diff {
        record,
        rule: rule_id.to_string(),
        field,
        panther,
        hubwatch,
    };
    let Some(exp) = expected else {
        return match actual {
            Ok(None) => vec![],
            other => vec![diff("trigger", "no alert".into(), describe(other))],
        };
    };
    if let Some(err) = &exp.error {
        return match actual {
            Err(e) if &e.0 == err => vec![],
            Err(e) => vec![diff("rule error", err.clone(), e.0.clone())],
            other => vec![diff(
                "trigger",
                format!("rule error {err}"),
                describe(other),
            )],
        };
    }
    let Ok(Some(d)) = actual else {
        let title = exp.title.clone().unwrap_or_default();
        return vec![diff(
            "trigger",
            format!("alert {title:?}"),
            describe(actual),
        )];
    };
    let mut out = Vec::new();
    let title = match exp.title.as_deref() {
        Some(t) if !t.is_empty() => t.to_string(),
        _ if display_name.is_empty() => truncate(rule_id),
        _ => truncate(display_name),
    };
    if d.title != title {
        out.push(diff("title", title, d.title.clone()));
    }
    let dedup = exp.dedup.clone().unwrap_or_default();
    if d.dedup != dedup {
        out.push(diff("dedup", dedup, d.dedup.clone()));
    }
    let severity = exp.severity.clone().unwrap_or_default();
    if d.severity.as_str() != severity {
        out.push(diff("severity", severity, d.severity.as_str().into()));
    }
    let context = exp.alert_context.as_ref().map(|c| c.get()).unwrap_or("{}");
    let ours = py_dumps(&Value::Object(d.alert_context.clone()));
    if ours != context {
        out.push(diff("alert_context", context.to_string(), ours));
    }
    out
}

/// A record line as a JSON object, parsed as the service parses records (`None` when it is
/// not one; the oracle skips those too).
pub fn parse_record(line: &str) -> Option<Map<String, Value>> {
    hubwatch_detect::record::parse_object(line).ok()
}
