//! `kind = "sentinel"`: the Logs Ingestion API of a data collection rule
//! ([`crate::sink::sentinel`]).

use crate::azure::{CredentialConfig, CredentialKind};
use serde::Deserialize;

/// The Logs Ingestion API's limit per call, the default and largest `max_body_bytes` of `sentinel`.
pub const SENTINEL_MAX_BODY_BYTES: usize = 1_000_000;

/// The keys of a `sentinel` sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSinkConfig {
    /// The data collection endpoint (or DCR ingestion endpoint), e.g.
    /// `https://my-dce-abcd.westeurope-1.ingest.monitor.azure.com`.
    pub endpoint: String,
    /// The data collection rule's immutable id (`dcr-...`).
    pub dcr_immutable_id: String,
    /// The DCR stream, e.g. `Custom-HubwatchAlerts`.
    pub stream_name: String,
    /// How to authenticate (`managed-identity`, `workload-identity`, `client-secret`,
    /// `azure-cli`).
    pub credential: CredentialKind,
    /// `client_id`, `tenant_id`, `client_secret_env`/`_file`: the same keys as the source's.
    #[serde(flatten)]
    pub credentials: CredentialConfig,
    /// Gzip request bodies (`Content-Encoding: gzip`).
    #[serde(default)]
    pub gzip: bool,
    /// Per-request timeout (connect and response), in seconds.
    #[serde(default = "super::default_timeout")]
    pub timeout_secs: u64,
    /// Largest request body: 1,000,000 bytes (the service limit) by default and at most;
    /// batches are split to stay under it, a larger alert is refused (dead-lettered).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

impl SentinelSinkConfig {
    /// The request body limit.
    pub fn body_limit(&self) -> usize {
        self.max_body_bytes
            .unwrap_or(SENTINEL_MAX_BODY_BYTES)
            .min(SENTINEL_MAX_BODY_BYTES)
    }
}
