//! Sinks: where alerts go (stdout, files, webhooks, Event Hubs, Microsoft Sentinel).
//!
//! Each configured sink runs as its own task behind a bounded queue (see [`worker`]): it batches,
//! retries transient failures with backoff, dead-letters permanent ones, and acknowledges each
//! delivery only once the destination accepted it or the dead-letter file holds it.

pub mod config;
mod eventhubs;
pub mod file;
mod http;
pub mod sentinel;
mod stdout;
pub mod webhook;
pub mod worker;

pub use config::{
    EventHubsSinkConfig, FileSinkConfig, SentinelSinkConfig, SharedSinkConfig, SinkConfig,
    SinkKind, SinkKindConfig, StdoutSinkConfig, WebhookAuth, WebhookPreset, WebhookSinkConfig,
};

use crate::alert::Alert;
use crate::azure::CredentialError;
use azure_core::credentials::TokenCredential;
use std::sync::Arc;
use std::time::Duration;

/// Why a sink could not deliver a batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying: connect errors, timeouts, 408, 429, 5xx, AMQP busy.
    #[error("transient: {message}")]
    Transient {
        message: String,
        /// What the destination asked for (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (other 4xx, oversize): dead-letter the batch.
    #[error("permanent: {message}")]
    Permanent { message: String },
}

impl SinkError {
    pub fn transient(message: impl Into<String>) -> Self {
        SinkError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        SinkError::Permanent {
            message: message.into(),
        }
    }
}

/// A destination for alerts.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// The sink's name in logs and metrics (`kind` or the configured `name`).
    fn name(&self) -> &str;

    /// Delivers a batch; `Ok` only when the destination has accepted every alert in it.
    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError>;

    /// Makes everything sent so far durable (called on shutdown).
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink that could not be built; the message names the sink and the key.
#[derive(Debug, thiserror::Error)]
pub enum SinkBuildError {
    /// A key is missing or has a bad value.
    #[error("sink {sink}: {key}: {message}")]
    Config {
        sink: String,
        key: String,
        message: String,
    },
    /// A secret or credential the key points at could not be read or built.
    #[error("sink {sink}: {key}: {source}")]
    Credential {
        sink: String,
        key: String,
        #[source]
        source: CredentialError,
    },
    /// Two sinks have the same name (dead-letter entries and `redrive` find sinks by name).
    #[error("sinks[{index}].name: {name:?} is already the name of another sink")]
    DuplicateName { index: usize, name: String },
}

impl SinkBuildError {
    pub fn config(sink: &str, key: &str, message: String) -> Self {
        SinkBuildError::Config {
            sink: sink.to_string(),
            key: key.to_string(),
            message,
        }
    }

    pub fn credential(sink: &str, key: &str, source: CredentialError) -> Self {
        SinkBuildError::Credential {
            sink: sink.to_string(),
            key: key.to_string(),
            source,
        }
    }
}

/// The name of a sink: its configured `name`, else its kind, followed by `-{index}` when
/// `index > 0`. `index` is the sink's position among the `[[sinks]]` **of the same kind**
/// (0 for the first webhook, 1 for the second...): `webhook`, `webhook-1`, `file`. Use
/// [`names`] to compute every sink's name from the whole list.
pub fn default_name(cfg: &SinkConfig, index: usize) -> String {
    if let Some(n) = cfg.shared.name.as_deref().filter(|n| !n.trim().is_empty()) {
        return n.to_string();
    }
    if index == 0 {
        cfg.kind_str().to_string()
    } else {
        format!("{}-{index}", cfg.kind_str())
    }
}

/// The names of all configured sinks, in order (see [`default_name`]); names must be unique.
pub fn names(cfgs: &[SinkConfig]) -> Result<Vec<String>, SinkBuildError> {
    let mut out: Vec<String> = Vec::with_capacity(cfgs.len());
    for (i, cfg) in cfgs.iter().enumerate() {
        let same_kind_before = cfgs[..i].iter().filter(|c| c.kind() == cfg.kind()).count();
        let name = default_name(cfg, same_kind_before);
        if out.contains(&name) {
            return Err(SinkBuildError::DuplicateName { index: i, name });
        }
        out.push(name);
    }
    Ok(out)
}

/// Builds the sink a `[[sinks]]` entry describes; `index` as in [`default_name`]. Secrets are
/// read and credentials built here; nothing connects yet (the first send does).
pub async fn build(cfg: &SinkConfig, index: usize) -> Result<Arc<dyn Sink>, SinkBuildError> {
    build_named(&default_name(cfg, index), cfg).await
}

/// Builds a sink under a given name (e.g. one of [`names`]).
pub async fn build_named(name: &str, cfg: &SinkConfig) -> Result<Arc<dyn Sink>, SinkBuildError> {
    cfg.validate()
        .map_err(|e| SinkBuildError::config(name, &e.key, e.message))?;
    Ok(match &cfg.kind {
        SinkKindConfig::Stdout(_) => Arc::new(stdout::StdoutSink::new(name)),
        SinkKindConfig::File(c) => Arc::new(file::FileSink::new(
            name,
            c.path.clone(),
            c.max_bytes,
            c.max_files,
        )),
        SinkKindConfig::Webhook(_) => Arc::new(webhook::WebhookSink::from_config(name, cfg)?),
        SinkKindConfig::Sentinel(_) => Arc::new(sentinel::SentinelSink::from_config(name, cfg)?),
        SinkKindConfig::Eventhubs(_) => Arc::new(eventhubs::EventHubsSink::from_config(name, cfg)?),
    })
}

