//! The file and stdin sources: newline-delimited bodies, as `replay` reads them, run through
//! the full service pipeline (sinks, dead letters, checkpoints of delivered lines).
//!
//! Lines are read on a blocking thread and handed over through a bounded channel, so a slow
//! sink slows reading; each file is one run of the shared delivery loop
//! ([`super::delivery`]), its position the number of delivered lines. With `follow`, the
//! source keeps polling the last file for appended lines.

pub(crate) mod config;

pub use config::FileSourceConfig;

use super::context::SourceContext;
use super::delivery::{self, Body, CheckpointFailed, End, Feed, Take};
use crate::alert::Origin;
use crate::decode::BodyError;
use crate::progress::Progress;
use crate::source::lines::{Line, LineReader};
use crate::source::positions::FilePositions;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Settings of a file or stdin source.
pub(crate) struct FileSource {
    /// Input paths; `-` is standard input.
    pub paths: Vec<String>,
    pub follow: bool,
    pub max_body_bytes: usize,
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
    /// shutdown, after waiting for in-flight deliveries and saving positions.
    pub(crate) async fn run(mut self, ctx: SourceContext) -> Result<(), FileSourceError> {
        ctx.health().set_source_connected(true);
        let paths = std::mem::take(&mut self.paths);
        let last = paths.len().saturating_sub(1);
        for (i, path) in paths.iter().enumerate() {
            if ctx.shutdown.is_cancelled() {
                break;
            }
            // Only the last file can grow: following an earlier one would never reach the next.
            let follow = self.follow && i == last;
            self.run_one(path, follow, &ctx).await?;
        }
        Ok(())
    }

    async fn run_one(
        &mut self,
        path: &str,
        follow: bool,
        ctx: &SourceContext,
    ) -> Result<(), FileSourceError> {
        let skip = self.positions.as_ref().map_or(0, |p| p.get(path));
        let (tx, rx) = mpsc::channel(ctx.delivery.channel_capacity);
        let reader = spawn_reader(
            path.to_string(),
            self.max_body_bytes,
            follow,
            tx,
            ctx.shutdown.clone(),
        );
        if skip > 0 {
            tracing::info!(
                path,
                lines = skip,
                "resuming file after already delivered lines"
            );
        }
        let mut feed = FileFeed {
            path,
            skip,
            max_body_bytes: self.max_body_bytes,
            positions: self.positions.as_mut(),
        };
        let finished =
            delivery::deliver(&mut feed, rx, &ctx.pipeline, ctx.delivery, &ctx.shutdown).await;
        if finished.undelivered > 0 {
            tracing::warn!(
                path,
                in_flight = finished.undelivered,
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
}

/// One file in the delivery loop: lines numbered from 1, the position the last delivered one.
pub(super) struct FileFeed<'a> {
    pub path: &'a str,
    /// Lines delivered before (the saved position): not delivered again.
    pub skip: u64,
    pub max_body_bytes: usize,
    pub positions: Option<&'a mut FilePositions>,
}

#[async_trait::async_trait]
impl Feed for FileFeed<'_> {
    type Item = (u64, Line);
    type Event = (u64, Line);
    type Position = u64;

    fn closed(&self) -> End {
        End::Ended
    }

    async fn take(
        &mut self,
        item: (u64, Line),
        _: &mut Progress<u64>,
        _: &CancellationToken,
    ) -> Take<(u64, Line)> {
        if item.0 <= self.skip {
            return Take::Skip;
        }
        Take::Deliver(item)
    }

    fn source(&self, event: &(u64, Line)) -> Origin {
        Origin::File {
            path: self.path.to_string(),
            line: event.0,
            record_index: None,
        }
    }

    fn body<'e>(&self, event: &'e (u64, Line)) -> Body<'e> {
        match &event.1 {
            Line::Body(body) => Body::Data(body),
            Line::TooLong { len, head } => Body::Rejected(
                BodyError::TooLarge {
                    size: *len,
                    limit: self.max_body_bytes,
                },
                head,
            ),
        }
    }

    fn taken(&mut self, event: (u64, Line)) -> u64 {
        event.0
    }

    async fn checkpoint(&mut self, line: &u64) -> Result<(), CheckpointFailed> {
        let Some(positions) = self.positions.as_deref_mut() else {
            return Ok(());
        };
        positions.set(self.path, *line).map_err(|e| {
            tracing::error!(path = self.path, error = %e, "cannot save the file position; it is retried at the next interval");
            CheckpointFailed(e.to_string())
        })
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
