//! `kind = "eventhubs"`: alerts published to an Event Hub ([`crate::sink::eventhubs`]).

use crate::azure::{CredentialConfig, CredentialKind};
use serde::Deserialize;

/// The keys of an `eventhubs` sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventHubsSinkConfig {
    /// The Event Hub to publish to.
    pub eventhub: String,
    /// `managed-identity`, `workload-identity`, `client-secret`, `azure-cli` or
    /// `connection-string`.
    pub credential: CredentialKind,
    /// Fully qualified namespace, e.g. `myns.servicebus.windows.net` (not needed with
    /// `credential = "connection-string"`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `amqp://host:port` (local server) or `amqps://host:port` (private endpoint).
    #[serde(default)]
    pub custom_endpoint: Option<String>,
    /// `client_id`, `tenant_id`, `client_secret_env`/`_file`, `connection_string_env`/`_file`:
    /// the same keys as the source's.
    #[serde(flatten)]
    pub credentials: CredentialConfig,
    /// Per-send timeout, in seconds.
    #[serde(default = "super::default_timeout")]
    pub timeout_secs: u64,
}
