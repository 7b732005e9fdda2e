//! Service configuration: a TOML file, overridden by `HUBWATCH_*` environment variables.
//!
//! An environment variable names a key path with `__` between levels, e.g.
//! `HUBWATCH_SOURCE__CONSUMER_GROUP=audit` sets `[source] consumer_group`, and
//! `HUBWATCH_SINKS__0__URL=...` sets `url` of the first `[[sinks]]`. Values are read as TOML
//! (`5`, `true`, `["a"]`) when they parse as such, else as strings. Unknown keys are errors, and
//! every error names the key. Secrets are never values here: the file names the environment
//! variable or file that holds them.

pub use crate::azure::settings::{CredentialConfig, CredentialKind};
use crate::sink::SinkConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "HUBWATCH_";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub service: ServiceConfig,
    #[serde(default)]
    pub http: HttpConfig,
    pub source: SourceConfig,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// `[backfill]`: read only by `hubwatch backfill`.
    #[serde(default)]
    pub backfill: BackfillConfig,
    /// `[context]`: the Key Vault context store behind `runbook_answers` (off by default).
    #[serde(default)]
    pub context: crate::context::ContextConfig,
}

/// `[service]`: process-wide settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// The only directory hubwatch writes to by default (checkpoints, dead letters).
    pub state_dir: PathBuf,
    /// Log level when `RUST_LOG` is not set.
    pub log_level: String,
    pub log_format: crate::telemetry::LogFormat,
    /// How long SIGTERM may take to drain and checkpoint before hubwatch gives up.
    pub shutdown_grace_secs: u64,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Bodies in flight between the source and detection, per partition (Event Hubs) or per
    /// file source. Each holds a whole body: 64 x 32 partitions x 67 KB is 137 MB.
    pub channel_capacity: usize,
    /// How long start-up retries dependencies it cannot reach yet (the checkpoint store, Event
    /// Hubs) before it stops with the cause; 0 gives up at the first failure.
    pub startup_timeout_secs: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            state_dir: PathBuf::from(".state"),
            log_level: "info".into(),
            log_format: Default::default(),
            shutdown_grace_secs: 30,
            max_body_bytes: crate::decode::DEFAULT_MAX_BODY_BYTES,
            channel_capacity: 64,
            startup_timeout_secs: 300,
        }
    }
}

/// `[http]`: health and metrics listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port`; empty disables the listener.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

/// Which source feeds the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Eventhubs,
    File,
    Stdin,
}

impl SourceKind {
    /// The configuration's spelling (`source.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Eventhubs => "eventhubs",
            SourceKind::File => "file",
            SourceKind::Stdin => "stdin",
        }
    }
}

/// Where a partition starts when it has no checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    Earliest,
    Latest,
    EnqueuedTime(time::OffsetDateTime),
}

impl<'de> Deserialize<'de> for StartPosition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "earliest" => Ok(StartPosition::Earliest),
            "latest" => Ok(StartPosition::Latest),
            other => {
                time::OffsetDateTime::parse(other, &time::format_description::well_known::Rfc3339)
                    .map(StartPosition::EnqueuedTime)
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                    "start_position {other:?} is not \"earliest\", \"latest\" or an RFC 3339 time"
                ))
                    })
            }
        }
    }
}

/// Load balancing between replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancing {
    /// After the start-up ramp (`source::claim`), one partition per `update_interval_secs`
    /// taken over from expired ownership or from replicas above their share.
    #[default]
    Balanced,
    /// Everything up to the fair share in one cycle, free partitions first, then from replicas
    /// above their share.
    Greedy,
}

/// `[source]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// Fully qualified namespace, e.g. `myns.servicebus.windows.net`.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub eventhub: Option<String>,
    #[serde(default = "default_consumer_group")]
    pub consumer_group: String,
    #[serde(default)]
    pub credential: Option<CredentialKind>,
    #[serde(flatten)]
    pub auth: CredentialConfig,
    /// `amqp://host:port` (local server) or `amqps://host:port` (private endpoint).
    #[serde(default)]
    pub custom_endpoint: Option<String>,
    /// AMQP over WebSockets (port 443), for networks that block 5671.
    #[serde(default)]
    pub websockets: bool,
    #[serde(default = "default_start_position")]
    pub start_position: StartPosition,
    #[serde(default = "default_prefetch")]
    pub prefetch: u32,
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    /// How often the processor renews and rebalances partition ownership.
    #[serde(default = "default_update_interval")]
    pub update_interval_secs: u64,
    /// Ownership not renewed for this long is free for another replica to take.
    #[serde(default = "default_ownership_expiry")]
    pub ownership_expiry_secs: u64,
    /// A partition receiver that gets nothing for this long while the hub holds newer events
    /// is reopened (a half-open connection delivers no error); 0 turns the watchdog off.
    #[serde(default = "default_stall_timeout")]
    pub stall_timeout_secs: u64,
    /// Failed receives in a row at the same position (failures that name the event: the link
    /// cannot carry or decode it) after which that event is dead-lettered and the partition
    /// checkpointed past it; 0 never skips an event.
    #[serde(default = "default_poison_after_failures")]
    pub poison_after_failures: u32,
    /// Files of bodies, one per line (`kind = "file"`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub path: Vec<PathBuf>,
    /// File source: keep reading lines appended to the last file instead of stopping at its end.
    #[serde(default)]
    pub follow: bool,
}

