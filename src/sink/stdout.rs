//! The `stdout` sink: one JSON line per alert on standard output.

use super::{Sink, SinkError};
use crate::alert::Alert;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub(super) struct StdoutSink {
    name: String,
    out: tokio::sync::Mutex<tokio::io::Stdout>,
}

impl StdoutSink {
    pub(super) fn new(name: impl Into<String>) -> Self {
        StdoutSink {
            name: name.into(),
            out: tokio::sync::Mutex::new(tokio::io::stdout()),
        }
    }
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let buf = crate::alert::json_lines(alerts);
        let mut out = self.out.lock().await;
        out.write_all(&buf)
            .await
            .map_err(|e| SinkError::transient(format!("writing to stdout: {e}")))?;
        out.flush()
            .await
            .map_err(|e| SinkError::transient(format!("flushing stdout: {e}")))
    }
}
