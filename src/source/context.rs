//! What the service hands every source: the pipeline, the shutdown token, the delivery
//! settings, and the task tracker that tells the service when the source's tasks have let go
//! of the pipeline.

use crate::config::Config;
use crate::health::Health;
use crate::pipeline::Pipeline;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Checkpoint cadence, intake bound and shutdown budget of every partition or file a source
/// delivers (see [`super::delivery`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeliverySettings {
    /// Events delivered between two checkpoints (`checkpoint.interval_events`).
    pub checkpoint_every_events: u64,
    /// Time between two checkpoints (`checkpoint.interval_ms`).
    pub checkpoint_every: Duration,
    /// How long in-flight deliveries are waited for at the end (`service.shutdown_grace_secs`).
    pub shutdown_grace: Duration,
    /// Bodies between a reader and its delivery loop (`service.channel_capacity`).
    pub channel_capacity: usize,
}

impl DeliverySettings {
    /// The settings of `[checkpoint]` and `[service]`, the same for every source.
    pub(crate) fn from_config(config: &Config) -> Self {
        DeliverySettings {
            checkpoint_every_events: config.checkpoint.cadence.interval_events,
            checkpoint_every: Duration::from_millis(config.checkpoint.cadence.interval_ms),
            shutdown_grace: Duration::from_secs(config.service.shutdown_grace_secs),
            channel_capacity: config.service.channel_capacity,
        }
    }
}

/// One per running source, cloned into each of its tasks.
#[derive(Clone)]
pub(crate) struct SourceContext {
    pub pipeline: Arc<Pipeline>,
    /// Fires on SIGTERM/SIGINT: intake stops, in-flight deliveries drain.
    pub shutdown: CancellationToken,
    pub delivery: DeliverySettings,
    /// Every task a source starts that holds the pipeline runs under this tracker: once the
    /// source has returned and the tracker is empty, the service owns the pipeline again and
    /// can drain the sinks.
    pub tasks: TaskTracker,
}

impl SourceContext {
    /// What `/readyz` reports: the source's connection, receive and checkpoint state.
    pub(crate) fn health(&self) -> &Arc<Health> {
        self.pipeline.health()
    }
}
