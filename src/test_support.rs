//! Test parts shared by the pipeline's and the delivery loop's unit tests: a pipeline with the
//! default rules and no dedup over sinks that a test holds back or fails on purpose.

use crate::alert::Alert;
use crate::dead_letter::DeadLetterFile;
use crate::decode::DecodeLimits;
use crate::dedup::Deduper;
use crate::detect::Detector;
use crate::health::Health;
use crate::pipeline::Pipeline;
use crate::rules::loader::RuleOptions;
use crate::rules::RuleSet;
use crate::sink::{worker, Sink, SinkConfig, SinkError};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The sample's first body: one Key Vault key read, which raises one alert with the default
/// rules.
pub(crate) fn alert_body() -> &'static [u8] {
    let sample = include_str!("../samples/activity-log.jsonl");
    sample.lines().next().unwrap_or_default().as_bytes()
}

/// A body with no records: nothing to alert on, nothing to dead-letter.
pub(crate) const QUIET_BODY: &str = r#"{"records":[]}"#;

/// A sink that sends a batch only when the test gives it a permit, then answers from a script
/// (`Ok` once the script is used up).
pub(crate) struct Gate {
    permits: Semaphore,
    answers: Mutex<VecDeque<Result<(), SinkError>>>,
    seen: Mutex<Vec<String>>,
}

impl Gate {
    /// A gate holding every batch back until [`Gate::open`].
    pub(crate) fn closed(answers: Vec<Result<(), SinkError>>) -> Arc<Gate> {
        Arc::new(Gate {
            permits: Semaphore::new(0),
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// A gate that lets every batch through.
    pub(crate) fn open_wide(answers: Vec<Result<(), SinkError>>) -> Arc<Gate> {
        let gate = Gate::closed(answers);
        gate.open(Semaphore::MAX_PERMITS);
        gate
    }

    /// Lets `n` more batches through.
    pub(crate) fn open(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// Alert ids of every batch the worker tried to send, in order.
    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until the worker tried to send `n` batches.
    pub(crate) async fn wait_seen(&self, n: usize) {
        eventually(|| self.seen().len() >= n).await;
    }
}

#[async_trait::async_trait]
impl Sink for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.extend(alerts.iter().map(|a| a.alert_id.clone()));
        }
        if let Ok(permit) = self.permits.acquire().await {
            permit.forget();
        }
        let answer = self.answers.lock().ok().and_then(|mut a| a.pop_front());
        answer.unwrap_or(Ok(()))
    }
}

/// One alert per batch, retried quickly.
pub(crate) fn sink_config(extra: &str) -> SinkConfig {
    let text = format!(
        "kind = \"stdout\"\nbatch_size = 1\nlinger_ms = 0\nretry_backoff_max_ms = 20\n{extra}"
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// A pipeline over `sinks` with the default rules and no dedup (every match is an alert);
/// dead letters under `dir`.
pub(crate) fn pipeline(dir: &Path, sinks: Vec<(Arc<Gate>, SinkConfig)>) -> Pipeline {
    let (rules, _) = RuleSet::load(&RuleOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let detector = Arc::new(Detector::new(Arc::new(rules), DecodeLimits::default()));
    let handles = sinks
        .into_iter()
        .enumerate()
        .map(|(i, (sink, config))| {
            let dead_letter = DeadLetterFile::new(dir.join(format!("dead-letter-sink-{i}.jsonl")));
            worker::spawn(sink, config, Arc::new(dead_letter))
        })
        .collect();
    Pipeline::new(
        detector,
        Deduper::new(false),
        handles,
        Arc::new(DeadLetterFile::new(dir.join("dead-letter.jsonl"))),
        Health::new(),
    )
}

/// Waits (up to 10 s) until `check` holds; panics otherwise.
pub(crate) async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