/// `path = "a"` or `path = ["a", "b"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

fn default_consumer_group() -> String {
    "$Default".into()
}
fn default_start_position() -> StartPosition {
    StartPosition::Earliest
}
fn default_prefetch() -> u32 {
    300
}
fn default_update_interval() -> u64 {
    10
}
fn default_ownership_expiry() -> u64 {
    60
}
fn default_stall_timeout() -> u64 {
    120
}
fn default_poison_after_failures() -> u32 {
    5
}

/// Checkpoint store kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointKind {
    #[default]
    File,
    Memory,
    Blob,
}

/// `[checkpoint]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    pub kind: CheckpointKind,
    /// Directory of the file store (default: `<state_dir>/checkpoints`).
    pub path: Option<PathBuf>,
    /// Checkpoint after this many fully delivered events of a partition...
    pub interval_events: u64,
    /// ...or after this long, whichever comes first.
    pub interval_ms: u64,
    /// Blob store: container URL, e.g. `https://ACCOUNT.blob.core.windows.net/CONTAINER`.
    pub container_url: Option<String>,
    /// Blob store auth: `entra` (uses `credential`), `sas`, or `shared-key`.
    pub auth: Option<String>,
    pub credential: Option<CredentialKind>,
    #[serde(flatten)]
    pub credential_config: CredentialConfig,
    /// Environment variable holding the SAS token (`auth = "sas"`).
    pub sas_env: Option<String>,
    /// Account name and the variable holding its key (`auth = "shared-key"`).
    pub account_name: Option<String>,
    pub account_key_env: Option<String>,
    /// Create the container at start if missing (development).
    pub create_container: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            kind: CheckpointKind::File,
            path: None,
            interval_events: 100,
            interval_ms: 5000,
            container_url: None,
            auth: None,
            credential: None,
            credential_config: CredentialConfig::default(),
            sas_env: None,
            account_name: None,
            account_key_env: None,
            create_container: false,
        }
    }
}

/// `[rules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// A rules directory (hubwatch's or a panther-analysis checkout), read recursively; its
    /// rules replace built-ins with the same `RuleID`.
    pub dir: Option<PathBuf>,
    /// Rule ids (`*` wildcards) of the built-in rules to run; default: the Key Vault family.
    pub builtin: Vec<String>,
    /// Run without the directory's rules that hubwatch cannot run (one WARN lists them)
    /// instead of refusing to start.
    pub skip_unsupported: bool,
    /// `false` raises one alert per matching record.
    pub dedup: bool,
    pub max_dedup_keys: usize,
}

impl Default for RulesConfig {
    fn default() -> Self {
        let defaults = crate::rules::loader::RuleOptions::default();
        RulesConfig {
            dir: None,
            builtin: defaults.builtin,
            skip_unsupported: false,
            dedup: true,
            max_dedup_keys: crate::dedup::DEFAULT_MAX_KEYS,
        }
    }
}

impl RulesConfig {
    /// What the rule loader needs from this section.
    pub fn options(&self) -> crate::rules::loader::RuleOptions {
        crate::rules::loader::RuleOptions {
            builtin: self.builtin.clone(),
            dir: self.dir.clone(),
            skip_unsupported: self.skip_unsupported,
        }
    }
}

/// `[dead_letter]`: where undecodable input and rule errors go.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DeadLetterConfig {
    /// Default: `<state_dir>/dead-letter.jsonl`.
    pub path: Option<PathBuf>,
}

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The io error is the source, not part of the message: the CLI prints the cause chain,
    // which would otherwise name it twice.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

impl Config {
    /// Reads a file and applies `HUBWATCH_*` overrides from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(path, &text, std::env::vars())
    }

    /// Parses TOML text with the given environment (for tests).
    pub fn from_toml(
        path: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
        let mut vars: Vec<_> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
            .collect();
        vars.sort();
        let mut overrides = Vec::new();
        for (var, value) in vars {
            overrides.push(apply_env(&mut tree, &var, &value)?);
        }
        loop {
            let e = match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(
                tree.clone(),
            )) {
                Ok(config) => {
                    config.validate()?;
                    return Ok(config);
                }
                Err(e) => e,
            };
            let key = e.path().to_string();
            let inner = e.inner().to_string();
            let from = overrides.iter_mut().find(|o| o.key() == key);
            let Some(from) = from else {
                return Err(ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: format!("key `{key}`: {inner}"),
                });
            };
            // A number or boolean where a string goes: the text as written (each key once).
            if inner.contains("expected a string") && from.as_string(&mut tree) {
                continue;
            }
            return Err(ConfigError::Env {
                var: from.var.clone(),
                message: format!("key `{key}`: {inner}"),
            });
        }
    }

    /// The file checkpoint store's directory.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.checkpoint
            .path
            .clone()
            .unwrap_or_else(|| self.service.state_dir.join("checkpoints"))
    }

    /// The dead-letter file for undecodable input and rule errors.
    pub fn dead_letter_path(&self) -> PathBuf {
        self.dead_letter
            .path
            .clone()
            .unwrap_or_else(|| self.service.state_dir.join("dead-letter.jsonl"))
    }
}

mod backfill;
mod blob_auth;
mod env;
pub(crate) mod secrets;
mod validate;
pub use backfill::{BackfillConfig, DEFAULT_CONTAINERS};
use env::apply_env;
pub use validate::check_client_secret;

#[cfg(test)]
mod tests;
