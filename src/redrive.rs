//! `redrive`: re-sends the alerts of a dead-letter file to the sinks that refused them.
//!
//! Every `kind = "alert"` entry whose `sink` names one of the given sinks is sent to it again,
//! one alert per send; transient failures are retried a few times with backoff (honouring
//! `Retry-After`, capped). The file is then rewritten atomically (a temporary file in the same
//! directory, fsynced, renamed over it, directory fsynced), keeping every entry that was not
//! delivered: alerts that failed again, entries for sinks not given, and entries of other kinds
//! (bodies, records, rule errors), all unchanged and in their order.
//!
//! Run it on a file no running hubwatch is appending to (stop the service, or redrive a copy):
//! a writer holding the old file open would keep appending to the replaced inode.

use crate::alert::Alert;
use crate::dead_letter::{self, DeadLetter, EntryKind};
use crate::sink::{Sink, SinkError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Entries in the file.
    pub entries: usize,
    /// Alerts a sink accepted (removed from the file).
    pub delivered: usize,
    /// Alerts sent but refused again, or still failing after the retries (kept).
    pub failed: usize,
    /// Alert entries naming a sink that was not given (kept).
    pub unknown_sink: usize,
    /// Entries that are not alerts, or alert entries without an alert (kept).
    pub skipped: usize,
    /// Entries left in the file.
    pub remaining: usize,
}

impl std::fmt::Display for RedriveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} entries: {} delivered, {} failed, {} for unknown sinks, {} not alerts; {} remain",
            self.entries,
            self.delivered,
            self.failed,
            self.unknown_sink,
            self.skipped,
            self.remaining
        )
    }
}

/// A redrive that could not read or rewrite the file (nothing is lost: the file is only
/// replaced by a complete, fsynced copy).
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("reading dead-letter file: {0}")]
    Read(String),
    #[error("rewriting dead-letter file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How hard redrive tries.
#[derive(Debug, Clone)]
pub struct RedriveOptions {
    /// Sends per alert before giving up on it (transient failures only).
    pub attempts: u32,
    /// Longest wait between attempts, whatever `Retry-After` says.
    pub max_wait: Duration,
}

impl Default for RedriveOptions {
    fn default() -> Self {
        RedriveOptions {
            attempts: 5,
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Re-sends the file's alerts to the named sinks and keeps what was not delivered.
pub async fn redrive(
    path: &Path,
    sinks: &[(String, Arc<dyn Sink>)],
) -> Result<RedriveReport, RedriveError> {
    redrive_with(path, sinks, &RedriveOptions::default()).await
}

/// [`redrive`] with explicit retry settings.
pub async fn redrive_with(
    path: &Path,
    sinks: &[(String, Arc<dyn Sink>)],
    options: &RedriveOptions,
) -> Result<RedriveReport, RedriveError> {
    let owned = path.to_path_buf();
    let entries = tokio::task::spawn_blocking(move || dead_letter::read_file(&owned))
        .await
        .map_err(|e| RedriveError::Read(e.to_string()))?
        .map_err(RedriveError::Read)?;
    let by_name: HashMap<&str, &Arc<dyn Sink>> =
        sinks.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut report = RedriveReport {
        entries: entries.len(),
        ..Default::default()
    };
    let mut keep: Vec<DeadLetter> = Vec::new();
    for entry in entries {
        if entry.kind != EntryKind::Alert || entry.alert.is_none() {
            report.skipped += 1;
            keep.push(entry);
            continue;
        }
        let sink = entry.sink.as_deref().and_then(|n| by_name.get(n).copied());
        let (Some(sink), Some(alert)) = (sink, entry.alert.as_deref()) else {
            report.unknown_sink += 1;
            keep.push(entry);
            continue;
        };
        let alert = Arc::new(alert.clone());
        match send_with_retries(sink.as_ref(), alert, options).await {
            Ok(()) => report.delivered += 1,
            Err(e) => {
                tracing::warn!(sink = %sink.name(), error = %e, "redrive: alert not delivered; keeping it");
                report.failed += 1;
                keep.push(entry);
            }
        }
    }
    report.remaining = keep.len();
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || rewrite(&owned, &keep))
        .await
        .map_err(|e| RedriveError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|source| RedriveError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(report)
}

async fn send_with_retries(
    sink: &dyn Sink,
    alert: Arc<Alert>,
    options: &RedriveOptions,
) -> Result<(), SinkError> {
    let batch = [alert];
    let mut attempt = 0u32;
    loop {
        match sink.send(&batch).await {
            Ok(()) => return Ok(()),
            Err(e @ SinkError::Permanent { .. }) => return Err(e),
            Err(e @ SinkError::Transient { .. }) => {
                attempt += 1;
                if attempt >= options.attempts.max(1) {
                    return Err(e);
                }
                let wait = match &e {
                    SinkError::Transient {
                        retry_after: Some(r),
                        ..
                    } => *r,
                    _ => crate::retry::backoff(attempt - 1),
                };
                tokio::time::sleep(wait.min(options.max_wait)).await;
            }
        }
    }
}

/// Replaces `path` with the entries (see [`crate::durable::replace`]); permissions are kept.
fn rewrite(path: &Path, entries: &[DeadLetter]) -> std::io::Result<()> {
    let mut buf = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
        buf.push(b'\n');
    }
    crate::durable::replace(path, &crate::durable::tmp_beside(path, "redrive"), &buf)
}
