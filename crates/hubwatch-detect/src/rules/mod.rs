//! Detection rules: loading rule files, binding them to their logic, and evaluating records.
//!
//! A rule is Panther-format YAML (metadata, tests) plus logic: either a built-in Rust rule bound
//! by the YAML's `Filename` (see [`builtin`]) or a simple detection written in the YAML itself
//! (see [`simple`]). Rules are loaded and their tests run before any event is read.

pub mod builtin;
pub mod loader;
pub mod py;
pub mod selftest;
pub mod simple;
pub mod spec;

use crate::record::Record;
use serde_json::{Map, Value};
use spec::{Mitre, RuleSpec, Severity};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Panther cuts titles, dedup strings, runbooks and references at this many characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// What Panther appends to a generated title or dedup string it cut.
pub const TRUNCATED_SUFFIX: &str = "... (truncated)";

/// Panther replaces an alert context whose JSON is longer than this many characters.
pub const MAX_ALERT_CONTEXT_CHARS: usize = 200 * 1024;

/// Why a rule's code could not compute a result for a record (Panther's "rule error").
///
/// For ports of Python rules the text is the Python exception's `repr`, which Panther puts in
/// an alert context that raised (`{"_error": "KeyError('x')"}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

impl RuleError {
    /// A Python exception `kind(message)`, rendered as Python's `repr` renders it.
    pub fn python(kind: &str, message: &str) -> RuleError {
        RuleError(format!(
            "{kind}({})",
            crate::record::python_repr(&Value::String(message.to_string()))
        ))
    }
}

/// The logic of a rule: Panther's `rule()`, `title()`, `dedup()` and `alert_context()`.
pub trait Logic: Send + Sync + std::fmt::Debug {
    /// Whether the record matches.
    fn matches(&self, record: &Record) -> Result<bool, RuleError>;

    /// The alert title; `None` when the rule defines no title function.
    fn title(&self, record: &Record) -> Result<Option<String>, RuleError>;

    /// The dedup string; `None` when the rule defines no dedup function.
    fn dedup(&self, _record: &Record) -> Result<Option<String>, RuleError> {
        Ok(None)
    }

    /// Extra context for the alert, keys in the rule's order.
    fn alert_context(&self, _record: &Record) -> Result<Map<String, Value>, RuleError> {
        Ok(Map::new())
    }

    /// Panther's `severity()`: the returned text (any case, `DEFAULT` for the rule's own);
    /// `None` when the rule defines no severity function.
    fn severity(&self, _record: &Record) -> Option<Result<String, RuleError>> {
        None
    }

    /// Substrings (compared ASCII case-insensitively) at least one of which appears in the raw
    /// text of every record this rule can match, provided the text is pure ASCII and holds no
    /// backslash. `None` when the rule cannot promise that; then every record is evaluated.
    fn needles(&self) -> Option<Vec<String>>;
}

/// A loaded, enabled rule.
#[derive(Debug)]
pub struct Rule {
    pub spec: RuleSpec,
    pub path: PathBuf,
    pub logic: Arc<dyn Logic>,
    pub mitre: Vec<Mitre>,
}

