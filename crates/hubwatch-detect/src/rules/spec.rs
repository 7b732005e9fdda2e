//! The Panther rule file format: what a YAML file in `rules/` may contain.
//!
//! Field names are Panther's. Unknown top-level keys are rejected so that a typo such as
//! `Treshold` is a load-time error rather than a silently ignored setting.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One rule file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(rename = "AnalysisType")]
    pub analysis_type: String,
    /// Panther's Python file; hubwatch binds it to a built-in Rust rule of the same name.
    #[serde(rename = "Filename", default)]
    pub filename: Option<String>,
    #[serde(rename = "RuleID")]
    pub rule_id: String,
    #[serde(rename = "DisplayName", default)]
    pub display_name: Option<String>,
    #[serde(rename = "Enabled", default = "default_true")]
    pub enabled: bool,
    #[serde(rename = "LogTypes", default)]
    pub log_types: Vec<String>,
    #[serde(rename = "Severity")]
    pub severity: Severity,
    #[serde(rename = "Description", default)]
    pub description: Option<String>,
    #[serde(rename = "Reports", default)]
    pub reports: BTreeMap<String, Vec<String>>,
    #[serde(rename = "Tags", default)]
    pub tags: Vec<String>,
    #[serde(rename = "Runbook", default)]
    pub runbook: Option<String>,
    #[serde(rename = "Reference", default)]
    pub reference: Option<String>,
    #[serde(rename = "SummaryAttributes", default)]
    pub summary_attributes: Vec<String>,
    #[serde(rename = "DedupPeriodMinutes", default)]
    pub dedup_period_minutes: Option<u64>,
    #[serde(rename = "Threshold", default)]
    pub threshold: Option<u64>,
    #[serde(rename = "Tests", default)]
    pub tests: Vec<RuleTestSpec>,
    /// A simple detection (no code): Panther's match expression list.
    #[serde(rename = "Detection", default)]
    pub detection: Option<serde_norway::Value>,
    /// Title template of a simple detection, with `{field}` placeholders.
    #[serde(rename = "AlertTitle", default)]
    pub alert_title: Option<String>,
    /// Alert context of a simple detection.
    #[serde(rename = "AlertContext", default)]
    pub alert_context: Option<serde_norway::Value>,
    /// Dedup key fields of a simple detection.
    #[serde(rename = "GroupBy", default)]
    pub group_by: Option<serde_norway::Value>,
    #[serde(rename = "OutputIds", default)]
    pub output_ids: Vec<String>,
    #[serde(rename = "Status", default)]
    pub status: Option<String>,
    #[serde(rename = "CreateAlert", default)]
    pub create_alert: Option<bool>,
}

fn default_true() -> bool {
    true
}

/// One of a rule's `Tests`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTestSpec {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ExpectedResult")]
    pub expected_result: bool,
    #[serde(rename = "Log")]
    pub log: serde_json::Value,
    #[serde(rename = "Mocks", default)]
    pub mocks: Option<serde_norway::Value>,
}

/// Panther's severities; alerts carry them upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    #[serde(alias = "INFO", alias = "info", rename(serialize = "INFO"))]
    Info,
    #[serde(alias = "LOW", alias = "low", rename(serialize = "LOW"))]
    Low,
    #[serde(alias = "MEDIUM", alias = "medium", rename(serialize = "MEDIUM"))]
    Medium,
    #[serde(alias = "HIGH", alias = "high", rename(serialize = "HIGH"))]
    High,
    #[serde(alias = "CRITICAL", alias = "critical", rename(serialize = "CRITICAL"))]
    Critical,
}

impl Severity {
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "INFO" => Ok(Severity::Info),
            "LOW" => Ok(Severity::Low),
            "MEDIUM" => Ok(Severity::Medium),
            "HIGH" => Ok(Severity::High),
            "CRITICAL" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity {s:?} (expected INFO, LOW, MEDIUM, HIGH or CRITICAL)"
            )),
        }
    }
}

/// A MITRE ATT&CK tactic/technique pair from `Reports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mitre {
    pub tactic: String,
    pub technique: String,
}

impl RuleSpec {
    /// `Reports: MITRE ATT&CK: ["TA0006:T1555", ...]` as pairs.
    pub fn mitre(&self) -> Vec<Mitre> {
        self.reports
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("MITRE ATT&CK"))
            .flat_map(|(_, v)| v.iter())
            .map(|entry| match entry.split_once(':') {
                Some((tactic, technique)) => Mitre {
                    tactic: tactic.trim().to_string(),
                    technique: technique.trim().to_string(),
                },
                None => Mitre {
                    tactic: entry.trim().to_string(),
                    technique: String::new(),
                },
            })
            .collect()
    }
}
