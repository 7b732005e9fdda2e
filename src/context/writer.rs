//! The service's side of the context store: a body's Key Vault operations are written before
//! its alerts are answered, and durable before its event can be checkpointed; each Key Vault
//! alert gets its `runbook_answers`, or `status: "unavailable"` after a bounded wait.
//!
//! A write that fails or takes longer than `write_timeout_ms` goes to a bounded retry queue
//! with one acknowledgement of the event's [`Pending`](crate::ack::Pending): the alerts go out,
//! the event is not checkpointed until the write succeeds (retried with backoff, for as long as
//! it takes), and a full queue holds intake. `/readyz` reports the store while it fails.

use super::answers::{self, Limits};
use super::extract::{extract, may_hold_keyvault};
use super::{followup, ContextConfig, ContextStore, FollowUp, KvOp, StoreError};
use crate::ack::Ack;
use crate::alert::{Alert, Origin};
use crate::decode::{decode_body, DecodeLimits};
use crate::health::Health;
use crate::record::parse_object;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// A body's operations that still have to be written, and the right to complete its event.
struct Retry {
    ops: Vec<KvOp>,
    followups: Vec<FollowUp>,
    ack: Ack,
}

/// Follow-ups looked up per body at most.
const DUE_BATCH: usize = 64;

/// The context store as the pipeline uses it.
pub struct Context {
    store: Arc<dyn ContextStore>,
    limits: Limits,
    noise: Vec<super::noise::NoisePolicy>,
    write_timeout: Duration,
    query_timeout: Duration,
    retry: mpsc::Sender<Retry>,
    health: Arc<Health>,
    /// The stream's event time: the newest operation written by this process.
    stream_ms: AtomicI64,
    /// The earliest due time of a follow-up known to be kept (`i64::MAX`: none).
    next_due: AtomicI64,
    /// Follow-ups sent and not yet acknowledged by every sink.
    in_flight: Mutex<HashSet<String>>,
    /// Signalled whenever a sent follow-up is forgotten (or released).
    settled: tokio::sync::Notify,
}

/// How a body's write went: done, or left to the retry queue (which needs one more
/// acknowledgement of the event).
pub enum Written {
    Durable,
    Retry(Vec<KvOp>),
}

impl Context {
    /// Starts the retry worker (on the current Tokio runtime) and reads when the first kept
    /// follow-up is due (if the store answers now; else the first due check asks).
    pub async fn start(
        store: Arc<dyn ContextStore>,
        config: &ContextConfig,
        health: Arc<Health>,
    ) -> Arc<Context> {
        let next_due = match tokio::time::timeout(
            Duration::from_millis(config.query_timeout_ms),
            store.next_due(),
        )
        .await
        {
            Ok(Ok(d)) => d.unwrap_or(i64::MAX),
            _ => i64::MIN,
        };
        let (tx, rx) = mpsc::channel(config.retry_queue);
        let kind = store.kind();
        crate::telemetry::metrics::register_context_metrics(kind);
        health.set_context_failure(None);
        tokio::spawn(retry_worker(store.clone(), rx, health.clone()));
        Arc::new(Context {
            store,
            limits: Limits {
                history_ms: config.retention_ms(),
                newest_records: config.newest_records,
                max_query_records: config.max_query_records,
            },
            noise: config.noise.clone(),
            write_timeout: Duration::from_millis(config.write_timeout_ms),
            query_timeout: Duration::from_millis(config.query_timeout_ms),
            retry: tx,
            health,
            stream_ms: AtomicI64::new(i64::MIN),
            next_due: AtomicI64::new(next_due),
            in_flight: Mutex::new(HashSet::new()),
            settled: tokio::sync::Notify::new(),
        })
    }

