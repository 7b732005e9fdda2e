//! The Event Hubs source: the SDK's `EventProcessor` claims partitions (balanced across
//! replicas through the checkpoint store), and one task per claimed partition feeds the
//! pipeline in order and checkpoints the delivered prefix.
//!
//! Connection loss ends the processor's run; the outer loop then rebuilds the client and the
//! processor with backoff, and partitions resume from their last checkpoint. A partition
//! taken over by another replica ends its task without waiting for it. A receiver that goes
//! silent while the hub holds newer events (a half-open connection reports no error) is
//! closed after `stall_timeout_secs`, and the processor reopens it.

use crate::alert::Source;
use crate::azure;
use crate::config::{CredentialKind, LoadBalancing, SourceConfig, StartPosition as StartCfg};
use crate::decode::BodyError;
use crate::pipeline::Pipeline;
use crate::progress::Progress;
use crate::sink::worker::backoff;
use azure_messaging_eventhubs::error::ErrorKind as EhErrorKind;
use azure_messaging_eventhubs::models::{Ownership, ReceivedEventData, StartPositions};
use azure_messaging_eventhubs::processor::PartitionClient;
use azure_messaging_eventhubs::{
    CheckpointStore, ConnectionString, ConsumerClient, EventProcessor, ProcessorStrategy,
    StartLocation, StartPosition,
};
use futures::StreamExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The source could not start (bad credentials configuration); runtime faults are retried.
#[derive(Debug, thiserror::Error)]
pub enum EventHubsSourceError {
    #[error(transparent)]
    Credential(#[from] azure::CredentialError),
    #[error("source.{key}: {message}")]
    Config { key: &'static str, message: String },
}

/// Checkpoint cadence and shutdown budget of partition tasks.
#[derive(Debug, Clone, Copy)]
pub struct PartitionSettings {
    pub checkpoint_every_events: u64,
    pub checkpoint_every: Duration,
    pub shutdown_grace: Duration,
}

/// The Event Hubs source.
pub struct EventHubsSource {
    pub config: SourceConfig,
    pub store: Arc<dyn CheckpointStore>,
    pub settings: PartitionSettings,
    /// This replica's owner id in ownership records.
    pub owner_id: String,
}

/// How to reach the hub: SAS connection string or a token credential.
enum Auth {
    ConnectionString(String),
    Token(Arc<dyn azure_core::credentials::TokenCredential>),
}

impl EventHubsSource {
    /// A fresh owner id: host name, process id and a random suffix.
    pub fn new_owner_id() -> String {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "hubwatch".into());
        format!(
            "{host}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    }

    fn auth(&self) -> Result<Auth, EventHubsSourceError> {
        let kind = self.config.credential.ok_or(EventHubsSourceError::Config {
            key: "credential",
            message: "is required".into(),
        })?;
        Ok(match kind {
            CredentialKind::ConnectionString => {
                Auth::ConnectionString(azure::connection_string(&self.config.auth)?)
            }
            other => Auth::Token(azure::token_credential(other, &self.config.auth)?),
        })
    }

    async fn open_consumer(
        &self,
        auth: &Auth,
    ) -> azure_messaging_eventhubs::Result<ConsumerClient> {
        let c = &self.config;
        let mut builder = ConsumerClient::builder()
            .with_consumer_group(c.consumer_group.clone())
            .with_instance_id(self.owner_id.clone())
            // The processor's owner id in ownership records is the connection name, which the SDK
            // takes from the application id: it must be unique per replica.
            .with_application_id(self.owner_id.clone());
        if let Some(ep) = &c.custom_endpoint {
            builder = builder.with_custom_endpoint(ep.clone());
        }
        if c.websockets {
            builder = builder.with_transport(azure_core_amqp::AmqpTransport::WebSocket);
        }
        let hub = c.eventhub.clone().unwrap_or_default();
        match auth {
            Auth::ConnectionString(cs) => builder.open_with_connection_string(cs, Some(&hub)).await,
            Auth::Token(cred) => {
                builder
                    .open(
                        c.namespace.as_deref().unwrap_or_default(),
                        hub,
                        cred.clone(),
                    )
                    .await
            }
        }
    }

    fn start_positions(&self) -> StartPositions {
        let location = match &self.config.start_position {
            StartCfg::Earliest => StartLocation::Earliest,
            StartCfg::Latest => StartLocation::Latest,
            StartCfg::EnqueuedTime(t) => StartLocation::EnqueuedTime(SystemTime::from(*t)),
        };
        StartPositions {
            // The processor resumes from a checkpoint with this position's `inclusive` flag:
            // it must be false, or the checkpointed (already delivered) event is read again.
            default: StartPosition {
                location,
                inclusive: false,
            },
            ..Default::default()
        }
    }

    async fn build_processor(
        &self,
        auth: &Auth,
    ) -> azure_messaging_eventhubs::Result<Arc<EventProcessor>> {
        let consumer = self.open_consumer(auth).await?;
        let strategy = match self.config.load_balancing {
            LoadBalancing::Balanced => ProcessorStrategy::Balanced,
            LoadBalancing::Greedy => ProcessorStrategy::Greedy,
        };
        EventProcessor::builder()
            .with_load_balancing_strategy(strategy)
            .with_update_interval(time::Duration::seconds(
                self.config.update_interval_secs as i64,
            ))
            .with_partition_expiration_duration(time::Duration::seconds(
                self.config.ownership_expiry_secs as i64,
            ))
            .with_start_positions(self.start_positions())
            .with_prefetch(self.config.prefetch)
            .build(consumer, self.store.clone())
            .await
    }

    /// Runs until `cancel` fires; reconnects on its own after faults. Must run inside a
    /// [`tokio::task::LocalSet`] (partition readers are local tasks).
    pub async fn run(
        mut self,
        pipeline: Arc<Pipeline>,
        cancel: CancellationToken,
    ) -> Result<(), EventHubsSourceError> {
        let auth = self.auth()?;
        if let Auth::ConnectionString(cs) = &auth {
            // The namespace comes from the connection string: checkpoints, ownership and
            // alert sources must name it as the SDK does.
            let parsed: ConnectionString =
                cs.parse().map_err(|_| EventHubsSourceError::Config {
                    key: "connection_string_env",
                    message: "the connection string cannot be parsed".into(),
                })?;
            self.config.namespace = Some(parsed.fully_qualified_namespace);
        }
        // Shared with the lag task, which opens (and reopens) its own client.
        let this = Rc::new(self);
        let auth = Rc::new(auth);
        let open_lag_client = {
            let (this, auth) = (this.clone(), auth.clone());
            move || {
                let (this, auth) = (this.clone(), auth.clone());
                Box::pin(async move { this.open_consumer(&auth).await }) as OpenClient
            }
        };
        let mut attempt = 0u32;
        let mut was_connected = false;
        while !cancel.is_cancelled() {
            let processor = tokio::select! {
                p = this.build_processor(&auth) => p,
                _ = cancel.cancelled() => break,
            };
            let processor = match processor {
                Ok(p) => p,
                Err(e) => {
                    pipeline.health().set_source_connected(false);
                    let refused = credentials_refused(&e);
                    if refused {
                        pipeline.health().set_source_failure(CREDENTIALS_REFUSED);
                    }
                    if attempt == 0 || was_connected {
                        if refused {
                            tracing::error!(error = %azure::error_chain(&e), "Event Hubs refused the credentials (expired or revoked token or key, or a missing role assignment); retrying until they are accepted");
                        } else {
                            tracing::warn!(error = %azure::error_chain(&e), "cannot connect to Event Hubs; retrying");
                        }
                    }
                    was_connected = false;
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff(attempt.min(8))) => continue,
                        _ = cancel.cancelled() => break,
                    }
                }
            };
            if attempt > 0 || !was_connected {
                tracing::info!(eventhub = ?this.config.eventhub, consumer_group = %this.config.consumer_group, "connected to Event Hubs");
            }
            attempt = 0;
            was_connected = true;
            pipeline.health().set_source_connected(true);
            let lag = LagTracker::default();
            let lag_task = tokio::task::spawn_local(
                lag.clone()
                    .run(open_lag_client.clone(), cancel.child_token()),
            );
            let lost = this.serve(processor, &pipeline, &lag, &cancel).await;
            lag_task.abort();
            pipeline.health().set_source_connected(false);
            if lost {
                tracing::warn!("connection to Event Hubs lost; reconnecting");
                attempt = 1;
                tokio::select! {
                    _ = tokio::time::sleep(backoff(1)) => {}
                    _ = cancel.cancelled() => break,
                }
            }
        }
        Ok(())
    }

    /// Serves one processor until it fails (returns true) or `cancel` fires (returns false).
    async fn serve(
        &self,
        processor: Arc<EventProcessor>,
        pipeline: &Arc<Pipeline>,
        lag: &LagTracker,
        cancel: &CancellationToken,
    ) -> bool {
        let run = tokio::spawn({
            let p = processor.clone();
            async move { p.run().await }
        });
        let partitions_cancel = cancel.child_token();
        let mut partitions: JoinSet<String> = JoinSet::new();
        let mut owned: Vec<String> = Vec::new();
        let lost = loop {
            tokio::select! {
                _ = cancel.cancelled() => break false,
                done = partitions.join_next(), if !partitions.is_empty() => {
                    if let Some(Ok(id)) = done {
                        owned.retain(|p| *p != id);
                        lag.released(&id);
                    }
                }
                next = processor.next_partition_client() => match next {
                    Ok(client) => {
                        let id = client.get_partition_id().to_string();
                        tracing::info!(partition = %id, "partition claimed");
                        lag.claimed(&id);
                        owned.push(id);
                        let worker = PartitionWorker {
                            client: client.clone(),
                            pipeline: pipeline.clone(),
                            settings: self.settings,
                            namespace: self.config.namespace.clone().unwrap_or_default(),
                            eventhub: self.config.eventhub.clone().unwrap_or_default(),
                            consumer_group: self.config.consumer_group.clone(),
                            lag: lag.clone(),
                        };
                        let task = PartitionTask {
                            client,
                            worker,
                            lag: lag.clone(),
                            stall_timeout: (self.config.stall_timeout_secs > 0)
                                .then(|| Duration::from_secs(self.config.stall_timeout_secs)),
                        };
                        partitions.spawn_local(task.run(partitions_cancel.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %azure::error_chain(&e), "event processor stopped handing out partitions");
                        break true;
                    }
                },
            }
            if run.is_finished() {
                break true;
            }
        };
        let _ = processor.shutdown().await;
        partitions_cancel.cancel();
        while partitions.join_next().await.is_some() {}
        // Stop the load balancer for good before handing partitions back, or a renewal in
        // flight would change the records' ETags and make the hand-back fail.
        run.abort();
        let _ = run.await;
        if !lost {
            self.relinquish(&owned).await;
        }
        lost
    }

    /// Hands this replica's partitions back at once on a graceful stop, so other replicas need
    /// not wait for the ownership to expire: the records are rewritten with no owner (an empty
    /// `ownerid` in blob metadata, as the .NET and Python processors write it).
    async fn relinquish(&self, partitions: &[String]) {
        let namespace = self.config.namespace.as_deref().unwrap_or_default();
        let eventhub = self.config.eventhub.as_deref().unwrap_or_default();
        let mut handed_back = 0;
        // Twice: a record that changed between listing and claiming is listed again.
        for _ in 0..2 {
            let current = match self
                .store
                .list_ownerships(namespace, eventhub, &self.config.consumer_group)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %azure::error_chain(&e), "could not list ownership to hand partitions back; they expire instead");
                    return;
                }
            };
            let mine: Vec<Ownership> = current
                .into_iter()
                .filter(|o| {
                    partitions.contains(&o.partition_id)
                        && o.owner_id.as_deref() == Some(self.owner_id.as_str())
                })
                .map(|mut o| {
                    o.owner_id = None;
                    o
                })
                .collect();
            if mine.is_empty() {
                break;
            }
            match self.store.claim_ownership(&mine).await {
                Ok(released) => handed_back += released.len(),
                Err(e) => {
                    tracing::warn!(error = %azure::error_chain(&e), "could not hand partitions back; they expire instead")
                }
            }
        }
        tracing::info!(partitions = handed_back, "partitions handed back");
    }
}

