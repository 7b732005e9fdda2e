//! The pipeline every source feeds: detection, dead letters, dedup and fan-out to sinks.
//!
//! [`Pipeline::process`] takes one body and returns the [`Pending`] deliveries of its alerts;
//! the source keeps them in its partition's [`Progress`](crate::progress::Progress) and
//! checkpoints once they are done. Handing an alert to a sink waits while that sink's queue is
//! full, which is what slows consumption when a sink is slow. With a context store
//! ([`Context`]), a body's Key Vault operations are written before its alerts are answered and
//! dispatched; a write left to the retry queue holds one more acknowledgement of the event.

use crate::ack::{Ack, Pending};
use crate::alert::{Alert, Origin};
use crate::context::writer::Written;
use crate::context::Context;
use crate::dead_letter::{DeadLetter, DeadLetterFile};
use crate::dedup::Deduper;
use crate::detect::{Detector, Processed, Stats};
use crate::health::Health;
use crate::retry::backoff;
use crate::sink::worker::{Delivery, SinkHandle};
use crate::telemetry::ProblemLog;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Processing stopped because the service is shutting down; the event is not handled.
#[derive(Debug, thiserror::Error)]
#[error("shutting down")]
pub(crate) struct Cancelled;

pub(crate) struct Pipeline {
    detector: Arc<Detector>,
    dedup: Mutex<Deduper>,
    sinks: Vec<SinkHandle>,
    dead_letter: Arc<DeadLetterFile>,
    problems: ProblemLog,
    health: Arc<Health>,
    context: Option<Arc<Context>>,
}

impl Pipeline {
    pub(crate) fn new(
        detector: Arc<Detector>,
        dedup: Deduper,
        sinks: Vec<SinkHandle>,
        dead_letter: Arc<DeadLetterFile>,
        health: Arc<Health>,
    ) -> Self {
        for s in &sinks {
            health.add_sink(&s.name, s.health.clone());
        }
        Pipeline {
            detector,
            dedup: Mutex::new(dedup),
            sinks,
            dead_letter,
            problems: ProblemLog::default(),
            health,
            context: None,
        }
    }

    /// Answers Key Vault alerts from `context` and writes every body's Key Vault operations to it.
    pub(crate) fn with_context(mut self, context: Arc<Context>) -> Self {
        self.context = Some(context);
        self
    }

    pub(crate) fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Runs one body through detection and hands its alerts to the sinks.
    ///
    /// Returns once every alert is queued (not yet delivered) and every problem is durably
    /// dead-lettered. A dead-letter write that fails is retried until it succeeds or `cancel`
    /// fires; then the body is not handled and must not be checkpointed.
    pub(crate) async fn process(
        &self,
        body: &[u8],
        source: &Origin,
        cancel: &CancellationToken,
    ) -> Result<Arc<Pending>, Cancelled> {
        Ok(self.process_with_stats(body, source, cancel).await?.0)
    }

    /// [`Pipeline::process`], also returning the body's detection counts.
    pub(crate) async fn process_with_stats(
        &self,
        body: &[u8],
        source: &Origin,
        cancel: &CancellationToken,
    ) -> Result<(Arc<Pending>, Stats), Cancelled> {
        let now = OffsetDateTime::now_utc();
        let mut processed = self.detector.process(body, source, &mut &self.dedup, now);
        let stats = processed.stats;
        let Some(context) = &self.context else {
            return Ok((self.handle(processed, false, cancel).await?.0, stats));
        };
        let ops = context.extract(body, source, self.detector.limits());
        let mut retry_ops = match context.write(ops).await {
            Written::Durable => Vec::new(),
            Written::Retry(ops) => ops,
        };
        context.answer(&mut processed.alerts).await;
        let retry_followups = context.schedule(&processed.alerts).await;
        let retry = !retry_ops.is_empty() || !retry_followups.is_empty();
        let (pending, ack) = self.handle(processed, retry, cancel).await?;
        if let Some(ack) = ack {
            tokio::select! {
                _ = context.retry(std::mem::take(&mut retry_ops), retry_followups, ack) => {}
                _ = cancel.cancelled() => return Err(Cancelled),
            }
        }
        self.send_updates(context, cancel).await?;
        Ok((pending, stats))
    }

    /// Sends the follow-ups that fell due; each is forgotten once every sink acknowledged it.
    async fn send_updates(
        &self,
        context: &Arc<Context>,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        for update in context.due_updates().await {
            let id = update.alert_id.clone();
            let pending = self.dispatch(vec![update], cancel).await?;
            let context = context.clone();
            tokio::spawn(async move {
                pending.wait().await;
                context.delivered(&id).await;
            });
        }
        Ok(())
    }

