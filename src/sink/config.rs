//! `[[sinks]]` configuration.

use crate::azure::{CredentialConfig, CredentialKind};
use crate::rules::spec::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Sink kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Stdout,
    File,
    Webhook,
    Eventhubs,
    Sentinel,
}

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

/// One `[[sinks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub kind: SinkKind,
    /// Name in logs, metrics and dead-letter entries; default: the kind, with an index when
    /// repeated (see [`crate::sink::default_name`]).
    #[serde(default)]
    pub name: Option<String>,
    /// Where refused alerts go (default: `<state_dir>/dead-letter-<name>.jsonl`).
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
    /// `file`: the JSON-lines file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `file`: rotate once the file would grow past this many bytes (absent or 0: never).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// `file`: rotated files kept (`alerts.jsonl.1` is the newest); the oldest is deleted.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
    /// `webhook`: the URL (may carry secrets: only its scheme and host are ever logged).
    #[serde(default)]
    pub url: Option<String>,
    /// `webhook`: `false` posts one alert per request (a JSON object), `true` a JSON array of up
    /// to `batch_size` alerts. Ignored with a `preset` (always one alert per request).
    #[serde(default)]
    pub batch: bool,
    /// `webhook`: extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `webhook`: `none`, `bearer`, `entra` or `hmac`.
    #[serde(default)]
    pub auth: WebhookAuth,
    /// `webhook`, `auth = "bearer"`: environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// `webhook`, `auth = "bearer"`: file holding the token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `webhook`, `auth = "entra"`: the token scope, e.g. `api://my-receiver/.default`.
    #[serde(default)]
    pub scope: Option<String>,
    /// `webhook`, `auth = "hmac"`: environment variable holding the shared secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `webhook`, `auth = "hmac"`: file holding the shared secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// `webhook`: shape the payload for `slack` or `teams`.
    #[serde(default)]
    pub preset: Option<WebhookPreset>,
    /// `webhook`, `sentinel`: per-request timeout (connect and response), in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// `webhook`, `sentinel`: largest request body; a larger alert is refused (dead-lettered).
    /// Default 1 MiB for `webhook`, 1,000,000 bytes (the service limit, also the maximum) for
    /// `sentinel`, which splits batches to stay under it.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// `sentinel`: the data collection endpoint (or DCR ingestion endpoint), e.g.
    /// `https://my-dce-abcd.westeurope-1.ingest.monitor.azure.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `sentinel`: the data collection rule's immutable id (`dcr-...`).
    #[serde(default)]
    pub dcr_immutable_id: Option<String>,
    /// `sentinel`: the DCR stream, e.g. `Custom-HubwatchAlerts`.
    #[serde(default)]
    pub stream_name: Option<String>,
    /// `sentinel`: gzip request bodies (`Content-Encoding: gzip`).
    #[serde(default)]
    pub gzip: bool,
    /// `eventhubs`: fully qualified namespace, e.g. `myns.servicebus.windows.net`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `eventhubs`: the Event Hub to publish to.
    #[serde(default)]
    pub eventhub: Option<String>,
    /// `eventhubs`: `amqp://host:port` (local server) or `amqps://host:port` (private endpoint).
    #[serde(default)]
    pub custom_endpoint: Option<String>,
    /// `eventhubs`, `sentinel`, `webhook` with `auth = "entra"`: how to authenticate
    /// (`managed-identity`, `workload-identity`, `client-secret`, `azure-cli`; `eventhubs` also
    /// `connection-string`).
    #[serde(default)]
    pub credential: Option<CredentialKind>,
    /// `client_id`, `tenant_id`, `client_secret_env`/`_file` and (`eventhubs`)
    /// `connection_string_env`/`_file`: the same keys as the source's.
    #[serde(flatten)]
    pub credentials: CredentialConfig,
    /// Routing: only alerts of at least this severity.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Routing: only these rule ids (empty: all).
    #[serde(default)]
    pub include_rules: Vec<String>,
    /// Routing: never these rule ids.
    #[serde(default)]
    pub exclude_rules: Vec<String>,
    /// Alerts queued for this sink before the pipeline waits.
    #[serde(default = "default_queue")]
    pub queue_size: usize,
    /// Most alerts per send.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// How long a partial batch waits for more alerts.
    #[serde(default = "default_linger")]
    pub linger_ms: u64,
    /// Give up retrying a transient failure after this long and dead-letter (0: never).
    #[serde(default = "default_deadline")]
    pub retry_deadline_secs: u64,
    /// Longest wait between two attempts at a failing batch (the exponential backoff's cap,
    /// unless the destination asks for longer with `Retry-After`): how soon a sink that comes
    /// back is used again, and how often one that is down is tried.
    #[serde(default = "default_retry_backoff_max")]
    pub retry_backoff_max_ms: u64,
}

