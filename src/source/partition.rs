//! One claimed partition: a local task reads the SDK's event stream (and watches for a
//! receiver that stalls), a worker processes the events in order, checkpoints the delivered
//! prefix and applies the poison-event policy when the same event cannot be received again
//! and again.

use super::eventhubs::PartitionSettings;
use super::lag::LagTracker;
use super::poison::{self, PoisonPolicy};
use crate::alert::Source;
use crate::azure;
use crate::decode::BodyError;
use crate::pipeline::Pipeline;
use crate::progress::Progress;
use azure_messaging_eventhubs::error::ErrorKind as EhErrorKind;
use azure_messaging_eventhubs::models::{Checkpoint, ReceivedEventData};
use azure_messaging_eventhubs::processor::PartitionClient;
use azure_messaging_eventhubs::CheckpointStore;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// What the source gives every partition it claims.
#[derive(Clone)]
pub(super) struct PartitionContext {
    pub pipeline: Arc<Pipeline>,
    pub settings: PartitionSettings,
    pub namespace: String,
    pub eventhub: String,
    pub consumer_group: String,
    pub lag: LagTracker,
    /// See [`crate::config::SourceConfig::stall_timeout_secs`]; `None` when off.
    pub stall_timeout: Option<Duration>,
    /// Where checkpoints are read (to place a poison event) and written past one.
    pub store: Arc<dyn CheckpointStore>,
    /// `None` when `poison_after_failures = 0`.
    pub poison: Option<PoisonPolicy>,
    /// Whether a partition without a checkpoint starts at its first event.
    pub starts_earliest: bool,
}

/// One claimed partition. The SDK's event stream is not `Send`, so reading runs as a local
/// task (on the thread driving the source's `LocalSet`) that only forwards events; processing
/// and checkpoints run in a [`PartitionWorker`] on the multi-threaded runtime.
pub(super) struct PartitionTask {
    client: Arc<PartitionClient>,
    worker: PartitionWorker,
    lag: LagTracker,
    stall_timeout: Option<Duration>,
}

/// How often a partition reader checks whether its receiver has stalled.
const STALL_CHECK: Duration = Duration::from_secs(5);

impl PartitionTask {
    pub(super) fn new(client: Arc<PartitionClient>, ctx: PartitionContext) -> Self {
        PartitionTask {
            lag: ctx.lag.clone(),
            stall_timeout: ctx.stall_timeout,
            worker: PartitionWorker {
                client: client.clone(),
                ctx,
            },
            client,
        }
    }

    pub(super) async fn run(self, cancel: CancellationToken) -> String {
        let id = self.client.get_partition_id().to_string();
        let (tx, rx) = tokio::sync::mpsc::channel(self.worker.ctx.settings.channel_capacity);
        let pipeline = self.worker.ctx.pipeline.clone();
        let worker = tokio::spawn(self.worker.run(id.clone(), rx, cancel));
        {
            let mut stream = self.client.stream_events();
            let mut check = tokio::time::interval(STALL_CHECK);
            // Time spent waiting on the receiver, not on a full channel to the worker: a slow
            // sink is not a stall.
            let mut waiting_since = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    _ = check.tick(), if self.stall_timeout.is_some() => {
                        let timeout = self.stall_timeout.unwrap_or(Duration::MAX);
                        if waiting_since.elapsed() >= timeout && stalled(&self.lag, &pipeline, &id, timeout) {
                            break;
                        }
                    }
                    item = stream.next() => {
                        let Some(item) = item else { break };
                        let failed = item.is_err();
                        if let Ok(ev) = &item {
                            self.lag.received(&id, ev.sequence_number().unwrap_or(-1));
                        }
                        if tx.send(item).await.is_err() || failed {
                            break;
                        }
                        waiting_since = tokio::time::Instant::now();
                    }
                }
            }
        }
        drop(tx);
        let end = worker.await.unwrap_or(End::Failed);
        match end {
            End::Lost => {
                tracing::info!(partition = %id, "partition lost to another replica; released")
            }
            End::Failed => {
                tracing::warn!(partition = %id, "partition receiver failed; released for reconnection")
            }
            End::Stopped => tracing::info!(partition = %id, "partition released"),
        }
        // The processor keeps only a weak reference: with the stream and the worker gone this
        // task holds the client alone, and closing it frees the partition for the next claim.
        match Arc::try_unwrap(self.client) {
            Ok(c) => {
                if let Err(e) = c.close().await {
                    tracing::debug!(partition = %id, error = %e, "closing partition client");
                }
            }
            Err(_) => tracing::warn!(partition = %id, "partition client still shared; not closed"),
        }
        id
    }
}

