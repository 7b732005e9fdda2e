//! The file and stdin sources: newline-delimited bodies, as `replay` reads them, run through
//! the full service pipeline (sinks, dead letters, checkpoints of delivered lines).
//!
//! Lines are read on a blocking thread and handed over through a bounded channel, so a slow
//! sink slows reading. With `follow`, the source keeps polling a file for appended lines.

pub mod config;

pub use config::FileSourceConfig;

use crate::alert::Source;
use crate::decode::BodyError;
use crate::pipeline::Pipeline;
use crate::progress::Progress;
use crate::source::lines::{Line, LineReader};
use crate::source::positions::FilePositions;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Settings of a file or stdin source.
pub struct FileSource {
    /// Input paths; `-` is standard input.
    pub paths: Vec<String>,
    pub follow: bool,
    pub max_body_bytes: usize,
    pub channel_capacity: usize,
    pub checkpoint_every_events: u64,
    pub checkpoint_every: Duration,
    pub shutdown_grace: Duration,
    /// `None`: positions are not kept (memory checkpoints, stdin).
    pub positions: Option<FilePositions>,
}

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct FileSourceError {
    pub path: String,
    pub source: std::io::Error,
}

impl FileSource {
    /// Processes every input in order; returns at the end of input (unless following) or on
    /// cancellation, after waiting for in-flight deliveries and saving positions.
    pub async fn run(
        mut self,
        pipeline: Arc<Pipeline>,
        cancel: CancellationToken,
    ) -> Result<(), FileSourceError> {
        pipeline.health().set_source_connected(true);
        let paths = std::mem::take(&mut self.paths);
        let last = paths.len().saturating_sub(1);
        for (i, path) in paths.iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            // Only the last file can grow: following an earlier one would never reach the next.
            let follow = self.follow && i == last;
            self.run_one(path, follow, &pipeline, &cancel).await?;
        }
        Ok(())
    }

    async fn run_one(
        &mut self,
        path: &str,
        follow: bool,
        pipeline: &Pipeline,
        cancel: &CancellationToken,
    ) -> Result<(), FileSourceError> {
        let skip = self.positions.as_ref().map_or(0, |p| p.get(path));
        let (tx, mut rx) = mpsc::channel(self.channel_capacity);
        let reader = spawn_reader(
            path.to_string(),
            self.max_body_bytes,
            follow,
            tx,
            cancel.clone(),
        );
        let mut progress = Progress::new(self.checkpoint_every_events, self.checkpoint_every);
        let mut tick = tokio::time::interval(self.checkpoint_every.max(Duration::from_millis(10)));
        if skip > 0 {
            tracing::info!(
                path,
                lines = skip,
                "resuming file after already delivered lines"
            );
        }
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = tick.tick() => self.save(path, progress.due(false), pipeline),
                item = rx.recv() => {
                    let Some((line_no, line)) = item else { break };
                    if line_no <= skip {
                        continue;
                    }
                    let source = Source::File { path: path.to_string(), line: line_no, record_index: None };
                    let pending = match line {
                        Line::Body(body) => pipeline.process(&body, &source, cancel).await,
                        Line::TooLong { len, head } => {
                            let e = BodyError::TooLarge { size: len, limit: self.max_body_bytes };
                            pipeline.reject(e, &head, &source, cancel).await
                        }
                    };
                    let Ok(pending) = pending else { break };
                    progress.push(line_no, pending);
                    self.save(path, progress.due(false), pipeline);
                }
            }
        }
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        progress.drain(deadline).await;
        self.save(path, progress.due(true), pipeline);
        if progress.in_flight() > 0 {
            tracing::warn!(
                path,
                in_flight = progress.in_flight(),
                "stopped with undelivered lines; they will be read again"
            );
        }
        match reader.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(FileSourceError {
                path: path.to_string(),
                source,
            }),
            Err(e) => Err(FileSourceError {
                path: path.to_string(),
                source: std::io::Error::other(e),
            }),
        }
    }

    /// Saves the delivered position; `/readyz` reports the checkpoint failing until a save
    /// succeeds again (the position is kept and saved at the next one).
    fn save(&mut self, path: &str, line: Option<u64>, pipeline: &Pipeline) {
        if let (Some(line), Some(positions)) = (line, self.positions.as_mut()) {
            match positions.set(path, line) {
                Ok(()) => pipeline.health().set_checkpoint_ok(true),
                Err(e) => {
                    tracing::error!(path, error = %e, "cannot save the file position");
                    pipeline.health().set_checkpoint_ok(false);
                }
            }
        }
    }
}

fn spawn_reader(
    path: String,
    max: usize,
    follow: bool,
    tx: mpsc::Sender<(u64, Line)>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::task::spawn_blocking(move || {
        let input: Box<dyn Read + Send> = if path == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(PathBuf::from(&path))?)
        };
        let mut lines = LineReader::new(BufReader::with_capacity(1 << 20, input), max);
        let mut n = 0u64;
        loop {
            match lines.next_line()? {
                Some(line) => {
                    n += 1;
                    if tx.blocking_send((n, line)).is_err() {
                        return Ok(());
                    }
                }
                None if follow && path != "-" && !cancel.is_cancelled() => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                None => return Ok(()),
            }
        }
    })
}
