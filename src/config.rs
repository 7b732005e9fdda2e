//! Service configuration: a TOML file, overridden by `HUBWATCH_*` environment variables.
//!
//! An environment variable names a key path with `__` between levels, e.g.
//! `HUBWATCH_SOURCE__CONSUMER_GROUP=audit` sets `[source] consumer_group`, and
//! `HUBWATCH_SINKS__0__URL=...` sets `url` of the first `[[sinks]]`. Values are read as TOML
//! (`5`, `true`, `["a"]`) when they parse as such, else as strings. Unknown keys are errors, and
//! every error names the key. Secrets are never values here: the file names the environment
//! variable or file that holds them.
//!
//! The sections with a `kind` are one struct per kind, each beside its component
//! (`source::config`, `checkpoint::config`, `sink::config`; the blob `auth` in
//! `azure::settings`), read as [`tagged`] explains; what types cannot check is in `validate`.

pub use crate::azure::settings::{BlobAuthConfig, CredentialConfig, CredentialKind};
pub use crate::checkpoint::config::{
    BlobCheckpointConfig, CheckpointCadence, CheckpointConfig, CheckpointKind,
    CheckpointStoreConfig, FileCheckpointConfig,
};
use crate::sink::SinkConfig;
pub use crate::source::config::{SourceConfig, SourceKind, StdinSourceConfig};
pub use crate::source::eventhubs::config::{EventHubsSourceConfig, LoadBalancing, StartPosition};
pub use crate::source::file::FileSourceConfig;
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
            // A section read by `tagged` names the key below it in the message.
            let (key, inner) = tagged::join(&e.path().to_string(), &e.inner().to_string());
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
        match &self.checkpoint.store {
            CheckpointStoreConfig::File(FileCheckpointConfig { path: Some(path) }) => path.clone(),
            _ => self.service.state_dir.join("checkpoints"),
        }
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
mod env;
pub(crate) mod secrets;
pub(crate) mod tagged;
pub(crate) mod validate;
pub use backfill::{BackfillConfig, DEFAULT_CONTAINERS};
use env::apply_env;
pub use validate::check_client_secret;

#[cfg(test)]
mod tests;
