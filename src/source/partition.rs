//! One claimed partition: a local task reads the SDK's event stream (and watches for a
//! receiver that stalls), a worker runs the shared delivery loop over the events
//! ([`super::delivery`]): in order through the pipeline, the delivered prefix checkpointed,
//! and the poison-event policy applied when the same event cannot be received again and again.

use super::context::SourceContext;
use super::delivery::{self, Body, CheckpointFailed, End, Feed, Take};
use super::lag::LagTracker;
use super::poison::{self, PoisonPolicy};
use crate::alert::Origin;
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
    /// The pipeline, delivery settings and task tracker of the source.
    pub source: SourceContext,
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
                id: client.get_partition_id().to_string(),
                client: client.clone(),
                ctx,
                last_received: None,
                sequence_gauge: metrics::gauge!("hubwatch_partition_sequence_number", "partition" => client.get_partition_id().to_string()),
            },
            client,
        }
    }

    pub(super) async fn run(self, cancel: CancellationToken) -> String {
        let id = self.client.get_partition_id().to_string();
        let source = self.worker.ctx.source.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(source.delivery.channel_capacity);
        let pipeline = source.pipeline.clone();
        let worker = source.tasks.spawn(self.worker.run(rx, cancel));
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
            End::Stopped | End::Ended => {
                tracing::info!(partition = %id, "partition released")
            }
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

/// One partition's events in the shared delivery loop: taken in order, checkpointed through
/// the partition client.
struct PartitionWorker {
    id: String,
    client: Arc<PartitionClient>,
    ctx: PartitionContext,
    /// The last event taken in during this claim: where a receive that fails stands.
    last_received: Option<i64>,
    /// `hubwatch_partition_sequence_number`: the last event handed to the sinks.
    sequence_gauge: metrics::Gauge,
}

type Received = azure_messaging_eventhubs::Result<ReceivedEventData>;

impl PartitionWorker {
    async fn run(
        mut self,
        rx: tokio::sync::mpsc::Receiver<Received>,
        cancel: CancellationToken,
    ) -> End {
        let source = self.ctx.source.clone();
        let finished =
            delivery::deliver(&mut self, rx, &source.pipeline, source.delivery, &cancel).await;
        if finished.undelivered > 0 {
            tracing::warn!(partition = %self.id, in_flight = finished.undelivered, "undelivered events will be read again");
        }
        finished.end
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
        if self.ctx.source.health().set_source_failure(reason) {
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
        &mut self,
        error: &azure_messaging_eventhubs::error::EventHubsError,
        progress: &mut Progress<ReceivedEventData>,
        cancel: &CancellationToken,
    ) {
        let id = &self.id.clone();
        let Some(policy) = self.ctx.poison.clone() else {
            return;
        };
        let position = match self.last_received {
            Some(seq) => Some(seq),
            None => self.claim_start(id).await,
        };
        let Some(position) = position else {
            tracing::debug!(partition = %id, "receive failed before any event; the position is unknown, so the poison-event policy cannot name the event");
            return;
        };
        let suspect = position + 1;
        let ctx = &self.ctx;
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
        let deadline = tokio::time::Instant::now() + ctx.source.delivery.shutdown_grace;
        tokio::select! {
            _ = progress.drain(deadline) => {}
            _ = cancel.cancelled() => return,
        }
        let health = ctx.source.health().clone();
        if !delivery::checkpoint_due(self, progress, &health, true).await {
            return;
        }
        let ctx = &self.ctx;
        if progress.in_flight() > 0 || cancel.is_cancelled() {
            tracing::info!(partition = %id, sequence_number = suspect, "a poison event waits until the events before it are delivered");
            return;
        }
        let error_text = azure::error_chain(error);
        let entry = poison::dead_letter(ctx, id, suspect, failures, &error_text);
        if ctx
            .source
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
            ctx.source.health().set_checkpoint_ok(false);
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
}

#[async_trait::async_trait]
impl Feed for PartitionWorker {
    type Item = Received;
    type Event = ReceivedEventData;
    type Position = ReceivedEventData;

    /// The reader ended (the stream closed or stalled): the processor reopens the partition.
    fn closed(&self) -> End {
        End::Failed
    }

    async fn take(
        &mut self,
        item: Received,
        progress: &mut Progress<ReceivedEventData>,
        cancel: &CancellationToken,
    ) -> Take<ReceivedEventData> {
        let ev = match item {
            Err(e) if matches!(e.kind, EhErrorKind::ConsumerDisconnected(_)) => {
                return Take::End(End::Lost)
            }
            Err(e) => {
                self.receive_failed(&self.id, &e);
                if poison::names_the_event(&e) {
                    self.poison_failure(&e, progress, cancel).await;
                }
                return Take::End(End::Failed);
            }
            Ok(ev) => ev,
        };
        if self.ctx.source.health().clear_source_failure() {
            tracing::info!(partition = %self.id, "receiving from Event Hubs again");
        }
        self.last_received = ev.sequence_number();
        if let Some(p) = &self.ctx.poison {
            p.received(&self.id, ev.sequence_number().unwrap_or(-1));
        }
        Take::Deliver(ev)
    }

    fn source(&self, ev: &ReceivedEventData) -> Origin {
        let ctx = &self.ctx;
        Origin::EventHubs {
            namespace: ctx.namespace.clone(),
            eventhub: ctx.eventhub.clone(),
            consumer_group: ctx.consumer_group.clone(),
            partition: self.id.clone(),
            sequence_number: ev.sequence_number().unwrap_or(-1),
            offset: ev.offset().clone(),
            enqueued_time: ev.enqueued_time().map(OffsetDateTime::from),
            record_index: None,
        }
    }

    fn body<'e>(&self, ev: &'e ReceivedEventData) -> Body<'e> {
        match ev.event_data().body() {
            Some(body) => Body::Data(body),
            None => Body::Rejected(BodyError::NotData, &[]),
        }
    }

    fn taken(&mut self, ev: ReceivedEventData) -> ReceivedEventData {
        let sequence_number = ev.sequence_number().unwrap_or(-1);
        self.sequence_gauge.set(sequence_number as f64);
        self.ctx.lag.processed(&self.id, sequence_number);
        ev
    }

    async fn checkpoint(&mut self, ev: &ReceivedEventData) -> Result<(), CheckpointFailed> {
        match self.client.update_checkpoint(ev).await {
            Ok(()) => {
                metrics::gauge!("hubwatch_partition_checkpoint_sequence_number", "partition" => self.id.clone())
                    .set(ev.sequence_number().unwrap_or(-1) as f64);
                Ok(())
            }
            Err(e) => {
                let cause = azure::error_chain(&e);
                tracing::error!(partition = %self.id, error = %cause, "checkpoint failed; it is retried at the next interval");
                Err(CheckpointFailed(cause))
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