/// True (and reported) when the hub holds events newer than the last one a receiver silent
/// for `timeout` delivered: it has stalled without an error.
fn stalled(lag: &LagTracker, pipeline: &Pipeline, id: &str, timeout: Duration) -> bool {
    let Some((enqueued, received)) = lag.behind(id) else {
        return false;
    };
    metrics::counter!("hubwatch_partition_stalls_total", "partition" => id.to_string())
        .increment(1);
    pipeline
        .health()
        .set_source_failure("a partition receiver stalled; reopened");
    tracing::warn!(
            partition = %id,
            silent_secs = timeout.as_secs(),
            last_enqueued_sequence_number = enqueued,
            last_received_sequence_number = ?received,
        "partition receiver delivered nothing although the hub holds newer events; reopening it"
    );
    true
}

/// Processes one partition's events in order and checkpoints the delivered prefix.
struct PartitionWorker {
    client: Arc<PartitionClient>,
    ctx: PartitionContext,
}

type Received = azure_messaging_eventhubs::Result<ReceivedEventData>;

impl PartitionWorker {
    async fn run(
        self,
        id: String,
        mut rx: tokio::sync::mpsc::Receiver<Received>,
        cancel: CancellationToken,
    ) -> End {
        let settings = self.ctx.settings;
        let mut progress =
            Progress::new(settings.checkpoint_every_events, settings.checkpoint_every);
        let end = self.consume(&id, &mut rx, &mut progress, &cancel).await;
        drop(rx);
        if end == End::Stopped {
            progress
                .drain(tokio::time::Instant::now() + settings.shutdown_grace)
                .await;
        }
        if end != End::Lost {
            self.checkpoint_due(&id, &mut progress, true).await;
        }
        if progress.in_flight() > 0 {
            tracing::warn!(partition = %id, in_flight = progress.in_flight(), "undelivered events will be read again");
        }
        end
    }

