//! `[[sinks]]` configuration.

use crate::rules::spec::Severity;
use serde::Deserialize;
use std::path::PathBuf;

/// Sink kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Stdout,
    File,
    Webhook,
    Eventhubs,
    Sentinel,
}

/// One `[[sinks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub kind: SinkKind,
    /// Name in logs and metrics; default: the kind, with an index when repeated.
    #[serde(default)]
    pub name: Option<String>,
    /// Where refused alerts go (default: `<state_dir>/dead-letter-<name>.jsonl`).
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
    /// `file`: the JSON-lines file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `webhook`: the URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Routing: only alerts of at least this severity.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Routing: only these rule ids (empty: all).
    #[serde(default)]
    pub include_rules: Vec<String>,
    /// Routing: never these rule ids.
    #[serde(default)]
    pub exclude_rules: Vec<String>,
    /// Alerts queued for this sink before the pipeline waits.
    #[serde(default = "default_queue")]
    pub queue_size: usize,
    /// Most alerts per send.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// How long a partial batch waits for more alerts.
    #[serde(default = "default_linger")]
    pub linger_ms: u64,
    /// Give up retrying a transient failure after this long and dead-letter (0: never).
    #[serde(default = "default_deadline")]
    pub retry_deadline_secs: u64,
}

fn default_queue() -> usize {
    1000
}
fn default_batch() -> usize {
    100
}
fn default_linger() -> u64 {
    50
}
fn default_deadline() -> u64 {
    3600
}

impl SinkConfig {
    /// Checks the keys this kind needs; errors are `(key, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let need = |key: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err((
                    key.to_string(),
                    format!("required for kind = {:?}", self.kind),
                ))
            }
        };
        match self.kind {
            SinkKind::Stdout => Ok(()),
            SinkKind::File => need("path", self.path.is_some()),
            SinkKind::Webhook => need("url", self.url.is_some()),
            SinkKind::Eventhubs | SinkKind::Sentinel => Ok(()),
        }?;
        if self.queue_size == 0 {
            return Err(("queue_size".into(), "must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(("batch_size".into(), "must be at least 1".into()));
        }
        Ok(())
    }

    /// Whether this sink takes alerts of this rule and severity.
    pub fn routes(&self, rule_id: &str, severity: Severity) -> bool {
        if self.min_severity.is_some_and(|min| severity < min) {
            return false;
        }
        if self.exclude_rules.iter().any(|r| r == rule_id) {
            return false;
        }
        self.include_rules.is_empty() || self.include_rules.iter().any(|r| r == rule_id)
    }
}