/// What a rule produced for a matching record.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub title: String,
    pub dedup: String,
    pub alert_context: Map<String, Value>,
    /// The rule's severity, or what its `severity()` returned for this record.
    pub severity: Severity,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.spec.rule_id
    }

    pub fn severity(&self) -> Severity {
        self.spec.severity
    }

    pub fn dedup_period_minutes(&self) -> u64 {
        self.spec.dedup_period_minutes.unwrap_or(60).max(1)
    }

    pub fn threshold(&self) -> u64 {
        self.spec.threshold.unwrap_or(1).max(1)
    }

    /// Runs the rule on a record: `Ok(None)` when it does not match.
    ///
    /// As Panther's log analysis does (`Rule.run(..., batch_mode=True)`): an error in `rule()`
    /// is a rule error and raises no alert; an error in any other function still alerts, with
    /// that function's default (title: the rule id; dedup: `defaultDedupString:ID`; severity:
    /// the rule's own; alert context: `{"_error": repr(exception)}`).
    pub fn evaluate(&self, record: &Record) -> Result<Option<Detection>, RuleError> {
        if !self.logic.matches(record)? {
            return Ok(None);
        }
        let title_fn = match self.logic.title(record) {
            Ok(t) => t.map(|t| truncate_generated(&t)),
            Err(_) => Some(self.spec.rule_id.clone()),
        };
        let default_dedup = || format!("defaultDedupString:{}", self.spec.rule_id);
        let dedup = match self.logic.dedup(record) {
            Ok(Some(d)) if !d.is_empty() => truncate_generated(&d),
            Ok(Some(_)) | Err(_) => default_dedup(),
            Ok(None) => match &title_fn {
                Some(t) if !t.is_empty() => t.clone(),
                _ => default_dedup(),
            },
        };
        let alert_context = match self.logic.alert_context(record) {
            Ok(ctx) => {
                let len = py::json_dumps_object_len(&ctx);
                if len > MAX_ALERT_CONTEXT_CHARS {
                    context_error(format!(
                        "alert_context size is [{len}] characters, bigger than maximum of [{MAX_ALERT_CONTEXT_CHARS}] characters"
                    ))
                } else {
                    ctx
                }
            }
            Err(e) => context_error(e.0),
        };
        let severity = match self.logic.severity(record) {
            Some(Ok(s)) => s.to_uppercase().parse().unwrap_or(self.spec.severity),
            Some(Err(_)) | None => self.spec.severity,
        };
        let title = match title_fn {
            Some(t) if !t.is_empty() => t,
            _ => truncate(
                self.spec
                    .display_name
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .unwrap_or(&self.spec.rule_id),
            ),
        };
        Ok(Some(Detection {
            title,
            dedup,
            alert_context,
            severity,
        }))
    }
}

fn context_error(message: String) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_error".into(), Value::String(message));
    m
}

/// Cuts a generated title or dedup string as Panther does: over [`MAX_TEXT_CHARS`] characters,
/// the first 985 and [`TRUNCATED_SUFFIX`].
pub fn truncate_generated(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT_CHARS {
        return s.to_string();
    }
    let keep = MAX_TEXT_CHARS - TRUNCATED_SUFFIX.chars().count();
    let cut = s
        .char_indices()
        .nth(keep)
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    format!("{}{TRUNCATED_SUFFIX}", &s[..cut])
}

/// Cuts text at [`MAX_TEXT_CHARS`] characters, as Panther does.
pub fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// A rule file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read rules directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read rule file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: duplicate RuleID {rule_id:?} (also in {other})")]
    Duplicate {
        path: PathBuf,
        rule_id: String,
        other: PathBuf,
    },
    #[error("{} rule(s) cannot run in hubwatch (set rules.skip_unsupported = true to run without them): {}", .0.len(), list_unsupported(.0))]
    Unsupported(Vec<loader::Unsupported>),
    #[error("no enabled rule: {}", describe_selection(.dir, .builtin))]
    NoRules {
        dir: Option<PathBuf>,
        builtin: Vec<String>,
    },
}

