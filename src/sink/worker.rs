//! The task behind each sink: bounded queue, batching, retries, dead letters, acknowledgements.
//!
//! The queue is bounded, so a sink that keeps failing fills it and the pipeline waits: alerts
//! are never dropped and memory stays flat. A transient failure is retried with exponential
//! backoff and jitter, capped at `retry_backoff_max_ms` (default 4 s: a sink that comes back is
//! used again within seconds, one that stays down sees one attempt every 2-4 s) and honouring
//! `Retry-After`, until `retry_deadline_secs`; a permanent one
//! (or an expired deadline) sends the alerts to the sink's dead-letter file. A delivery is
//! acknowledged only after the destination accepted it or the dead-letter write was fsynced; if
//! even that write fails, the worker keeps trying and never acknowledges.

use super::{Sink, SinkConfig, SinkError};
use crate::ack::Ack;
use crate::alert::Alert;
use crate::dead_letter::{DeadLetter, DeadLetterFile};
use crate::retry::{backoff, backoff_capped};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// An alert on its way to one sink, with the right to acknowledge it.
#[derive(Debug)]
pub struct Delivery {
    pub alert: Arc<Alert>,
    pub ack: Ack,
}

/// The longest `Retry-After` honoured.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);

/// Consecutive failed attempts at one batch after which the sink counts as failing (logged
/// once at WARN, `/readyz` 503). A single failure that the next retry fixes, as a flaky
/// endpoint gives, is only counted in the metrics and logged at debug level.
const FAILING_AFTER_ATTEMPTS: u32 = 3;

/// Whether a sink is currently accepting alerts (for `/readyz`).
#[derive(Debug)]
pub struct SinkHealth {
    accepting: AtomicBool,
}

impl SinkHealth {
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Relaxed)
    }

    fn recovered(&self, name: &str) {
        if !self.accepting.swap(true, Ordering::Relaxed) {
            metrics::gauge!("hubwatch_sink_up", "sink" => name.to_string()).set(1.0);
            tracing::info!(sink = name, "sink recovered");
        }
    }

    fn failing(&self, name: &str, error: &str) {
        if self.accepting.swap(false, Ordering::Relaxed) {
            metrics::gauge!("hubwatch_sink_up", "sink" => name.to_string()).set(0.0);
            tracing::warn!(sink = name, error, "sink failing; alerts wait in its queue");
        }
    }
}

/// The pipeline's side of a running sink.
pub struct SinkHandle {
    pub name: String,
    pub config: SinkConfig,
    pub health: Arc<SinkHealth>,
    tx: mpsc::Sender<Delivery>,
    depth: metrics::Gauge,
    task: JoinHandle<()>,
}

impl SinkHandle {
    /// Queues a delivery, waiting while the queue is full. Fails only if the worker is gone.
    pub async fn deliver(&self, d: Delivery) -> Result<(), Delivery> {
        let sent = self.tx.send(d).await.map_err(|e| e.0);
        // Set on both ends: while the worker is stuck retrying a batch, only this side sees
        // the queue fill up.
        self.depth.set(queued(&self.tx) as f64);
        sent
    }

    /// Closes the queue and waits for the worker to drain and flush it.
    pub async fn close(self) {
        drop(self.tx);
        if let Err(e) = self.task.await {
            tracing::error!(sink = %self.name, error = %e, "sink task failed");
        }
    }
}

/// Starts the worker task of a sink.
pub fn spawn(
    sink: Arc<dyn Sink>,
    config: SinkConfig,
    dead_letter: Arc<DeadLetterFile>,
) -> SinkHandle {
    let (tx, rx) = mpsc::channel(config.shared.queue_size);
    let health = Arc::new(SinkHealth {
        accepting: AtomicBool::new(true),
    });
    let name = sink.name().to_string();
    let depth = metrics::gauge!("hubwatch_sink_queue_depth", "sink" => name.clone());
    let worker = Worker {
        sink,
        batch_size: config.shared.batch_size,
        linger: Duration::from_millis(config.shared.linger_ms),
        deadline: (config.shared.retry_deadline_secs > 0)
            .then(|| Duration::from_secs(config.shared.retry_deadline_secs)),
        backoff_max: Duration::from_millis(config.shared.retry_backoff_max_ms),
        dead_letter,
        health: health.clone(),
        name: name.clone(),
        depth: depth.clone(),
    };
    let task = tokio::spawn(worker.run(rx));
    SinkHandle {
        name,
        config,
        health,
        tx,
        depth,
        task,
    }
}

/// Deliveries waiting in a queue.
fn queued(tx: &mpsc::Sender<Delivery>) -> usize {
    tx.max_capacity().saturating_sub(tx.capacity())
}