    pub fn kind(&self) -> &'static str {
        self.store.kind()
    }

    /// The Key Vault operations of a body (records the decoder accepts; the rest is the
    /// detector's to dead-letter).
    pub fn extract(&self, body: &[u8], source: &Origin, limits: &DecodeLimits) -> Vec<KvOp> {
        if !may_hold_keyvault(body) {
            return Vec::new();
        }
        let Ok(decoded) = decode_body(body, limits) else {
            return Vec::new();
        };
        let fallback = source
            .enqueued_time()
            .unwrap_or_else(OffsetDateTime::now_utc);
        let mut ops = Vec::new();
        for rec in &decoded.records {
            if let Ok(fields) = parse_object(rec.text) {
                if let Some(op) = extract(&fields, rec.text, fallback) {
                    ops.push(op);
                }
            }
        }
        ops
    }

    /// Writes a body's operations, waiting at most `write_timeout_ms`.
    pub async fn write(&self, ops: Vec<KvOp>) -> Written {
        if ops.is_empty() {
            return Written::Durable;
        }
        let kind = self.store.kind();
        metrics::counter!("hubwatch_context_records_total", "store" => kind)
            .increment(ops.len() as u64);
        if let Some(newest) = ops.iter().map(|o| o.time_ms).max() {
            self.stream_ms.fetch_max(newest, Ordering::Relaxed);
        }
        if self.health.context_failing() {
            // Known down: do not make every body wait; the retry worker finds out when it is back.
            return Written::Retry(ops);
        }
        let started = Instant::now();
        let result = match tokio::time::timeout(self.write_timeout, self.store.write(&ops)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(self.write_timeout.as_millis() as u64)),
        };
        metrics::histogram!(crate::telemetry::metrics::CONTEXT_WRITE_HISTOGRAM, "store" => kind)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => Written::Durable,
            Err(e) => {
                metrics::counter!("hubwatch_context_errors_total", "store" => kind, "op" => "write").increment(1);
                if self.health.set_context_failure(Some(e.to_string())) {
                    tracing::error!(store = kind, error = %e, "context store write failed; alerts go out with runbook_answers unavailable and the events wait for the write before their checkpoint");
                }
                Written::Retry(ops)
            }
        }
    }

    /// Keeps the follow-ups of these (answered) alerts, waiting at most `write_timeout_ms`;
    /// the ones not kept are returned for the retry queue.
    pub async fn schedule(&self, alerts: &[Alert]) -> Vec<FollowUp> {
        let planned = followup::plan(alerts);
        if planned.is_empty() {
            return planned;
        }
        if !self.health.context_failing() {
            let r = tokio::time::timeout(self.write_timeout, self.store.schedule(&planned)).await;
            if let Ok(Ok(())) = r {
                self.note_scheduled(&planned);
                return Vec::new();
            }
            metrics::counter!("hubwatch_context_errors_total", "store" => self.store.kind(), "op" => "write").increment(1);
        }
        planned
    }

    fn note_scheduled(&self, followups: &[FollowUp]) {
        if let Some(first) = followups.iter().map(|f| f.due_ms).min() {
            self.next_due.fetch_min(first, Ordering::Relaxed);
        }
    }

    /// The updates of follow-ups due now (by the stream's event time), marked in flight;
    /// report each with [`delivered`](Self::delivered) once every sink acknowledged it.
    pub async fn due_updates(&self) -> Vec<Alert> {
        let now = self.stream_ms.load(Ordering::Relaxed);
        if now < self.next_due.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let due = tokio::time::timeout(self.query_timeout, self.store.due(now, DUE_BATCH)).await;
        let Ok(Ok(due)) = due else {
            // Asked again at the next body.
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in &due {
            if !self
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(f.alert_id.clone())
            {
                continue;
            }
            match followup::update(self.store.as_ref(), f, self.limits).await {
                Ok(update) => out.push(update),
                Err(e) => {
                    tracing::warn!(alert_id = %f.alert_id, error = %e, "cannot build the alert update; it is retried");
                    self.release(&f.alert_id);
                }
            }
        }
        if due.len() < DUE_BATCH {
            // Everything due is in flight: the next check is for the next follow-up kept.
            let next = match self.store.next_due().await {
                Ok(Some(d)) if d > now => d,
                Ok(None) => i64::MAX,
                // Due ones still in flight (or the store did not say): look again later.
                _ => now.saturating_add(1),
            };
            // Looked at again at least every minute of stream time: a follow-up another
            // partition kept meanwhile may be earlier than what the store just said.
            self.next_due
                .store(next.min(now.saturating_add(60_000)), Ordering::Relaxed);
        }
        metrics::counter!("hubwatch_context_updates_total", "store" => self.store.kind())
            .increment(out.len() as u64);
        out
    }

    fn release(&self, alert_id: &str) {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(alert_id);
        self.settled.notify_waiters();
    }

    /// At shutdown, after the sinks drained: waits (until `deadline`) for the sent follow-ups to
    /// be forgotten, so they are not sent again by the next process.
    pub async fn settle(&self, deadline: tokio::time::Instant) {
        loop {
            let notified = self.settled.notified();
            if self
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(
                    "follow-ups sent but not yet forgotten at shutdown; they may be sent again"
                );
                return;
            }
        }
    }

    /// Every sink acknowledged the update of `alert_id`: forget the follow-up. If the store
    /// cannot be told, the update is sent again later (at least once).
    pub async fn delivered(&self, alert_id: &str) {
        let mut attempt = 0u32;
        while let Err(e) = self.store.complete(alert_id).await {
            attempt += 1;
            if attempt >= 5 {
                tracing::warn!(alert_id, error = %e, "cannot forget a delivered follow-up; it may be sent again");
                self.next_due.fetch_min(i64::MIN, Ordering::Relaxed);
                break;
            }
            tokio::time::sleep(crate::retry::backoff_capped(
                attempt,
                Duration::from_secs(2),
            ))
            .await;
        }
        self.release(alert_id);
    }

    /// Hands a failed write to the retry worker; waits while its queue is full.
    pub async fn retry(&self, ops: Vec<KvOp>, followups: Vec<FollowUp>, ack: Ack) {
        self.note_scheduled(&followups);
        if self
            .retry
            .send(Retry {
                ops,
                followups,
                ack,
            })
            .await
            .is_err()
        {
            tracing::error!("context retry worker is gone; the event stays unacknowledged");
        }
        metrics::gauge!("hubwatch_context_retry_queue")
            .set((self.retry.max_capacity() - self.retry.capacity()) as f64);
    }

    /// Adds `runbook_answers` to every Key Vault alert, then applies the noise policies
    /// (which may drop an alert).
    pub async fn answer(&self, alerts: &mut Vec<Alert>) {
        for alert in alerts.iter_mut() {
            if !super::is_keyvault_rule(&alert.rule_id) {
                continue;
            }
            let answers = self.answers_for(alert).await;
            alert.runbook_answers = Some(Value::Object(answers));
        }
        if !self.noise.is_empty() {
            alerts
                .retain_mut(|a| super::noise::apply(&self.noise, a) == super::noise::Verdict::Keep);
        }
    }

    async fn answers_for(&self, alert: &Alert) -> Map<String, Value> {
        let kind = self.store.kind();
        let Some(subject) = followup::subject(alert) else {
            return answers::not_applicable(kind);
        };
        let started = Instant::now();
        let fetched = match tokio::time::timeout(
            self.query_timeout,
            answers::fetch(self.store.as_ref(), &subject, self.limits),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(self.query_timeout.as_millis() as u64)),
        };
        metrics::histogram!(crate::telemetry::metrics::CONTEXT_QUERY_HISTOGRAM, "store" => kind)
            .record(started.elapsed().as_secs_f64());
        match fetched {
            Ok(f) => answers::build(kind, &subject, f, self.limits),
            Err(e) => {
                metrics::counter!("hubwatch_context_errors_total", "store" => kind, "op" => "query").increment(1);
                metrics::counter!("hubwatch_context_unavailable_total", "store" => kind)
                    .increment(1);
                tracing::warn!(store = kind, error = %e, alert_id = %alert.alert_id, "context store did not answer; the alert goes out with runbook_answers unavailable");
                answers::unavailable(kind, &e)
            }
        }
    }
}

async fn retry_worker(
    store: Arc<dyn ContextStore>,
    mut rx: mpsc::Receiver<Retry>,
    health: Arc<Health>,
) {
    let kind = store.kind();
    while let Some(Retry {
        ops,
        followups,
        ack,
    }) = rx.recv().await
    {
        let mut attempt = 0u32;
        loop {
            let written = match store.write(&ops).await {
                Ok(()) => store.schedule(&followups).await,
                Err(e) => Err(e),
            };
            match written {
                Ok(()) => {
                    ack.done();
                    // Writable again: bodies write inline again while the queue drains (the
                    // writes are idempotent, their order does not matter).
                    if health.set_context_failure(None) {
                        tracing::info!(store = kind, "context store writable again");
                    }
                    break;
                }
                Err(e) => {
                    metrics::counter!("hubwatch_context_errors_total", "store" => kind, "op" => "write").increment(1);
                    health.set_context_failure(Some(e.to_string()));
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(crate::retry::backoff_capped(
                        attempt,
                        Duration::from_secs(5),
                    ))
                    .await;
                }
            }
        }
        metrics::gauge!("hubwatch_context_retry_queue").set(rx.len() as f64);
    }
}
