//! Sinks: where alerts go (stdout, files, webhooks, Event Hubs, Microsoft Sentinel).
//!
//! Each configured sink runs as its own task behind a bounded queue (see [`worker`]): it batches,
//! retries transient failures with backoff, dead-letters permanent ones, and acknowledges each
//! delivery only once the destination accepted it or the dead-letter file holds it.

pub mod config;
pub mod stdout;
pub mod worker;

pub use config::{SinkConfig, SinkKind};

use crate::alert::Alert;
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

/// A sink that could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkBuildError(pub String);

/// The sink's name: `name`, else its kind with the index when not the first.
pub fn default_name(cfg: &SinkConfig, index: usize) -> String {
    cfg.name.clone().unwrap_or_else(|| {
        let kind = format!("{:?}", cfg.kind).to_lowercase();
        if index == 0 {
            kind
        } else {
            format!("{kind}-{index}")
        }
    })
}

/// Builds the sink a configuration entry describes.
pub async fn build(cfg: &SinkConfig, index: usize) -> Result<Arc<dyn Sink>, SinkBuildError> {
    let name = default_name(cfg, index);
    match cfg.kind {
        SinkKind::Stdout => Ok(Arc::new(stdout::StdoutSink::new(name))),
        other => Err(SinkBuildError(format!(
            "sink kind {other:?} is not available yet"
        ))),
    }
}
