//! The Event Hubs source: the SDK's `EventProcessor` claims partitions (balanced across
//! replicas through the checkpoint store), and one task per claimed partition feeds the
//! pipeline in order and checkpoints the delivered prefix.
//!
//! Connection loss ends the processor's run; the outer loop then rebuilds the client and the
//! processor with backoff, and partitions resume from their last checkpoint. A partition
//! taken over by another replica ends its task without waiting for it. A receiver that goes
//! silent while the hub holds newer events (a half-open connection reports no error) is
//! closed after `stall_timeout_secs`, and the processor reopens it.

pub(crate) mod config;

use super::claim::{Ramp, SETTLE};
use super::context::SourceContext;
use super::identity::ReplicaIdentity;
use super::lag::{LagTracker, OpenClient};
use super::partition::{credentials_refused, PartitionContext, PartitionTask, CREDENTIALS_REFUSED};
use super::poison::PoisonPolicy;
use crate::azure;
use crate::config::CredentialKind;
use crate::retry::backoff;
use crate::startup::Startup;
use azure_messaging_eventhubs::models::{Ownership, StartPositions};
use azure_messaging_eventhubs::{
    CheckpointStore, ConsumerClient, EventProcessor, ProcessorStrategy, StartLocation,
    StartPosition,
};
use config::{EventHubsSourceConfig, LoadBalancing, StartPosition as StartCfg};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The source could not start (bad credentials configuration); runtime faults are retried.
#[derive(Debug, thiserror::Error)]
pub enum EventHubsSourceError {
    #[error(transparent)]
    Credential(#[from] azure::CredentialError),
    #[error("source.{key}: {message}")]
    Config { key: &'static str, message: String },
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
}

/// The Event Hubs source.
pub(crate) struct EventHubsSource {
    pub config: EventHubsSourceConfig,
    pub store: Arc<dyn CheckpointStore>,
    /// This replica's owner id in ownership records, stable across restarts.
    pub identity: ReplicaIdentity,
    /// The start-up bound: until the first connection, failing to connect for longer stops
    /// the source with the cause.
    pub startup: Startup,
}

/// How to reach the hub: SAS connection string or a token credential.
enum Auth {
    ConnectionString(String),
    Token(Arc<dyn azure_core::credentials::TokenCredential>),
}

impl EventHubsSource {
    fn auth(&self) -> Result<Auth, EventHubsSourceError> {
        Ok(match self.config.credential {
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
            .with_instance_id(self.identity.owner_id().to_string())
            // The processor's owner id in ownership records is the connection name, which the SDK
            // takes from the application id: it must be unique per replica.
            .with_application_id(self.identity.owner_id().to_string());
        if let Some(ep) = &c.custom_endpoint {
            builder = builder.with_custom_endpoint(ep.clone());
        }
        if c.websockets {
            builder = builder.with_transport(azure_core_amqp::AmqpTransport::WebSocket);
        }
        let hub = c.eventhub.clone();
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

    /// The processor, and the hub's partition ids (for the start-up ramp).
    async fn build_processor(
        &self,
        auth: &Auth,
    ) -> azure_messaging_eventhubs::Result<(Arc<EventProcessor>, Vec<String>)> {
        let consumer = self.open_consumer(auth).await?;
        let partition_ids = consumer.get_eventhub_properties().await?.partition_ids;
        let strategy = match self.config.load_balancing {
            LoadBalancing::Balanced => ProcessorStrategy::Balanced,
            LoadBalancing::Greedy => ProcessorStrategy::Greedy,
        };
        let processor = EventProcessor::builder()
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
            .await?;
        Ok((processor, partition_ids))
    }

    /// Runs until shutdown; reconnects on its own after faults. Partition readers are local
    /// tasks (the SDK's event stream is not `Send`), on a [`tokio::task::LocalSet`] of its own.
    pub(crate) async fn run(self, ctx: SourceContext) -> Result<(), EventHubsSourceError> {
        tokio::task::LocalSet::new()
            .run_until(self.run_local(ctx))
            .await
    }

    async fn run_local(mut self, ctx: SourceContext) -> Result<(), EventHubsSourceError> {
        let (pipeline, cancel) = (&ctx.pipeline, &ctx.shutdown);
        let auth = self.auth()?;
        if let Auth::ConnectionString(cs) = &auth {
            // The namespace comes from the connection string: checkpoints, ownership and
            // alert sources must name it as the SDK does.
            let parsed =
                azure::parse_connection_string(cs, Some(&self.config.eventhub)).map_err(|e| {
                    EventHubsSourceError::Config {
                        key: azure::connection_string_key(&self.config.auth),
                        message: e.0,
                    }
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
        // Counts of failed receives outlive claims and reconnections.
        let poison = PoisonPolicy::new(this.config.poison_after_failures);
        let mut attempt = 0u32;
        let mut was_connected = false;
        let mut connected_once = false;
        while !cancel.is_cancelled() {
            let processor = tokio::select! {
                p = this.build_processor(&auth) => p,
                _ = cancel.cancelled() => break,
            };
            let (processor, partition_ids) = match processor {
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
                    let delay = if connected_once {
                        backoff(attempt.min(8))
                    } else {
                        // Never connected yet: a start-up dependency, retried within the bound.
                        this.startup
                            .failed("Event Hubs", attempt, &azure::error_chain(&e))?
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = cancel.cancelled() => break,
                    }
                }
            };
            if attempt > 0 || !was_connected {
                tracing::info!(eventhub = ?Some(&this.config.eventhub), consumer_group = %this.config.consumer_group, owner_id = %this.identity.owner_id(), "connected to Event Hubs");
            }
            if !connected_once {
                connected_once = true;
                this.startup.reached();
                this.take_back().await;
            }
            this.ramp(&partition_ids, cancel).await;
            if cancel.is_cancelled() {
                // Stopped during the ramp: hand back what it claimed (only records still ours).
                this.relinquish(&partition_ids).await;
                break;
            }
            attempt = 0;
            was_connected = true;
            pipeline.health().set_source_connected(true);
            let lag = LagTracker::default();
            let lag_task = tokio::task::spawn_local(
                lag.clone()
                    .run(open_lag_client.clone(), cancel.child_token()),
            );
            let lost = this.serve(processor, &ctx, &lag, poison.clone()).await;
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
        source: &SourceContext,
        lag: &LagTracker,
        poison: Option<PoisonPolicy>,
    ) -> bool {
        let cancel = &source.shutdown;
        let context = PartitionContext {
            source: source.clone(),
            namespace: self.config.namespace.clone().unwrap_or_default(),
            eventhub: self.config.eventhub.clone(),
            consumer_group: self.config.consumer_group.clone(),
            lag: lag.clone(),
            stall_timeout: (self.config.stall_timeout_secs > 0)
                .then(|| Duration::from_secs(self.config.stall_timeout_secs)),
            store: self.store.clone(),
            poison,
            starts_earliest: self.config.start_position == StartCfg::Earliest,
        };
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
                        let task = PartitionTask::new(client, context.clone());
                        // Tracked: the service owns the pipeline again only once it has ended.
                        partitions.spawn_local(source.tasks.track_future(task.run(partitions_cancel.clone())));
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

    /// Takes back at once the partitions an earlier process of this replica still owns (it
    /// was killed and could not hand them back), before the processor's first cycle, which
    /// then finds them ours: without this they would sit unread until their ownership expires.
    async fn take_back(&self) {
        let namespace = self.config.namespace.as_deref().unwrap_or_default();
        let eventhub = self.config.eventhub.as_str();
        let current = match self
            .store
            .list_ownerships(namespace, eventhub, &self.config.consumer_group)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %azure::error_chain(&e), "could not list ownership to take back this replica's partitions; they are claimed when they expire");
                return;
            }
        };
        let expiry = Duration::from_secs(self.config.ownership_expiry_secs);
        let now = SystemTime::now();
        let previous: Vec<Ownership> = current
            .into_iter()
            .filter(|o| {
                o.owner_id
                    .as_deref()
                    .is_some_and(|id| self.identity.is_predecessor(id))
                    && o.last_modified_time.is_none_or(|t| t + expiry > now)
            })
            .map(|mut o| {
                o.owner_id = Some(self.identity.owner_id().to_string());
                o
            })
            .collect();
        if previous.is_empty() {
            return;
        }
        match self.store.claim_ownership(&previous).await {
            Ok(taken) => {
                tracing::info!(
                    partitions = taken.len(),
                    of = previous.len(),
                    "took back the partitions this replica's previous process owned"
                )
            }
            Err(e) => {
                tracing::warn!(error = %azure::error_chain(&e), "could not take back this replica's partitions; they are claimed when they expire")
            }
        }
    }

    /// Claims this replica's fair share of free partitions back to back before the
    /// processor's first cycle (see [`super::claim`]).
    async fn ramp(&self, partition_ids: &[String], cancel: &CancellationToken) {
        let update = Duration::from_secs(self.config.update_interval_secs);
        let ramp = Ramp {
            store: &self.store,
            namespace: self.config.namespace.as_deref().unwrap_or_default(),
            eventhub: self.config.eventhub.as_str(),
            consumer_group: &self.config.consumer_group,
            owner_id: self.identity.owner_id(),
            partition_ids,
            expiry: Duration::from_secs(self.config.ownership_expiry_secs),
            settle: SETTLE.min(update),
        };
        let held = ramp.run(cancel).await;
        tracing::info!(
            partitions = held,
            of = partition_ids.len(),
            "claimed this replica's share of the free partitions"
        );
    }

    /// Hands this replica's partitions back at once on a graceful stop, so other replicas need
    /// not wait for the ownership to expire: the records are rewritten with no owner (an empty
    /// `ownerid` in blob metadata, as the .NET and Python processors write it).
    async fn relinquish(&self, partitions: &[String]) {
        let namespace = self.config.namespace.as_deref().unwrap_or_default();
        let eventhub = self.config.eventhub.as_str();
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
                        && o.owner_id.as_deref() == Some(self.identity.owner_id())
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