/// The refusal of a sink constructor given an entry of another kind.
pub(crate) fn wrong_kind(name: &str, cfg: &SinkConfig, want: SinkKind) -> SinkBuildError {
    SinkBuildError::config(
        name,
        "kind",
        format!("{:?} is not {:?}", cfg.kind_str(), want.as_str()),
    )
}

/// The Entra ID token credential a sink's `credential` key names.
pub(crate) fn entra_credential(
    name: &str,
    kind: crate::azure::CredentialKind,
    credentials: &crate::azure::CredentialConfig,
) -> Result<Arc<dyn TokenCredential>, SinkBuildError> {
    crate::azure::token_credential(kind, credentials)
        .map_err(|e| SinkBuildError::credential(name, "credential", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> SinkConfig {
        toml::from_str(text).unwrap()
    }

    fn key_of(text: &str) -> String {
        match SinkConfig::from_table(text.parse().unwrap()) {
            Ok(c) => c.validate().unwrap_err().key,
            Err(e) => e.key,
        }
    }

    #[test]
    fn validation_names_the_key() {
        assert_eq!(key_of("kind = \"file\""), "path");
        assert_eq!(key_of("kind = \"webhook\""), "url");
        assert_eq!(key_of("kind = \"webhook\"\nurl = \"ftp://x/y\""), "url");
        assert_eq!(
            key_of("kind = \"webhook\"\nurl = \"https://h/\"\nauth = \"bearer\""),
            "token_env"
        );
        assert_eq!(
            key_of("kind = \"webhook\"\nurl = \"https://h/\"\nauth = \"hmac\""),
            "secret_env"
        );
        assert_eq!(
            key_of("kind = \"webhook\"\nurl = \"https://h/\"\nauth = \"entra\""),
            "scope"
        );
        assert_eq!(
            key_of("kind = \"webhook\"\nurl = \"https://h/\"\nauth = \"entra\"\nscope = \"api://x/.default\""),
            "credential"
        );
        assert_eq!(
            key_of("kind = \"webhook\"\nurl = \"https://h/\"\ntimeout_secs = 0"),
            "timeout_secs"
        );
        assert_eq!(key_of("kind = \"sentinel\""), "endpoint");
        assert_eq!(
            key_of("kind = \"sentinel\"\nendpoint = \"https://dce\"\nstream_name = \"Custom-X\""),
            "dcr_immutable_id"
        );
        assert_eq!(
            key_of("kind = \"sentinel\"\nendpoint = \"https://dce\"\ndcr_immutable_id = \"dcr-1\"\nstream_name = \"Custom-X\"\ncredential = \"connection-string\""),
            "credential"
        );
        assert_eq!(
            key_of("kind = \"sentinel\"\nendpoint = \"https://dce\"\ndcr_immutable_id = \"dcr-1\"\nstream_name = \"Custom-X\"\ncredential = \"managed-identity\"\nmax_body_bytes = 2000000"),
            "max_body_bytes"
        );
        assert_eq!(key_of("kind = \"eventhubs\""), "eventhub");
        assert_eq!(
            key_of("kind = \"eventhubs\"\neventhub = \"h\"\ncredential = \"managed-identity\""),
            "namespace"
        );
        assert_eq!(
            key_of("kind = \"eventhubs\"\neventhub = \"h\"\ncredential = \"connection-string\""),
            "connection_string_env"
        );
        assert_eq!(
            key_of("kind = \"eventhubs\"\neventhub = \"h\"\nnamespace = \"n\"\ncredential = \"client-secret\""),
            "tenant_id"
        );
        assert_eq!(
            key_of("kind = \"eventhubs\"\neventhub = \"h\"\nnamespace = \"n\"\ncredential = \"azure-cli\"\ncustom_endpoint = \"http://x\""),
            "custom_endpoint"
        );
        assert!(toml::from_str::<SinkConfig>("kind = \"file\"\npath = \"x\"\nbogus = 1").is_err());
        // A URL with secrets is never echoed.
        let message = cfg("kind = \"webhook\"\nurl = \"hooks.example/SECRET\"")
            .validate()
            .unwrap_err()
            .message;
        assert!(!message.contains("SECRET"));
    }

    #[test]
    fn names_are_kinds_with_indexes_when_repeated() {
        let cfgs = vec![
            cfg("kind = \"stdout\""),
            cfg("kind = \"file\"\npath = \"a\""),
            cfg("kind = \"file\"\npath = \"b\""),
            cfg("kind = \"file\"\npath = \"c\"\nname = \"archive\""),
        ];
        assert_eq!(
            names(&cfgs).unwrap(),
            ["stdout", "file", "file-1", "archive"]
        );
        assert_eq!(default_name(&cfgs[2], 1), "file-1");
        let dup = vec![
            cfg("kind = \"stdout\"\nname = \"x\""),
            cfg("kind = \"stdout\"\nname = \"x\""),
        ];
        assert!(matches!(
            names(&dup),
            Err(SinkBuildError::DuplicateName { index: 1, .. })
        ));
    }

    #[tokio::test]
    async fn build_errors_name_the_key() {
        let c = cfg("kind = \"webhook\"\nurl = \"https://h/x\"\nauth = \"bearer\"\ntoken_env = \"HUBWATCH_TEST_SURELY_UNSET_TOKEN\"");
        let e = build(&c, 0).await.err().unwrap().to_string();
        assert!(e.contains("token_env"), "{e}");
        assert!(e.contains("HUBWATCH_TEST_SURELY_UNSET_TOKEN"), "{e}");
        let ok = build(&cfg("kind = \"stdout\""), 0).await.unwrap();
        assert_eq!(ok.name(), "stdout");
    }
}