fn list_unsupported(list: &[loader::Unsupported]) -> String {
    list.iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_selection(dir: &Option<PathBuf>, builtin: &[String]) -> String {
    let dir = match dir {
        Some(d) => format!("{} holds none", d.display()),
        None => "no rules directory".to_string(),
    };
    format!(
        "{dir}, and rules.builtin = {builtin:?} selects no built-in rule; a detection service that detects nothing is a mistake"
    )
}

impl LoadError {
    fn invalid(path: &Path, line: usize, message: impl Into<String>) -> Self {
        LoadError::Invalid {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// Every enabled rule of a directory.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Rules found but disabled (`Enabled: false`), kept for `hubwatch test`.
    pub disabled: Vec<Rule>,
}

impl RuleSet {
    /// The rules of `dir` alone (recursive, Panther's layout); see [`loader`].
    pub fn load_dir(dir: &Path) -> Result<RuleSet, LoadError> {
        RuleSet::load(&loader::RuleOptions::dir_only(dir)).map(|(set, _)| set)
    }

    /// The rule set used when a configuration says nothing: the default built-in selection.
    pub fn embedded() -> Result<RuleSet, LoadError> {
        RuleSet::load(&loader::RuleOptions::default()).map(|(set, _)| set)
    }
}

/// The shipped rule files, compiled in so the binary works without a rules directory: path,
/// `RuleID` (so that a load parses only the ones it selects; a test holds it to the file's)
/// and text.
pub const EMBEDDED_RULES: &[(&str, &str, &str)] = &[
    (
        "rules/azure_keyvault_key_accessed_or_recovered.yml",
        "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered",
        include_str!("../../../../rules/azure_keyvault_key_accessed_or_recovered.yml"),
    ),
    (
        "rules/azure_keyvault_auditevent_key_access.yml",
        "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered",
        include_str!("../../../../rules/azure_keyvault_auditevent_key_access.yml"),
    ),
    (
        "rules/azure_keyvault_auditevent_secret_access.yml",
        "Azure.KeyVault.AuditEvent.SecretAccessedOrRecovered",
        include_str!("../../../../rules/azure_keyvault_auditevent_secret_access.yml"),
    ),
    (
        "rules/azure_keyvault_auditevent_certificate_access.yml",
        "Azure.KeyVault.AuditEvent.CertificateAccessed",
        include_str!("../../../../rules/azure_keyvault_auditevent_certificate_access.yml"),
    ),
    (
        "rules/azure_keyvault_auditevent_access_denied.yml",
        "Azure.KeyVault.AuditEvent.DataPlaneAccessDenied",
        include_str!("../../../../rules/azure_keyvault_auditevent_access_denied.yml"),
    ),
];

impl Rule {
    /// A built-in port as a rule of its own, from the upstream facts it carries (no YAML: the
    /// rule has no tests here; its exactness is checked against panther_core).
    pub fn from_port(port: &builtin::Port) -> Rule {
        let m = &port.meta;
        let spec = RuleSpec {
            analysis_type: "rule".into(),
            filename: Some(port.filename.into()),
            rule_id: m.rule_id.into(),
            display_name: Some(m.display_name.into()),
            enabled: m.enabled,
            log_types: vec![AZURE_MONITOR_ACTIVITY.into()],
            severity: m.severity,
            description: Some(m.description.into()),
            reports: [(
                "MITRE ATT&CK".to_string(),
                m.mitre.iter().map(|s| s.to_string()).collect(),
            )]
            .into_iter()
            .collect(),
            tags: Vec::new(),
            runbook: None,
            reference: Some(m.reference.into()),
            summary_attributes: m.summary_attributes.iter().map(|s| s.to_string()).collect(),
            dedup_period_minutes: m.dedup_period_minutes,
            threshold: m.threshold,
            tests: Vec::new(),
            detection: None,
            alert_title: None,
            alert_context: None,
            group_by: None,
            output_ids: Vec::new(),
            status: None,
            create_alert: Some(m.create_alert),
        };
        let mitre = spec.mitre();
        Rule {
            spec,
            path: PathBuf::from(format!("builtin:{}", port.filename)),
            logic: (port.logic)(),
            mitre,
        }
    }
}

/// The Panther log type of Azure Monitor Activity logs (and the resource logs streamed beside
/// them), the one log type hubwatch reads.
pub const AZURE_MONITOR_ACTIVITY: &str = "Azure.MonitorActivity";

/// Parses one rule file and binds its logic.
pub fn load_rule(path: &Path, text: &str) -> Result<Rule, LoadError> {
    let spec: RuleSpec = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(1);
        LoadError::invalid(path, line, e.to_string())
    })?;
    if spec.analysis_type != "rule" {
        return Err(LoadError::invalid(
            path,
            line_of(text, "AnalysisType"),
            format!(
                "AnalysisType {:?} is not supported (only \"rule\")",
                spec.analysis_type
            ),
        ));
    }
    if spec.rule_id.trim().is_empty() {
        return Err(LoadError::invalid(
            path,
            line_of(text, "RuleID"),
            "RuleID is empty",
        ));
    }
    let logic: Arc<dyn Logic> = match (&spec.detection, &spec.filename) {
        (Some(detection), _) => {
            let parsed = simple::SimpleDetection::parse(
                detection,
                spec.alert_title.as_deref(),
                spec.alert_context.as_ref(),
                spec.group_by.as_ref(),
            )
            .map_err(|e| LoadError::invalid(path, e.line_in(text), e.to_string()))?;
            Arc::new(parsed)
        }
        (None, Some(filename)) => builtin::lookup(filename).ok_or_else(|| {
            LoadError::invalid(
                path,
                line_of(text, "Filename"),
                format!(
                    "Filename {filename:?} names no built-in rule (known: {})",
                    builtin::names().join(", ")
                ),
            )
        })?,
        (None, None) => {
            return Err(LoadError::invalid(
                path,
                1,
                "a rule needs either a Detection block or a Filename naming a built-in rule",
            ))
        }
    };
    let mitre = spec.mitre();
    Ok(Rule {
        spec,
        path: path.to_path_buf(),
        logic,
        mitre,
    })
}

/// The 1-based line where `needle` first occurs in `text` (1 when absent).
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or(1)
}
