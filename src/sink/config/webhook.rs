//! `kind = "webhook"`: alerts POSTed as JSON ([`crate::sink::webhook`]).

use crate::azure::{CredentialConfig, CredentialKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Default `max_body_bytes` of a `webhook` sink.
pub const WEBHOOK_MAX_BODY_BYTES: usize = 1 << 20;

/// How a `webhook` sink authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookAuth {
    /// No authentication (besides what `headers` or the URL carry).
    #[default]
    None,
    /// `Authorization: Bearer <token>`, the token read from `token_env` or `token_file`.
    Bearer,
    /// `Authorization: Bearer <Entra ID token>` for `scope`, from `credential`.
    Entra,
    /// `X-Hubwatch-Timestamp` and `X-Hubwatch-Signature` headers (HMAC-SHA256), the secret read
    /// from `secret_env` or `secret_file`; see [`crate::sink::webhook`].
    Hmac,
}

/// Payload shapes of chat services (one alert per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookPreset {
    /// Slack incoming webhook: `{"text": ..., "blocks": [...]}`.
    Slack,
    /// Microsoft Teams (Workflows webhook): a `message` with one Adaptive Card attachment.
    Teams,
}

/// The keys of a `webhook` sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    /// The URL (may carry secrets: only its scheme and host are ever logged).
    pub url: String,
    /// `false` posts one alert per request (a JSON object), `true` a JSON array of up to
    /// `batch_size` alerts. Ignored with a `preset` (always one alert per request).
    #[serde(default)]
    pub batch: bool,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `none`, `bearer`, `entra` or `hmac`.
    #[serde(default)]
    pub auth: WebhookAuth,
    /// `auth = "bearer"`: environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// `auth = "bearer"`: file holding the token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `auth = "entra"`: the token scope, e.g. `api://my-receiver/.default`.
    #[serde(default)]
    pub scope: Option<String>,
    /// `auth = "hmac"`: environment variable holding the shared secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `auth = "hmac"`: file holding the shared secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Shape the payload for `slack` or `teams`.
    #[serde(default)]
    pub preset: Option<WebhookPreset>,
    /// Per-request timeout (connect and response), in seconds.
    #[serde(default = "super::default_timeout")]
    pub timeout_secs: u64,
    /// Largest request body (default 1 MiB); a larger alert is refused (dead-lettered).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// `auth = "entra"`: how to authenticate (`managed-identity`, `workload-identity`,
    /// `client-secret`, `azure-cli`).
    #[serde(default)]
    pub credential: Option<CredentialKind>,
    /// `client_id`, `tenant_id`, `client_secret_env`/`_file`: the same keys as the source's.
    #[serde(flatten)]
    pub credentials: CredentialConfig,
}

impl WebhookSinkConfig {
    /// The request body limit.
    pub fn body_limit(&self) -> usize {
        self.max_body_bytes.unwrap_or(WEBHOOK_MAX_BODY_BYTES)
    }
}