/// One claimed partition. The SDK's event stream is not `Send`, so reading runs as a local
/// task (on the thread driving the source's `LocalSet`) that only forwards events; processing
/// and checkpoints run in a [`PartitionWorker`] on the multi-threaded runtime.
struct PartitionTask {
    client: Arc<PartitionClient>,
    worker: PartitionWorker,
    lag: LagTracker,
    /// See [`SourceConfig::stall_timeout_secs`]; `None` when off.
    stall_timeout: Option<Duration>,
}

/// How often a partition reader checks whether its receiver has stalled.
const STALL_CHECK: Duration = Duration::from_secs(5);

impl PartitionTask {
    async fn run(self, cancel: CancellationToken) -> String {
        let id = self.client.get_partition_id().to_string();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let pipeline = self.worker.pipeline.clone();
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
    pipeline: Arc<Pipeline>,
    settings: PartitionSettings,
    namespace: String,
    eventhub: String,
    consumer_group: String,
    lag: LagTracker,
}

type Received = azure_messaging_eventhubs::Result<ReceivedEventData>;

impl PartitionWorker {
    async fn run(
        self,
        id: String,
        mut rx: tokio::sync::mpsc::Receiver<Received>,
        cancel: CancellationToken,
    ) -> End {
        let mut progress = Progress::new(
            self.settings.checkpoint_every_events,
            self.settings.checkpoint_every,
        );
        let end = self.consume(&id, &mut rx, &mut progress, &cancel).await;
        drop(rx);
        if end == End::Stopped {
            progress
                .drain(tokio::time::Instant::now() + self.settings.shutdown_grace)
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
        let mut tick = tokio::time::interval(
            self.settings
                .checkpoint_every
                .max(Duration::from_millis(10)),
        );
        let seq_gauge =
            metrics::gauge!("hubwatch_partition_sequence_number", "partition" => id.to_string());
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
                            return End::Failed;
                        }
                        Some(Ok(ev)) => {
                            if self.pipeline.health().clear_source_failure() {
                                tracing::info!(partition = %id, "receiving from Event Hubs again");
                            }
                            ev
                        }
                    };
                    let sequence_number = ev.sequence_number().unwrap_or(-1);
                    let source = Source::EventHubs {
                        namespace: self.namespace.clone(),
                        eventhub: self.eventhub.clone(),
                        consumer_group: self.consumer_group.clone(),
                        partition: id.to_string(),
                        sequence_number,
                        offset: ev.offset().clone(),
                        enqueued_time: ev.enqueued_time().map(OffsetDateTime::from),
                        record_index: None,
                    };
                    let pending = match ev.event_data().body() {
                        Some(body) => self.pipeline.process(body, &source, cancel).await,
                        None => self.pipeline.reject(BodyError::NotData, &[], &source, cancel).await,
                    };
                    let Ok(pending) = pending else { return End::Stopped };
                    seq_gauge.set(sequence_number as f64);
                    self.lag.processed(id, sequence_number);
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
        if self.pipeline.health().set_source_failure(reason) {
            if unauthorized {
                tracing::error!(partition = %id, error = %azure::error_chain(e), "Event Hubs refused the credentials (expired or revoked token, or a missing role assignment); retrying at every reclaim until they are accepted");
            } else {
                tracing::warn!(partition = %id, error = %azure::error_chain(e), "receiving from partition failed");
            }
        } else {
            tracing::debug!(partition = %id, error = %azure::error_chain(e), "receiving from partition failed again");
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
                self.pipeline.health().set_checkpoint_ok(true);
                metrics::gauge!("hubwatch_partition_checkpoint_sequence_number", "partition" => id.to_string())
                    .set(ev.sequence_number().unwrap_or(-1) as f64);
                Ok(())
            }
            Err(e) => {
                self.pipeline.health().set_checkpoint_ok(false);
                tracing::error!(partition = %id, error = %azure::error_chain(&e), "checkpoint failed; it is retried at the next interval");
                Err(())
            }
        }
    }
}

