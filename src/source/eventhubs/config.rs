//! `[source] kind = "eventhubs"`: which Event Hub, how to authenticate, where partitions start
//! and how replicas share them.

use crate::azure::{CredentialConfig, CredentialKind};
use serde::Deserialize;

/// Where a partition starts when it has no checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    Earliest,
    Latest,
    EnqueuedTime(time::OffsetDateTime),
}

impl<'de> Deserialize<'de> for StartPosition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "earliest" => Ok(StartPosition::Earliest),
            "latest" => Ok(StartPosition::Latest),
            other => {
                time::OffsetDateTime::parse(other, &time::format_description::well_known::Rfc3339)
                    .map(StartPosition::EnqueuedTime)
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                    "start_position {other:?} is not \"earliest\", \"latest\" or an RFC 3339 time"
                ))
                    })
            }
        }
    }
}

/// Load balancing between replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancing {
    /// After the start-up ramp (`source::claim`), one partition per `update_interval_secs`
    /// taken over from expired ownership or from replicas above their share.
    #[default]
    Balanced,
    /// Everything up to the fair share in one cycle, free partitions first, then from replicas
    /// above their share.
    Greedy,
}

/// The keys of an Event Hubs source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventHubsSourceConfig {
    /// Fully qualified namespace, e.g. `myns.servicebus.windows.net` (not needed with
    /// `credential = "connection-string"`).
    #[serde(default)]
    pub namespace: Option<String>,
    pub eventhub: String,
    #[serde(default = "default_consumer_group")]
    pub consumer_group: String,
    /// `managed-identity`, `workload-identity`, `client-secret`, `azure-cli` or
    /// `connection-string`.
    pub credential: CredentialKind,
    #[serde(flatten)]
    pub auth: CredentialConfig,
    /// `amqp://host:port` (local server) or `amqps://host:port` (private endpoint).
    #[serde(default)]
    pub custom_endpoint: Option<String>,
    /// AMQP over WebSockets (port 443), for networks that block 5671.
    #[serde(default)]
    pub websockets: bool,
    #[serde(default = "default_start_position")]
    pub start_position: StartPosition,
    #[serde(default = "default_prefetch")]
    pub prefetch: u32,
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    /// How often the processor renews and rebalances partition ownership.
    #[serde(default = "default_update_interval")]
    pub update_interval_secs: u64,
    /// Ownership not renewed for this long is free for another replica to take.
    #[serde(default = "default_ownership_expiry")]
    pub ownership_expiry_secs: u64,
    /// A partition receiver that gets nothing for this long while the hub holds newer events
    /// is reopened (a half-open connection delivers no error); 0 turns the watchdog off.
    #[serde(default = "default_stall_timeout")]
    pub stall_timeout_secs: u64,
    /// Failed receives in a row at the same position (failures that name the event: the link
    /// cannot carry or decode it) after which that event is dead-lettered and the partition
    /// checkpointed past it; 0 never skips an event.
    #[serde(default = "default_poison_after_failures")]
    pub poison_after_failures: u32,
}

fn default_consumer_group() -> String {
    "$Default".into()
}
fn default_start_position() -> StartPosition {
    StartPosition::Earliest
}
fn default_prefetch() -> u32 {
    300
}
fn default_update_interval() -> u64 {
    10
}
fn default_ownership_expiry() -> u64 {
    60
}
fn default_stall_timeout() -> u64 {
    120
}
fn default_poison_after_failures() -> u32 {
    5
}
