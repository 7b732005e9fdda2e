//! `[[sinks]]` configuration: the keys every sink has ([`SharedSinkConfig`]: name, dead
//! letters, routing, queue and retry), and one struct per kind beside it (`config/*.rs`), so
//! that a kind's keys are required or defaulted there and a key of another kind is an error.

mod eventhubs;
mod file;
mod sentinel;
mod webhook;

pub use eventhubs::EventHubsSinkConfig;
pub use file::FileSinkConfig;
pub use sentinel::{SentinelSinkConfig, SENTINEL_MAX_BODY_BYTES};
pub use webhook::{WebhookAuth, WebhookPreset, WebhookSinkConfig, WEBHOOK_MAX_BODY_BYTES};

use crate::config::tagged::{self, KeyError};
use crate::rules::spec::Severity;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// Sink kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    Stdout,
    File,
    Webhook,
    Eventhubs,
    Sentinel,
}

impl SinkKind {
    const ALL: [SinkKind; 5] = [
        SinkKind::Stdout,
        SinkKind::File,
        SinkKind::Webhook,
        SinkKind::Eventhubs,
        SinkKind::Sentinel,
    ];

    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Stdout => "stdout",
            SinkKind::File => "file",
            SinkKind::Webhook => "webhook",
            SinkKind::Eventhubs => "eventhubs",
            SinkKind::Sentinel => "sentinel",
        }
    }
}

/// One `[[sinks]]` entry: the shared keys and those of its `kind`.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub shared: SharedSinkConfig,
    pub kind: SinkKindConfig,
}

/// The keys of one sink kind, chosen by `kind`.
#[derive(Debug, Clone)]
pub enum SinkKindConfig {
    /// `stdout`: JSON lines on standard output.
    Stdout(StdoutSinkConfig),
    /// `file`: a JSON-lines file, rotated by size.
    File(FileSinkConfig),
    /// `webhook`: HTTP POSTs (plain JSON, Slack or Teams).
    Webhook(WebhookSinkConfig),
    /// `eventhubs`: an output Event Hub.
    Eventhubs(EventHubsSinkConfig),
    /// `sentinel`: a data collection rule's stream (e.g. `Custom-HubwatchAlerts`) through the
    /// Logs Ingestion API.
    Sentinel(SentinelSinkConfig),
}

/// `kind = "stdout"`: one JSON line per alert; no keys of its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {}

/// The keys of every sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSinkConfig {
    /// Name in logs, metrics and dead-letter entries; default: the kind, with an index when
    /// repeated (see [`crate::sink::default_name`]).
    #[serde(default)]
    pub name: Option<String>,
    /// Where refused alerts go (default: `<state_dir>/dead-letter-<name>.jsonl`).
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
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
    /// Longest wait between two attempts at a failing batch (the exponential backoff's cap,
    /// unless the destination asks for longer with `Retry-After`): how soon a sink that comes
    /// back is used again, and how often one that is down is tried.
    #[serde(default = "default_retry_backoff_max")]
    pub retry_backoff_max_ms: u64,
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
fn default_retry_backoff_max() -> u64 {
    4000
}
/// `webhook`, `sentinel`, `eventhubs`: per-request timeout, in seconds.
pub(crate) fn default_timeout() -> u64 {
    10
}

impl SinkConfig {
    /// Reads one entry: `kind`, the shared keys, then the kind's (see [`tagged`] for why this
    /// is not `#[serde(tag = "kind")]`).
    pub fn from_table(mut table: toml::Table) -> Result<SinkConfig, KeyError> {
        let names = SinkKind::ALL.map(SinkKind::as_str);
        let kind = tagged::take_tag(&mut table, "kind", &names)?
            .ok_or_else(|| KeyError::new("kind", format!("required (one of {names:?})")))?;
        let shared = tagged::take::<SharedSinkConfig>(&mut table)?;
        let required = format!("for kind = {kind:?}");
        let kind = match kind {
            "stdout" => SinkKindConfig::Stdout(tagged::from_table(table, &required)?),
            "file" => SinkKindConfig::File(tagged::from_table(table, &required)?),
            "webhook" => SinkKindConfig::Webhook(tagged::from_table(table, &required)?),
            "eventhubs" => SinkKindConfig::Eventhubs(tagged::from_table(table, &required)?),
            _ => SinkKindConfig::Sentinel(tagged::from_table(table, &required)?),
        };
        Ok(SinkConfig { shared, kind })
    }

    /// The kind.
    pub fn kind(&self) -> SinkKind {
        match self.kind {
            SinkKindConfig::Stdout(_) => SinkKind::Stdout,
            SinkKindConfig::File(_) => SinkKind::File,
            SinkKindConfig::Webhook(_) => SinkKind::Webhook,
            SinkKindConfig::Eventhubs(_) => SinkKind::Eventhubs,
            SinkKindConfig::Sentinel(_) => SinkKind::Sentinel,
        }
    }

    /// The kind as written in the configuration.
    pub fn kind_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Checks what types cannot (see [`crate::config::Config::validate`]); the key is relative
    /// to the entry.
    pub fn validate(&self) -> Result<(), KeyError> {
        crate::config::validate::sink(self)
    }

    /// Whether this sink takes alerts of this rule and severity.
    pub fn routes(&self, rule_id: &str, severity: Severity) -> bool {
        let s = &self.shared;
        if s.min_severity.is_some_and(|min| severity < min) {
            return false;
        }
        if s.exclude_rules.iter().any(|r| r == rule_id) {
            return false;
        }
        s.include_rules.is_empty() || s.include_rules.iter().any(|r| r == rule_id)
    }
}

impl<'de> Deserialize<'de> for SinkConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SinkConfig::from_table(tagged::table(d)?).map_err(KeyError::into_de)
    }
}