/// The readiness reason while Event Hubs refuses the credentials.
const CREDENTIALS_REFUSED: &str = "credentials refused (amqp:unauthorized-access or put-token 401)";

/// True when the service refused the credentials: a link detached with
/// `amqp:unauthorized-access`, or CBS put-token answered 401.
fn credentials_refused(e: &azure_messaging_eventhubs::error::EventHubsError) -> bool {
    let text = azure::error_text(e);
    [
        "UnauthorizedAccess",
        "unauthorized-access",
        "status code: 401",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// Per claimed partition: the last sequence numbers received and processed here, and the
/// hub's last enqueued one (from the partition's properties, polled every few seconds). Feeds
/// the consumer lag gauge and the stall watchdog.
#[derive(Clone, Default)]
struct LagTracker {
    partitions: Arc<std::sync::Mutex<std::collections::HashMap<String, Tracked>>>,
}

#[derive(Default)]
struct Tracked {
    /// Claimed by this replica now: only these are polled and reported.
    owned: bool,
    /// Kept across a release and a new claim, so a receiver reopened after a stall that stays
    /// silent is caught again even if no new event arrives.
    received: Option<i64>,
    processed: Option<i64>,
    /// The hub's last enqueued sequence number at the latest poll.
    enqueued: Option<i64>,
    /// The first poll's value: a partition that has received nothing yet is behind once the
    /// hub enqueues more than it held when the partition was first claimed.
    enqueued_at_claim: Option<i64>,
}

/// How often partition properties are read for the lag gauge.
const LAG_INTERVAL: Duration = Duration::from_secs(5);

impl LagTracker {
    fn with<R>(&self, partition: &str, f: impl FnOnce(&mut Tracked) -> R) -> R {
        let mut map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(partition.to_string()).or_default())
    }

    fn claimed(&self, partition: &str) {
        self.with(partition, |t| t.owned = true);
    }

    fn released(&self, partition: &str) {
        self.with(partition, |t| t.owned = false);
    }

    fn received(&self, partition: &str, sequence_number: i64) {
        self.with(partition, |t| t.received = Some(sequence_number));
    }

    fn processed(&self, partition: &str, sequence_number: i64) {
        self.with(partition, |t| t.processed = Some(sequence_number));
    }

    /// `(last enqueued, last received)` when the hub holds events newer than the last one
    /// received here.
    fn behind(&self, partition: &str) -> Option<(i64, Option<i64>)> {
        self.with(partition, |t| {
            let enqueued = t.enqueued?;
            let behind = match t.received {
                Some(r) => enqueued > r,
                None => t.enqueued_at_claim.is_some_and(|c| enqueued > c),
            };
            behind.then_some((enqueued, t.received))
        })
    }

    /// Polls the properties of owned partitions every [`LAG_INTERVAL`] over a client of its
    /// own. A call gets [`PROPERTIES_TIMEOUT`]; after [`PROPERTIES_FAILURES`] failures in a row
    /// the client is closed and a new one opened, so a connection that hangs does not leave
    /// the lag gauge and the stall watchdog blind for good.
    async fn run(self, open: impl Fn() -> OpenClient, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(LAG_INTERVAL);
        let mut client: Option<ConsumerClient> = None;
        let mut failures = 0u32;
        let mut blind = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let error = match &client {
                None => match tokio::time::timeout(PROPERTIES_TIMEOUT, open()).await {
                    Ok(Ok(c)) => {
                        client = Some(c);
                        continue;
                    }
                    Ok(Err(e)) => azure::error_chain(&e),
                    Err(_) => "opening a client timed out".to_string(),
                },
                Some(c) => match self.poll(c).await {
                    Ok(()) => {
                        failures = 0;
                        if std::mem::take(&mut blind) {
                            tracing::info!("partition properties readable again");
                        }
                        continue;
                    }
                    Err(e) => e,
                },
            };
            failures += 1;
            tracing::debug!(error, failures, "reading partition properties failed");
            if failures >= PROPERTIES_FAILURES {
                if !std::mem::replace(&mut blind, true) {
                    tracing::warn!(error, "cannot read partition properties: consumer lag and the stall watchdog are blind until this works; retrying with a new connection");
                }
                failures = 0;
                if let Some(c) = client.take() {
                    let _ = tokio::time::timeout(PROPERTIES_TIMEOUT, c.close()).await;
                }
            }
        }
        if let Some(c) = client {
            let _ = c.close().await;
        }
    }

    /// Reads the properties of every owned partition; stops at the first failure.
    async fn poll(&self, client: &ConsumerClient) -> Result<(), String> {
        for partition in self.owned() {
            let read = tokio::time::timeout(
                PROPERTIES_TIMEOUT,
                client.get_partition_properties(&partition),
            )
            .await;
            match read {
                Ok(Ok(p)) => self.enqueued(&partition, p.last_enqueued_sequence_number),
                Ok(Err(e)) => return Err(azure::error_chain(&e)),
                Err(_) => return Err("reading partition properties timed out".to_string()),
            }
        }
        Ok(())
    }

    fn owned(&self) -> Vec<String> {
        let map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|(_, t)| t.owned)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Records a partition's last enqueued sequence number and updates its lag gauge.
    fn enqueued(&self, partition: &str, last: i64) {
        let processed = self.with(partition, |t| {
            t.enqueued = Some(last);
            t.enqueued_at_claim.get_or_insert(last);
            t.processed
        });
        if let Some(processed) = processed {
            metrics::gauge!("hubwatch_partition_lag_events", "partition" => partition.to_string())
                .set((last - processed).max(0) as f64);
        }
    }
}

/// Opens a client for [`LagTracker::run`].
type OpenClient = std::pin::Pin<
    Box<dyn std::future::Future<Output = azure_messaging_eventhubs::Result<ConsumerClient>>>,
>;

/// Budget of one partition properties call (or of opening the client for them).
const PROPERTIES_TIMEOUT: Duration = Duration::from_secs(10);

/// Failed properties calls in a row after which their client is replaced.
const PROPERTIES_FAILURES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Stopped,
    Lost,
    Failed,
}