    async fn handle(
        &self,
        processed: Processed,
        extra: bool,
        cancel: &CancellationToken,
    ) -> Result<(Arc<Pending>, Option<Ack>), Cancelled> {
        record_metrics(&processed);
        let Processed {
            alerts, problems, ..
        } = processed;
        if !problems.is_empty() {
            for p in &problems {
                self.problems.report(p);
                metrics::counter!("hubwatch_dead_lettered_total", "kind" => p.kind).increment(1);
            }
            let entries: Vec<DeadLetter> = problems.into_iter().map(|p| p.entry).collect();
            self.write_dead_letters(entries, cancel).await?;
        }
        self.dispatch_with(alerts, extra, cancel).await
    }

    /// Dead-letters a body that never reached the decoder (over the size limit, no data
    /// section); the returned deliveries are already done.
    pub(crate) async fn reject(
        &self,
        error: crate::decode::BodyError,
        raw: &[u8],
        source: &Origin,
        cancel: &CancellationToken,
    ) -> Result<Arc<Pending>, Cancelled> {
        let (pending, _) = self
            .handle(Processed::rejected(error, raw, source), false, cancel)
            .await?;
        Ok(pending)
    }

    /// Writes one entry to the dead-letter file durably (retrying until it succeeds or
    /// `cancel` fires) and counts it in `hubwatch_dead_lettered_total{kind}`.
    pub(crate) async fn dead_letter(
        &self,
        entry: DeadLetter,
        kind: &'static str,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        self.write_dead_letters(vec![entry], cancel).await?;
        metrics::counter!("hubwatch_dead_lettered_total", "kind" => kind).increment(1);
        Ok(())
    }

    /// Queues alerts to every sink that routes them; returns their pending deliveries.
    pub(crate) async fn dispatch(
        &self,
        alerts: Vec<Alert>,
        cancel: &CancellationToken,
    ) -> Result<Arc<Pending>, Cancelled> {
        Ok(self.dispatch_with(alerts, false, cancel).await?.0)
    }

    /// [`dispatch`](Self::dispatch), with one more delivery (`extra`) whose [`Ack`] is returned.
    async fn dispatch_with(
        &self,
        alerts: Vec<Alert>,
        extra: bool,
        cancel: &CancellationToken,
    ) -> Result<(Arc<Pending>, Option<Ack>), Cancelled> {
        let routed: Vec<(Arc<Alert>, Vec<&SinkHandle>)> = alerts
            .into_iter()
            .map(|a| {
                let sinks = self
                    .sinks
                    .iter()
                    .filter(|s| s.config.routes(&a.rule_id, a.severity))
                    .collect();
                (Arc::new(a), sinks)
            })
            .collect();
        let total: usize = routed.iter().map(|(_, s)| s.len()).sum();
        let pending = Pending::new(total + usize::from(extra));
        let extra_ack = extra.then(|| pending.ack());
        for (alert, sinks) in routed {
            for sink in sinks {
                let delivery = Delivery {
                    alert: alert.clone(),
                    ack: pending.ack(),
                };
                tokio::select! {
                    sent = sink.deliver(delivery) => {
                        if sent.is_err() {
                            tracing::error!(sink = %sink.name, "sink task is gone; alert stays unacknowledged");
                        }
                    }
                    _ = cancel.cancelled() => return Err(Cancelled),
                }
            }
        }
        Ok((pending, extra_ack))
    }

    async fn write_dead_letters(
        &self,
        entries: Vec<DeadLetter>,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let mut attempt = 0u32;
        loop {
            let file = self.dead_letter.clone();
            let batch = entries.clone();
            match tokio::task::spawn_blocking(move || file.write(&batch)).await {
                Ok(Ok(())) => {
                    self.health.set_dead_letter_ok(true);
                    return Ok(());
                }
                Ok(Err(e)) => {
                    if attempt == 0 {
                        tracing::error!(error = %e, "cannot write the dead-letter file; the partition waits and is not checkpointed");
                    }
                    self.health.set_dead_letter_ok(false);
                }
                Err(e) => tracing::error!(error = %e, "dead-letter task failed"),
            }
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(backoff(attempt)) => {}
                _ = cancel.cancelled() => return Err(Cancelled),
            }
        }
    }

    /// Closes every sink queue and waits for the sinks to drain and flush.
    pub(crate) async fn close(self) {
        for sink in self.sinks {
            sink.close().await;
        }
        if let Some(context) = &self.context {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            context.settle(deadline).await;
        }
    }
}

fn record_metrics(p: &Processed) {
    let s = &p.stats;
    metrics::counter!("hubwatch_bodies_total").increment(s.bodies);
    metrics::counter!("hubwatch_records_total").increment(s.records);
    if s.body_errors + s.record_errors > 0 {
        for problem in &p.problems {
            if problem.kind != "rule_error" && problem.kind != "alert_error" {
                metrics::counter!("hubwatch_decode_errors_total", "kind" => problem.kind)
                    .increment(1);
            }
        }
    }
    if s.rule_errors > 0 {
        metrics::counter!("hubwatch_rule_errors_total").increment(s.rule_errors);
    }
    if s.matches > 0 {
        metrics::counter!("hubwatch_matches_total").increment(s.matches);
    }
    for a in &p.alerts {
        metrics::counter!("hubwatch_alerts_total", "rule" => a.rule_id.clone()).increment(1);
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