fn default_queue() -> usize {
    1000
}
fn default_batch() -> usize {
    100
}
fn default_linger() -> u64 {
    50
}
fn default_deadline() -> u64 {
    3600
}
fn default_retry_backoff_max() -> u64 {
    4000
}
fn default_max_files() -> u32 {
    5
}
fn default_timeout() -> u64 {
    10
}

/// Default `max_body_bytes` of a `webhook` sink.
pub const WEBHOOK_MAX_BODY_BYTES: usize = 1 << 20;
/// The Logs Ingestion API's limit per call, the default and largest `max_body_bytes` of `sentinel`.
pub const SENTINEL_MAX_BODY_BYTES: usize = 1_000_000;

impl SinkConfig {
    /// Checks the keys this kind needs; errors are `(key, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let kind = self.kind_str();
        let err = |key: &str, message: String| Err((key.to_string(), message));
        let need = |key: &str, present: bool| {
            if present {
                Ok(())
            } else {
                err(key, format!("required for kind = \"{kind}\""))
            }
        };
        let non_empty = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match self.kind {
            SinkKind::Stdout => {}
            SinkKind::File => {
                need("path", self.path.is_some())?;
                if self.max_bytes.is_some_and(|b| b > 0) && self.max_files == 0 {
                    return err(
                        "max_files",
                        "must be at least 1 when max_bytes is set".into(),
                    );
                }
            }
            SinkKind::Webhook => {
                need("url", non_empty(&self.url))?;
                check_http_url("url", self.url.as_deref().unwrap_or_default())?;
                match self.auth {
                    WebhookAuth::None => {}
                    WebhookAuth::Bearer => {
                        if self.token_env.is_none() && self.token_file.is_none() {
                            return err(
                                "token_env",
                                "auth = \"bearer\" needs token_env or token_file".into(),
                            );
                        }
                    }
                    WebhookAuth::Entra => {
                        need("scope", non_empty(&self.scope))?;
                        self.check_token_credential()?;
                    }
                    WebhookAuth::Hmac => {
                        if self.secret_env.is_none() && self.secret_file.is_none() {
                            return err(
                                "secret_env",
                                "auth = \"hmac\" needs secret_env or secret_file".into(),
                            );
                        }
                    }
                }
                for (name, value) in &self.headers {
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return err("headers", format!("{name:?} is not a valid header name"));
                    }
                    if reqwest::header::HeaderValue::from_str(value).is_err() {
                        return err("headers", format!("the value of {name:?} is not valid"));
                    }
                }
                self.check_timeout_and_body(usize::MAX)?;
            }
            SinkKind::Sentinel => {
                need("endpoint", non_empty(&self.endpoint))?;
                check_http_url("endpoint", self.endpoint.as_deref().unwrap_or_default())?;
                need("dcr_immutable_id", non_empty(&self.dcr_immutable_id))?;
                need("stream_name", non_empty(&self.stream_name))?;
                self.check_token_credential()?;
                self.check_timeout_and_body(SENTINEL_MAX_BODY_BYTES)?;
            }
            SinkKind::Eventhubs => {
                need("eventhub", non_empty(&self.eventhub))?;
                let credential = self.credential.ok_or_else(|| {
                    (
                        "credential".to_string(),
                        "required for kind = \"eventhubs\" (managed-identity, workload-identity, client-secret, azure-cli or connection-string)".to_string(),
                    )
                })?;
                if credential == CredentialKind::ConnectionString {
                    if self.credentials.connection_string_env.is_none()
                        && self.credentials.connection_string_file.is_none()
                    {
                        return err(
                            "connection_string_env",
                            "credential = \"connection-string\" needs connection_string_env or connection_string_file".into(),
                        );
                    }
                } else {
                    need("namespace", non_empty(&self.namespace))?;
                    self.check_token_credential()?;
                }
                if let Some(ep) = &self.custom_endpoint {
                    if !(ep.starts_with("amqp://")
                        || ep.starts_with("amqps://")
                        || ep.starts_with("sb://"))
                    {
                        return err(
                            "custom_endpoint",
                            "must start with amqp://, amqps:// or sb://".into(),
                        );
                    }
                }
            }
        }
        if self.retry_backoff_max_ms == 0 {
            return Err(("retry_backoff_max_ms".into(), "must be at least 1".into()));
        }
        if self.queue_size == 0 {
            return Err(("queue_size".into(), "must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(("batch_size".into(), "must be at least 1".into()));
        }
        Ok(())
    }

    /// The kind as written in the configuration.
    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            SinkKind::Stdout => "stdout",
            SinkKind::File => "file",
            SinkKind::Webhook => "webhook",
            SinkKind::Eventhubs => "eventhubs",
            SinkKind::Sentinel => "sentinel",
        }
    }

    /// The request body limit for this kind.
    pub fn body_limit(&self) -> usize {
        match self.kind {
            SinkKind::Sentinel => self
                .max_body_bytes
                .unwrap_or(SENTINEL_MAX_BODY_BYTES)
                .min(SENTINEL_MAX_BODY_BYTES),
            _ => self.max_body_bytes.unwrap_or(WEBHOOK_MAX_BODY_BYTES),
        }
    }

    /// An Entra ID token credential must be configured (not a connection string).
    fn check_token_credential(&self) -> Result<(), (String, String)> {
        let kind = self.kind_str();
        let credential = self.credential.ok_or_else(|| {
            (
                "credential".to_string(),
                format!("required for kind = \"{kind}\" (managed-identity, workload-identity, client-secret or azure-cli)"),
            )
        })?;
        match credential {
            CredentialKind::ConnectionString => Err((
                "credential".into(),
                format!("connection-string is not an Entra ID credential and cannot be used by kind = \"{kind}\""),
            )),
            CredentialKind::ClientSecret => {
                if self.credentials.tenant_id.is_none() || self.credentials.client_id.is_none() {
                    return Err((
                        "tenant_id".into(),
                        "credential = \"client-secret\" needs tenant_id and client_id".into(),
                    ));
                }
                if self.credentials.client_secret_env.is_none() && self.credentials.client_secret_file.is_none() {
                    return Err((
                        "client_secret_env".into(),
                        "credential = \"client-secret\" needs client_secret_env or client_secret_file".into(),
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn check_timeout_and_body(&self, max: usize) -> Result<(), (String, String)> {
        if self.timeout_secs == 0 {
            return Err(("timeout_secs".into(), "must be at least 1".into()));
        }
        if let Some(b) = self.max_body_bytes {
            if b == 0 || b > max {
                return Err((
                    "max_body_bytes".into(),
                    format!("must be between 1 and {max}"),
                ));
            }
        }
        Ok(())
    }

    /// Whether this sink takes alerts of this rule and severity.
    pub fn routes(&self, rule_id: &str, severity: Severity) -> bool {
        if self.min_severity.is_some_and(|min| severity < min) {
            return false;
        }
        if self.exclude_rules.iter().any(|r| r == rule_id) {
            return false;
        }
        self.include_rules.is_empty() || self.include_rules.iter().any(|r| r == rule_id)
    }
}

/// The value must be an absolute `http://` or `https://` URL.
fn check_http_url(key: &str, value: &str) -> Result<(), (String, String)> {
    match reqwest::Url::parse(value) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {
            Ok(())
        }
        // Never echo the value: webhook URLs carry secrets.
        _ => Err((
            key.to_string(),
            "must be an absolute http:// or https:// URL".into(),
        )),
    }
}
