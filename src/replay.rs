//! `hubwatch replay`: run files of Event Hubs bodies (one per line) through the detection core,
//! optionally with a context store (Key Vault operations written, Key Vault alerts answered).

use crate::alert::Source;
use crate::dead_letter::DeadLetterFile;
use crate::decode::BodyError;
use crate::dedup::Deduper;
use crate::detect::{Detector, Processed, Stats};
use crate::source::lines::{Line, LineReader};
use crate::telemetry::ProblemLog;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use time::OffsetDateTime;

/// A replay input that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Input { path: String, source: io::Error },
    #[error("cannot write alerts: {0}")]
    Output(io::Error),
    #[error(transparent)]
    DeadLetter(#[from] crate::dead_letter::DeadLetterError),
    #[error("context store: {0}")]
    Context(#[from] crate::context::StoreError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
}

/// The context store of a replay and the runtime its calls run on.
pub struct ReplayContext {
    runtime: tokio::runtime::Runtime,
    context: std::sync::Arc<crate::context::Context>,
}

impl ReplayContext {
    pub fn open(config: &crate::context::ContextConfig) -> Result<ReplayContext, ReplayError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ReplayError::Runtime)?;
        let context = runtime.block_on(async {
            let store = crate::context::open(config, std::path::Path::new(".")).await?;
            let health = crate::health::Health::new();
            Ok::<_, crate::context::StoreError>(
                crate::context::Context::start(store, config, health).await,
            )
        })?;
        Ok(ReplayContext { runtime, context })
    }

    /// Writes the body's operations (waiting for the store however long it takes: a replay
    /// loses nothing) and answers its Key Vault alerts.
    fn handle(
        &self,
        body: &[u8],
        source: &Source,
        limits: &crate::decode::DecodeLimits,
        alerts: &mut Vec<crate::alert::Alert>,
    ) -> Vec<crate::alert::Alert> {
        use crate::context::writer::Written;
        let cx = &self.context;
        self.runtime.block_on(async {
            let ops = cx.extract(body, source, limits);
            let ops = match cx.write(ops).await {
                Written::Retry(ops) => ops,
                Written::Durable => Vec::new(),
            };
            cx.answer(alerts).await;
            let followups = cx.schedule(alerts).await;
            if !ops.is_empty() || !followups.is_empty() {
                let pending = crate::ack::Pending::new(1);
                cx.retry(ops, followups, pending.ack()).await;
                pending.wait().await;
            }
            cx.due_updates().await
        })
    }

    /// The updates were written out: forget their follow-ups.
    fn delivered(&self, updates: &[crate::alert::Alert]) {
        self.runtime.block_on(async {
            for u in updates {
                self.context.delivered(&u.alert_id).await;
            }
        });
    }
}

/// Replays inputs (paths, `-` for stdin) and writes alerts as JSON lines to `out`.
pub struct Replay<'a> {
    pub detector: &'a Detector,
    pub dedup: Deduper,
    pub dead_letter: Option<DeadLetterFile>,
    pub problems: ProblemLog,
    pub max_body_bytes: usize,
    pub stats: Stats,
    pub context: Option<ReplayContext>,
}

impl<'a> Replay<'a> {
    pub fn new(
        detector: &'a Detector,
        dedup: bool,
        dead_letter: Option<PathBuf>,
        max_body_bytes: usize,
    ) -> Self {
        Replay {
            detector,
            dedup: Deduper::new(dedup),
            dead_letter: dead_letter.map(DeadLetterFile::new),
            problems: ProblemLog::default(),
            max_body_bytes,
            stats: Stats::default(),
            context: None,
        }
    }

    pub fn with_context(mut self, context: ReplayContext) -> Self {
        self.context = Some(context);
        self
    }

    /// Replays one input; an unreadable input is an error, malformed lines are not.
    pub fn input(&mut self, path: &str, out: &mut impl Write) -> Result<(), ReplayError> {
        let reader: Box<dyn Read> = if path == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(
                std::fs::File::open(path).map_err(|source| ReplayError::Input {
                    path: path.to_string(),
                    source,
                })?,
            )
        };
        let mut lines = LineReader::new(
            BufReader::with_capacity(1 << 20, reader),
            self.max_body_bytes,
        );
        let mut line_no = 0u64;
        loop {
            let line = lines.next_line().map_err(|source| ReplayError::Input {
                path: path.to_string(),
                source,
            })?;
            let Some(line) = line else { break };
            line_no += 1;
            let source = Source::File {
                path: path.to_string(),
                line: line_no,
                record_index: None,
            };
            let now = OffsetDateTime::now_utc();
            let mut updates = Vec::new();
            let processed = match line {
                Line::Body(body) => {
                    let mut p = self.detector.process(&body, &source, &mut self.dedup, now);
                    if let Some(cx) = &self.context {
                        updates = cx.handle(&body, &source, self.detector.limits(), &mut p.alerts);
                    }
                    p
                }
                Line::TooLong { len, head } => Processed::rejected(
                    BodyError::TooLarge {
                        size: len,
                        limit: self.max_body_bytes,
                    },
                    &head,
                    &source,
                ),
            };
            self.stats.add(&processed.stats);
            for alert in processed.alerts.iter().chain(&updates) {
                out.write_all(alert.to_json().as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(ReplayError::Output)?;
            }
            if let (Some(cx), false) = (&self.context, updates.is_empty()) {
                out.flush().map_err(ReplayError::Output)?;
                cx.delivered(&updates);
            }
            if !processed.problems.is_empty() {
                for p in &processed.problems {
                    self.problems.report(p);
                }
                if let Some(dl) = &self.dead_letter {
                    let entries: Vec<_> = processed.problems.into_iter().map(|p| p.entry).collect();
                    dl.write(&entries)?;
                }
            }
        }
        out.flush().map_err(ReplayError::Output)
    }
}
