//! `hubwatch replay`: run files of Event Hubs bodies (one per line) through the detection core,
//! optionally with a context store (Key Vault operations written, Key Vault alerts answered).

mod blocks;

use crate::alert::Origin;
use crate::dead_letter::DeadLetterFile;
use crate::decode::BodyError;
use crate::dedup::Deduper;
use crate::detect::{Detector, Evaluated, Processed, Stats};
use crate::telemetry::ProblemLog;
use blocks::{Block, BlockReader, LineRef};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use time::OffsetDateTime;

/// A replay input that could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
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
pub(crate) struct ReplayContext {
    runtime: tokio::runtime::Runtime,
    context: std::sync::Arc<crate::context::Context>,
}

impl ReplayContext {
    pub(crate) fn open(
        config: &crate::context::ContextConfig,
    ) -> Result<ReplayContext, ReplayError> {
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
        source: &Origin,
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
pub(crate) struct Replay<'a> {
    pub detector: &'a Detector,
    pub dedup: Deduper,
    pub dead_letter: Option<DeadLetterFile>,
    pub problems: ProblemLog,
    pub max_body_bytes: usize,
    pub stats: Stats,
    /// Threads evaluating bodies; 1 evaluates on the calling thread.
    pub jobs: usize,
    pub context: Option<ReplayContext>,
}

impl<'a> Replay<'a> {
    pub(crate) fn new(
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
            jobs: 1,
            context: None,
        }
    }

    pub(crate) fn with_context(mut self, context: ReplayContext) -> Self {
        self.context = Some(context);
        self
    }

    /// Replays one input; an unreadable input is an error, malformed lines are not.
    ///
    /// With more than one job, blocks of bodies are evaluated on `jobs` threads while this
    /// thread admits them through dedup and writes their alerts in input order, so the output
    /// is the same as with one job.
    pub(crate) fn input(&mut self, path: &str, out: &mut impl Write) -> Result<(), ReplayError> {
        let input_error = |source| ReplayError::Input {
            path: path.to_string(),
            source,
        };
        let reader: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(input_error)?)
        };
        let mut input = BlockReader::new(reader, self.max_body_bytes);
        // With a context store each body's writes come before its alerts' answers: one thread.
        if self.jobs <= 1 || self.context.is_some() {
            let mut buffer = Vec::new();
            while let Some(block) = input.next_block(buffer).map_err(input_error)? {
                for (line_no, line) in block.lines() {
                    let source = file_source(path, line_no);
                    let evaluated = evaluate(self.detector, self.max_body_bytes, &source, &line);
                    let mut processed = evaluated.admit(&mut self.dedup);
                    let mut updates = Vec::new();
                    if let (Some(cx), LineRef::Body(body)) = (&self.context, &line) {
                        updates =
                            cx.handle(body, &source, self.detector.limits(), &mut processed.alerts);
                    }
                    self.emit(processed, &updates, out)?;
                }
                buffer = block.into_buffer();
            }
            return out.flush().map_err(ReplayError::Output);
        }
        let (detector, max_body_bytes, jobs) = (self.detector, self.max_body_bytes, self.jobs);
        std::thread::scope(|scope| {
            let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Block)>(jobs * 2);
            let work_rx = Arc::new(Mutex::new(work_rx));
            let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Vec<Evaluated>)>(jobs * 2);
            // Buffers of evaluated blocks go back to the reader (a few; the rest are dropped).
            let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(jobs * 2);
            for _ in 0..jobs {
                let work_rx = Arc::clone(&work_rx);
                let (done_tx, spare_tx) = (done_tx.clone(), spare_tx.clone());
                scope.spawn(move || loop {
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, block))) = next else { break };
                    let evaluated = block
                        .lines()
                        .map(|(n, line)| {
                            evaluate(detector, max_body_bytes, &file_source(path, n), &line)
                        })
                        .collect();
                    let _ = spare_tx.try_send(block.into_buffer());
                    // The writer has stopped (an output error): stop too.
                    if done_tx.send((seq, evaluated)).is_err() {
                        break;
                    }
                });
            }
            drop((work_rx, done_tx, spare_tx));
            let reader = scope.spawn(move || {
                for seq in 0u64.. {
                    let buffer = spare_rx.try_recv().unwrap_or_default();
                    let Some(block) = input.next_block(buffer)? else {
                        break;
                    };
                    if work_tx.send((seq, block)).is_err() {
                        break;
                    }
                }
                Ok::<(), io::Error>(())
            });
            // Returning drops the results' receiver, which stops the jobs and then the reader.
            for evaluated in ordered(done_rx) {
                let processed = evaluated.admit(&mut self.dedup);
                self.emit(processed, &[], out)?;
            }
            match reader.join() {
                Ok(Ok(())) => out.flush().map_err(ReplayError::Output),
                Ok(Err(e)) => Err(input_error(e)),
                Err(_) => Err(input_error(io::Error::other("the input reader panicked"))),
            }
        })
    }

    /// The alerts (and follow-ups) to `out`, the problems to the log and dead-letter file.
    fn emit(
        &mut self,
        processed: Processed,
        updates: &[crate::alert::Alert],
        out: &mut impl Write,
    ) -> Result<(), ReplayError> {
        self.stats.add(&processed.stats);
        for alert in processed.alerts.iter().chain(updates) {
            out.write_all(alert.to_json().as_bytes())
                .and_then(|_| out.write_all(b"\n"))
                .map_err(ReplayError::Output)?;
        }
        if let (Some(cx), false) = (&self.context, updates.is_empty()) {
            out.flush().map_err(ReplayError::Output)?;
            cx.delivered(updates);
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
        Ok(())
    }
}

/// Where line `line` of input `path` came from.
fn file_source(path: &str, line: u64) -> Origin {
    Origin::File {
        path: path.to_string(),
        line,
        record_index: None,
    }
}

/// One line through detection, short of dedup.
fn evaluate(
    detector: &Detector,
    max_body_bytes: usize,
    source: &Origin,
    line: &LineRef<'_>,
) -> Evaluated {
    match *line {
        LineRef::Body(body) => detector.evaluate(body, source, OffsetDateTime::now_utc()),
        LineRef::TooLong { len, head } => Processed::rejected(
            BodyError::TooLarge {
                size: len,
                limit: max_body_bytes,
            },
            head,
            source,
        )
        .into(),
    }
}

/// Results in block order, as they complete.
fn ordered(done: mpsc::Receiver<(u64, Vec<Evaluated>)>) -> impl Iterator<Item = Evaluated> {
    let mut waiting = BTreeMap::new();
    let mut next = 0u64;
    std::iter::from_fn(move || loop {
        if let Some(block) = waiting.remove(&next) {
            next += 1;
            return Some(block);
        }
        let (seq, block): (u64, Vec<Evaluated>) = done.recv().ok()?;
        waiting.insert(seq, block);
    })
    .flatten()
}