    async fn consume(
        &self,
        id: &str,
        rx: &mut tokio::sync::mpsc::Receiver<Received>,
        progress: &mut Progress<ReceivedEventData>,
        cancel: &CancellationToken,
    ) -> End {
        let ctx = &self.ctx;
        let mut tick =
            tokio::time::interval(ctx.settings.checkpoint_every.max(Duration::from_millis(10)));
        let seq_gauge =
            metrics::gauge!("hubwatch_partition_sequence_number", "partition" => id.to_string());
        // The last event taken in during this claim: where a receive that fails stands.
        let mut last_received: Option<i64> = None;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return End::Stopped,
                _ = tick.tick() => self.checkpoint_due(id, progress, false).await,
                item = rx.recv() => {
                    let ev = match item {
                        None => return End::Failed,
                        Some(Err(e)) if matches!(e.kind, EhErrorKind::ConsumerDisconnected(_)) => return End::Lost,
                        Some(Err(e)) => {
                            self.receive_failed(id, &e);
                            if poison::names_the_event(&e) {
                                self.poison_failure(id, last_received, &e, progress, cancel).await;
                            }
                            return End::Failed;
                        }
                        Some(Ok(ev)) => {
                            if ctx.pipeline.health().clear_source_failure() {
                                tracing::info!(partition = %id, "receiving from Event Hubs again");
                            }
                            ev
                        }
                    };
                    let sequence_number = ev.sequence_number().unwrap_or(-1);
                    last_received = ev.sequence_number();
                    if let Some(p) = &ctx.poison {
                        p.received(id, sequence_number);
                    }
                    let source = Source::EventHubs {
                        namespace: ctx.namespace.clone(),
                        eventhub: ctx.eventhub.clone(),
                        consumer_group: ctx.consumer_group.clone(),
                        partition: id.to_string(),
                        sequence_number,
                        offset: ev.offset().clone(),
                        enqueued_time: ev.enqueued_time().map(OffsetDateTime::from),
                        record_index: None,
                    };
                    let pending = match ev.event_data().body() {
                        Some(body) => ctx.pipeline.process(body, &source, cancel).await,
                        None => ctx.pipeline.reject(BodyError::NotData, &[], &source, cancel).await,
                    };
                    let Ok(pending) = pending else { return End::Stopped };
                    seq_gauge.set(sequence_number as f64);
                    ctx.lag.processed(id, sequence_number);
                    progress.push(ev, pending);
                    self.checkpoint_due(id, progress, false).await;
                }
            }
        }
    }

    /// Reports a receive failure: readiness turns 503 (see [`crate::health`]); the first
    /// failure is logged as a warning (an error naming the cause for refused credentials), and
    /// the repeats that follow at every reclaim only at debug level.
    fn receive_failed(&self, id: &str, e: &azure_messaging_eventhubs::error::EventHubsError) {
        let unauthorized = credentials_refused(e);
        let reason = if unauthorized {
            CREDENTIALS_REFUSED
        } else {
            "receiving from a partition failed"
        };
        if self.ctx.pipeline.health().set_source_failure(reason) {
            if unauthorized {
                tracing::error!(partition = %id, error = %azure::error_chain(e), "Event Hubs refused the credentials (expired or revoked token, or a missing role assignment); retrying at every reclaim until they are accepted");
            } else {
                tracing::warn!(partition = %id, error = %azure::error_chain(e), "receiving from partition failed");
            }
        } else {
            tracing::debug!(partition = %id, error = %azure::error_chain(e), "receiving from partition failed again");
        }
    }

    /// The poison-event policy, after a receive failure that names the event at the
    /// receiver's position: once the same position failed `poison_after_failures` times in a
    /// row, the event after it is dead-lettered (position and what is known of it) and the
    /// partition is checkpointed past it, so the next claim starts behind it. Only after every
    /// event before it is delivered and checkpointed: nothing else is skipped.
    async fn poison_failure(
        &self,
        id: &str,
        last_received: Option<i64>,
        error: &azure_messaging_eventhubs::error::EventHubsError,
        progress: &mut Progress<ReceivedEventData>,
        cancel: &CancellationToken,
    ) {
        let ctx = &self.ctx;
        let Some(policy) = &ctx.poison else { return };
        let position = match last_received {
            Some(seq) => Some(seq),
            None => self.claim_start(id).await,
        };
        let Some(position) = position else {
            tracing::debug!(partition = %id, "receive failed before any event; the position is unknown, so the poison-event policy cannot name the event");
            return;
        };
        let suspect = position + 1;
        // A failure past the hub's last event (when known) is no event's fault.
        if ctx.lag.enqueued(id).is_some_and(|last| last < suspect) {
            tracing::debug!(partition = %id, suspect, "the hub holds no event after the position; not counted as a poison event");
            return;
        }
        let failures = policy.failed(id, position);
        if failures < policy.after() {
            tracing::debug!(partition = %id, sequence_number = suspect, failures, "the same event failed to arrive again");
            return;
        }
        // Everything before the event must be delivered and checkpointed first.
        let deadline = tokio::time::Instant::now() + ctx.settings.shutdown_grace;
        tokio::select! {
            _ = progress.drain(deadline) => {}
            _ = cancel.cancelled() => return,
        }
        if let Some(ev) = progress.due(true) {
            if self.checkpoint(id, &ev).await.is_err() {
                return;
            }
        }
        if progress.in_flight() > 0 || cancel.is_cancelled() {
            tracing::info!(partition = %id, sequence_number = suspect, "a poison event waits until the events before it are delivered");
            return;
        }
        let error_text = azure::error_chain(error);
        let entry = poison::dead_letter(ctx, id, suspect, failures, &error_text);
        if ctx
            .pipeline
            .dead_letter(entry, "event", cancel)
            .await
            .is_err()
        {
            return;
        }
        let past = Checkpoint {
            fully_qualified_namespace: ctx.namespace.clone(),
            event_hub_name: ctx.eventhub.clone(),
            consumer_group: ctx.consumer_group.clone(),
            partition_id: id.to_string(),
            // Its offset is unknown; the processor resumes after the sequence number alone.
            offset: None,
            sequence_number: Some(suspect),
        };
        if let Err(e) = ctx.store.update_checkpoint(past).await {
            ctx.pipeline.health().set_checkpoint_ok(false);
            tracing::error!(partition = %id, sequence_number = suspect, error = %azure::error_chain(&e), "cannot checkpoint past a poison event; it is tried again at the next failure");
            return;
        }
        policy.skipped(id);
        metrics::counter!("hubwatch_poison_events_total", "partition" => id.to_string())
            .increment(1);
        metrics::gauge!("hubwatch_partition_checkpoint_sequence_number", "partition" => id.to_string())
            .set(suspect as f64);
        tracing::warn!(
            partition = %id,
            sequence_number = suspect,
            failures,
            error = %error_text,
            "poison event: the same event could not be received {failures} times in a row; dead-lettered its position and checkpointed past it"
        );
    }

    /// Where this claim started: after the stored checkpoint, or (with no checkpoint and
    /// `start_position = "earliest"`) before the partition's first event.
    async fn claim_start(&self, id: &str) -> Option<i64> {
        let ctx = &self.ctx;
        let stored = ctx
            .store
            .list_checkpoints(&ctx.namespace, &ctx.eventhub, &ctx.consumer_group)
            .await;
        match stored {
            Ok(list) => match list.into_iter().find(|c| c.partition_id == id) {
                Some(c) => c.sequence_number,
                None if ctx.starts_earliest => ctx.lag.beginning(id).map(|b| b - 1),
                None => None,
            },
            Err(e) => {
                tracing::debug!(partition = %id, error = %azure::error_chain(&e), "cannot read the checkpoint to place a failing event");
                None
            }
        }
    }

    /// Checkpoints the delivered prefix if due; a failed write keeps it as the candidate.
    async fn checkpoint_due(
        &self,
        id: &str,
        progress: &mut Progress<ReceivedEventData>,
        force: bool,
    ) {
        if let Some(ev) = progress.due(force) {
            if self.checkpoint(id, &ev).await.is_err() {
                progress.restore(ev);
            }
        }
    }

    async fn checkpoint(&self, id: &str, ev: &ReceivedEventData) -> Result<(), ()> {
        match self.client.update_checkpoint(ev).await {
            Ok(()) => {
                self.ctx.pipeline.health().set_checkpoint_ok(true);
                metrics::gauge!("hubwatch_partition_checkpoint_sequence_number", "partition" => id.to_string())
                    .set(ev.sequence_number().unwrap_or(-1) as f64);
                Ok(())
            }
            Err(e) => {
                self.ctx.pipeline.health().set_checkpoint_ok(false);
                tracing::error!(partition = %id, error = %azure::error_chain(&e), "checkpoint failed; it is retried at the next interval");
                Err(())
            }
        }
    }
}

/// The readiness reason while Event Hubs refuses the credentials.
pub(super) const CREDENTIALS_REFUSED: &str =
    "credentials refused (amqp:unauthorized-access or put-token 401)";

/// True when the service refused the credentials: a link detached with
/// `amqp:unauthorized-access`, or CBS put-token answered 401.
pub(super) fn credentials_refused(e: &azure_messaging_eventhubs::error::EventHubsError) -> bool {
    let text = azure::error_text(e);
    [
        "UnauthorizedAccess",
        "unauthorized-access",
        "status code: 401",
    ]
    .iter()
    .any(|m| text.contains(m))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Stopped,
    Lost,
    Failed,
}
