//! What a person watching a backfill sees: a progress bar (`indicatif`) when stderr is a
//! terminal, otherwise one JSON line on stderr every few seconds, and a summary at the end.
//! All of it is read from shared [`Counters`] the blob readers update.

use crate::detect::Stats;
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Running totals of one backfill.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub blobs: AtomicU64,
    pub blobs_done: AtomicU64,
    pub blobs_failed: AtomicU64,
    /// Bytes left to read when the run started (listing lengths minus cursor offsets).
    pub bytes_total: AtomicU64,
    pub bytes_read: AtomicU64,
    pub lines: AtomicU64,
    pub records: AtomicU64,
    pub alerts: AtomicU64,
    /// Bodies, records and rule errors dead-lettered.
    pub dead_lettered: AtomicU64,
}

impl Counters {
    /// Adds one line's detection counts.
    pub(crate) fn count(&self, s: &Stats) {
        self.lines.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(s.records, Ordering::Relaxed);
        self.alerts.fetch_add(s.alerts, Ordering::Relaxed);
        let dead = s.body_errors + s.record_errors + s.rule_errors;
        if dead > 0 {
            self.dead_lettered.fetch_add(dead, Ordering::Relaxed);
        }
    }

    /// The counters now, with rate and ETA over `elapsed`.
    pub(crate) fn snapshot(&self, elapsed: Duration) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let bytes_read = get(&self.bytes_read);
        let bytes_total = get(&self.bytes_total).max(bytes_read);
        let secs = elapsed.as_secs_f64().max(1e-3);
        let rate = bytes_read as f64 / secs;
        let eta_secs =
            (rate > 0.0).then(|| ((bytes_total - bytes_read) as f64 / rate).round() as u64);
        Snapshot {
            blobs: get(&self.blobs),
            blobs_done: get(&self.blobs_done),
            blobs_failed: get(&self.blobs_failed),
            bytes_read,
            bytes_total,
            lines: get(&self.lines),
            records: get(&self.records),
            alerts: get(&self.alerts),
            dead_lettered: get(&self.dead_lettered),
            elapsed_secs: (elapsed.as_secs_f64() * 10.0).round() / 10.0,
            mib_per_sec: (rate / 1048576.0 * 100.0).round() / 100.0,
            records_per_sec: (get(&self.records) as f64 / secs).round() as u64,
            eta_secs,
        }
    }
}

/// One progress line or the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub blobs: u64,
    pub blobs_done: u64,
    pub blobs_failed: u64,
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub lines: u64,
    pub records: u64,
    pub alerts: u64,
    pub dead_lettered: u64,
    pub elapsed_secs: f64,
    pub mib_per_sec: f64,
    pub records_per_sec: u64,
    pub eta_secs: Option<u64>,
}

impl Snapshot {
    /// The human summary line.
    pub fn summary(&self) -> String {
        format!(
            "backfill: {} of {} blobs done ({} failed), {:.1} MiB read in {:.1} s ({:.2} MiB/s), {} lines, {} records, {} alerts, {} dead-lettered",
            self.blobs_done,
            self.blobs,
            self.blobs_failed,
            self.bytes_read as f64 / 1048576.0,
            self.elapsed_secs,
            self.mib_per_sec,
            self.lines,
            self.records,
            self.alerts,
            self.dead_lettered
        )
    }
}

#[derive(Serialize)]
struct Line<'a> {
    backfill: &'a str,
    #[serde(flatten)]
    snapshot: &'a Snapshot,
}

/// Prints one JSON line (`{"backfill": "progress"|"summary", ...}`) to stderr.
pub(crate) fn print_json(kind: &str, snapshot: &Snapshot) {
    if let Ok(text) = serde_json::to_string(&Line {
        backfill: kind,
        snapshot,
    }) {
        eprintln!("{text}");
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    Bar,
    Json,
}

impl Display {
    /// A bar when stderr is a terminal, JSON lines otherwise.
    pub fn detect() -> Display {
        if std::io::stderr().is_terminal() {
            Display::Bar
        } else {
            Display::Json
        }
    }
}

/// Shows progress until `stop` fires.
pub(crate) async fn report(
    counters: Arc<Counters>,
    display: Display,
    every: Duration,
    started: Instant,
    stop: CancellationToken,
) {
    match display {
        Display::Json => loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            print_json("progress", &counters.snapshot(started.elapsed()));
        },
        Display::Bar => {
            let bar = indicatif::ProgressBar::new(counters.bytes_total.load(Ordering::Relaxed));
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} | {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            loop {
                let s = counters.snapshot(started.elapsed());
                bar.set_length(s.bytes_total);
                bar.set_position(s.bytes_read);
                bar.set_message(format!(
                    "blobs {}/{} records {} alerts {} ({} rec/s)",
                    s.blobs_done, s.blobs, s.records, s.alerts, s.records_per_sec
                ));
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            bar.finish_and_clear();
        }
    }
}
