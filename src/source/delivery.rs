//! The delivery loop every source runs for each partition or file it reads: items from a
//! reader's channel go through the pipeline in order, their pending deliveries are followed in
//! a [`Progress`], the delivered prefix is checkpointed at the configured cadence, and at the
//! end in-flight deliveries drain within the grace period before the final checkpoint.
//!
//! A source describes what differs as a [`Feed`]: how a received item becomes an event (or
//! ends the loop), the event's body and alert source, what of it is kept until checkpointed,
//! and how a position is written. The loop owns the rest, so the order of intake, ticks,
//! checkpoints and drain is the same for every source.

use super::context::DeliverySettings;
use crate::alert::Origin;
use crate::decode::BodyError;
use crate::health::Health;
use crate::pipeline::Pipeline;
use crate::progress::Progress;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The shortest time between two checkpoint ticks (`checkpoint.interval_ms = 0` would spin).
const MIN_TICK: Duration = Duration::from_millis(10);

/// What an event hands the pipeline.
pub(crate) enum Body<'a> {
    /// A body to decode and run the rules over.
    Data(&'a [u8]),
    /// A body that never reaches the decoder; dead-lettered with its head.
    Rejected(BodyError, &'a [u8]),
}

/// What the feed made of one received item.
pub(crate) enum Take<E> {
    Deliver(E),
    /// Already delivered before (a file resumed after its saved position).
    Skip,
    End(End),
}

/// Why a delivery loop ended, which decides what happens to what is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Shutdown: in-flight deliveries drain, then the final checkpoint.
    Stopped,
    /// The input ended (a file that is not followed): drain, then the final checkpoint.
    Ended,
    /// The receiver failed: what is delivered is checkpointed at once, without waiting for the
    /// rest (it is read again after the reconnection).
    Failed,
    /// Another owner took the input over: its checkpoints are no longer ours to write.
    Lost,
}

/// How a delivery loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finished {
    pub end: End,
    /// Events taken in and not fully delivered: they are read again after a restart.
    pub undelivered: usize,
}

/// A checkpoint write failed; the position stays the candidate for the next one.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint failed: {0}")]
pub(crate) struct CheckpointFailed(pub String);

/// One partition or file, as the delivery loop sees it.
#[async_trait::async_trait]
pub(crate) trait Feed: Send {
    /// What the reader sends through the channel.
    type Item: Send;
    /// A received event on its way through the pipeline.
    type Event: Send + Sync;
    /// What is kept of an event until it is checkpointed.
    type Position: Send + Sync;

    /// How the loop ends when the reader closes its channel.
    fn closed(&self) -> End;

    /// Turns a received item into an event. `progress` is there for policies that must
    /// checkpoint before they act (the poison-event policy ends a partition that way).
    async fn take(
        &mut self,
        item: Self::Item,
        progress: &mut Progress<Self::Position>,
        cancel: &CancellationToken,
    ) -> Take<Self::Event>;

    /// Where the event's alerts say they came from.
    fn source(&self, event: &Self::Event) -> Origin;

    fn body<'e>(&self, event: &'e Self::Event) -> Body<'e>;

    /// The event is handed to the sinks: what is kept of it until it is checkpointed.
    fn taken(&mut self, event: Self::Event) -> Self::Position;

    /// Writes `position` durably, logging a failure with the feed's own fields.
    async fn checkpoint(&mut self, position: &Self::Position) -> Result<(), CheckpointFailed>;
}

/// Runs `feed` over `rx` until shutdown, the end of input or a failure; then drains and writes
/// the final checkpoint as [`End`] says.
pub(crate) async fn deliver<F: Feed>(
    feed: &mut F,
    mut rx: mpsc::Receiver<F::Item>,
    pipeline: &Pipeline,
    settings: DeliverySettings,
    cancel: &CancellationToken,
) -> Finished {
    let mut progress = Progress::new(settings.checkpoint_every_events, settings.checkpoint_every);
    let end = intake(feed, &mut rx, &mut progress, pipeline, settings, cancel).await;
    // With its channel gone the reader stops, instead of reading on during the drain.
    drop(rx);
    if matches!(end, End::Stopped | End::Ended) {
        progress
            .drain(tokio::time::Instant::now() + settings.shutdown_grace)
            .await;
    }
    if end != End::Lost {
        checkpoint_due(feed, &mut progress, pipeline.health(), true).await;
    }
    Finished {
        end,
        undelivered: progress.in_flight(),
    }
}

async fn intake<F: Feed>(
    feed: &mut F,
    rx: &mut mpsc::Receiver<F::Item>,
    progress: &mut Progress<F::Position>,
    pipeline: &Pipeline,
    settings: DeliverySettings,
    cancel: &CancellationToken,
) -> End {
    let mut tick = tokio::time::interval(settings.checkpoint_every.max(MIN_TICK));
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return End::Stopped,
            _ = tick.tick() => {
                checkpoint_due(feed, progress, pipeline.health(), false).await;
            }
            item = rx.recv() => {
                let Some(item) = item else { return feed.closed() };
                let event = match feed.take(item, progress, cancel).await {
                    Take::Deliver(event) => event,
                    Take::Skip => continue,
                    Take::End(end) => return end,
                };
                let source = feed.source(&event);
                let pending = match feed.body(&event) {
                    Body::Data(body) => pipeline.process(body, &source, cancel).await,
                    Body::Rejected(error, head) => pipeline.reject(error, head, &source, cancel).await,
                };
                // Cancelled while handing it over: not handled, so never checkpointed.
                let Ok(pending) = pending else { return End::Stopped };
                progress.push(feed.taken(event), pending);
                checkpoint_due(feed, progress, pipeline.health(), false).await;
            }
        }
    }
}

/// Checkpoints the delivered prefix if due (or `force`). `/readyz` reports the checkpoint
/// failing until a write succeeds again; a failed position stays the candidate. False when
/// the write failed.
pub(crate) async fn checkpoint_due<F: Feed>(
    feed: &mut F,
    progress: &mut Progress<F::Position>,
    health: &Health,
    force: bool,
) -> bool {
    let Some(position) = progress.due(force) else {
        return true;
    };
    match feed.checkpoint(&position).await {
        Ok(()) => {
            health.set_checkpoint_ok(true);
            true
        }
        Err(_) => {
            health.set_checkpoint_ok(false);
            progress.restore(position);
            false
        }
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