struct Worker {
    sink: Arc<dyn Sink>,
    name: String,
    batch_size: usize,
    linger: Duration,
    deadline: Option<Duration>,
    backoff_max: Duration,
    dead_letter: Arc<DeadLetterFile>,
    health: Arc<SinkHealth>,
    depth: metrics::Gauge,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Delivery>) {
        let mut batch = Vec::with_capacity(self.batch_size);
        loop {
            self.depth.set(rx.len() as f64);
            let Some(first) = rx.recv().await else { break };
            batch.push(first);
            let linger_end = tokio::time::Instant::now() + self.linger;
            while batch.len() < self.batch_size {
                match tokio::time::timeout_at(linger_end, rx.recv()).await {
                    Ok(Some(d)) => batch.push(d),
                    Ok(None) | Err(_) => break,
                }
            }
            self.depth.set(rx.len() as f64);
            self.deliver(std::mem::take(&mut batch)).await;
        }
        if let Err(e) = self.sink.flush().await {
            tracing::error!(sink = %self.name, error = %e, "flushing sink on shutdown failed");
        }
    }

    /// Delivers a batch until it is accepted or dead-lettered.
    async fn deliver(&self, batch: Vec<Delivery>) {
        let alerts: Vec<Arc<Alert>> = batch.iter().map(|d| d.alert.clone()).collect();
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let result = self.sink.send(&alerts).await;
            let labels = [("sink", self.name.clone())];
            match result {
                Ok(()) => {
                    self.health.recovered(&self.name);
                    metrics::counter!("hubwatch_sink_sent_total", &labels)
                        .increment(alerts.len() as u64);
                    for d in &batch {
                        observe_latency(&d.alert);
                    }
                    for d in batch {
                        d.ack.done();
                    }
                    return;
                }
                Err(SinkError::Permanent { message }) => {
                    metrics::counter!("hubwatch_sink_failed_total", &labels)
                        .increment(alerts.len() as u64);
                    if batch.len() > 1 {
                        // One bad alert must not sink its neighbours: try them one by one.
                        for d in batch {
                            Box::pin(self.deliver(vec![d])).await;
                        }
                        return;
                    }
                    tracing::warn!(sink = %self.name, error = %message, "sink refused an alert; dead-lettering it");
                    self.dead_letter_batch(
                        batch,
                        &format!("sink {} refused: {message}", self.name),
                    )
                    .await;
                    return;
                }
                Err(SinkError::Transient {
                    message,
                    retry_after,
                }) => {
                    metrics::counter!("hubwatch_sink_failed_total", &labels)
                        .increment(alerts.len() as u64);
                    if self.deadline.is_some_and(|d| started.elapsed() >= d) {
                        tracing::warn!(sink = %self.name, error = %message, "retry deadline passed; dead-lettering the batch");
                        self.dead_letter_batch(
                            batch,
                            &format!(
                                "sink {} kept failing until the retry deadline: {message}",
                                self.name
                            ),
                        )
                        .await;
                        return;
                    }
                    metrics::counter!("hubwatch_sink_retries_total", &labels).increment(1);
                    let wait = retry_after
                        .map(|r| r.min(RETRY_AFTER_MAX))
                        .unwrap_or_else(|| backoff_capped(attempt, self.backoff_max));
                    attempt = attempt.saturating_add(1);
                    tracing::debug!(sink = %self.name, error = %message, attempt, "sink delivery failed; retrying");
                    if attempt >= FAILING_AFTER_ATTEMPTS {
                        self.health.failing(&self.name, &message);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Writes the batch to the dead-letter file, retrying the write until it succeeds; only
    /// then are the deliveries acknowledged.
    async fn dead_letter_batch(&self, batch: Vec<Delivery>, reason: &str) {
        let entries: Vec<DeadLetter> = batch
            .iter()
            .map(|d| DeadLetter::alert((*d.alert).clone(), &self.name, reason.to_string()))
            .collect();
        let mut attempt = 0u32;
        loop {
            let file = self.dead_letter.clone();
            let entries = entries.clone();
            let written = tokio::task::spawn_blocking(move || file.write(&entries)).await;
            match written {
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    self.health
                        .failing(&self.name, "cannot write the dead-letter file");
                    tracing::error!(sink = %self.name, error = %e, "cannot dead-letter alerts; they stay unacknowledged");
                }
                Err(e) => tracing::error!(sink = %self.name, error = %e, "dead-letter task failed"),
            }
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(backoff(attempt)).await;
        }
        metrics::counter!("hubwatch_dead_lettered_total", "kind" => "alert", "sink" => self.name.clone())
            .increment(batch.len() as u64);
        for d in batch {
            d.ack.done();
        }
    }
}

/// End-to-end latency: from Event Hubs' enqueued time to the sink's acknowledgement.
fn observe_latency(alert: &Alert) {
    if let Some(enqueued) = alert.source.enqueued_time() {
        let secs = (time::OffsetDateTime::now_utc() - enqueued).as_seconds_f64();
        if secs >= 0.0 {
            metrics::histogram!(crate::telemetry::metrics::LATENCY_HISTOGRAM).record(secs);
        }
    }
}
