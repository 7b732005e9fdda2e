//! The `sentinel` sink: alerts as rows of a custom Log Analytics table (Microsoft Sentinel),
//! through the Azure Monitor Logs Ingestion API.
//!
//! Each request is
//!
//! ```text
//! POST {endpoint}/dataCollectionRules/{dcr_immutable_id}/streams/{stream_name}?api-version=2023-01-01
//! Authorization: Bearer <Entra ID token for https://monitor.azure.com//.default>
//! Content-Type: application/json
//! Content-Encoding: gzip                       (with gzip = true)
//!
//! [ {row}, {row}, ... ]
//! ```
//!
//! A batch is split into as many requests as needed to keep each (uncompressed) body within
//! `max_body_bytes` (at most 1,000,000, the API's limit); an alert whose row alone is larger is
//! refused (dead-lettered). If a later request of a batch fails, the worker retries the whole
//! batch, so rows may arrive twice: deduplicate on `AlertId`.
//!
//! # Row schema
//!
//! One row per alert ([`AlertRow`]); the DCR's stream declaration and the custom table
//! (`HubwatchAlerts_CL`, with a transformation of `source`) need these columns, which
//! `deploy/sentinel/columns.json` declares for `deploy/sentinel/main.bicep` (a test holds the
//! two together). The Logs Ingestion API reserves `Title` (and one of Microsoft's lists
//! `ResourceId`), hence `AlertTitle` and `AzureResourceId`:
//!
//! | column            | type     | from the alert                                     |
//! |-------------------|----------|----------------------------------------------------|
//! | `TimeGenerated`   | datetime | `detected_at`                                      |
//! | `AlertId`         | string   | `alert_id`                                         |
//! | `RuleId`          | string   | `rule_id`                                          |
//! | `AlertTitle`      | string   | `title`                                            |
//! | `Severity`        | string   | `severity` (`INFO` .. `CRITICAL`)                  |
//! | `Dedup`           | string   | `dedup`                                            |
//! | `AzureResourceId` | string   | `resourceId` (JSON text if not a string)           |
//! | `CallerIpAddress` | string   | `callerIpAddress` (ditto)                          |
//! | `CorrelationId`   | string   | `correlationId` (ditto)                            |
//! | `Actor`           | dynamic  | `actor`: who acted (`{}` when unknown)             |
//! | `Entities`        | dynamic  | `entities`: Sentinel-style entities (`[]` if none) |
//! | `EventTime`       | string   | `event_time`, the record's `time` as received      |
//! | `WindowStart`     | datetime | `window_start`                                     |
//! | `DisplayName`     | string   | `display_name`                                     |
//! | `Description`     | string   | `description`                                      |
//! | `Runbook`         | string   | `runbook`                                          |
//! | `Reference`       | string   | `reference`                                        |
//! | `Mitre`           | dynamic  | `mitre`: `[{"tactic": .., "technique": ..}]`       |
//! | `Tags`            | dynamic  | `tags`                                             |
//! | `LogTypes`        | dynamic  | `log_types`                                        |
//! | `Summary`         | dynamic  | `summary`                                          |
//! | `AlertContext`    | dynamic  | `alert_context`                                    |
//! | `Event`           | dynamic  | `event`, the matched record                        |
//! | `Source`          | dynamic  | `source`: where the record came from               |
//! | `Kind`            | string   | `kind`: `alert_update` for a follow-up, else empty  |
//! | `RunbookAnswers`  | dynamic  | `runbook_answers` (`{}` when the alert has none)   |
//!
//! Null `AzureResourceId`, `CallerIpAddress`, `CorrelationId` and `EventTime` are sent as empty
//! strings.

use super::http;
use super::{Sink, SinkBuildError, SinkConfig, SinkError, SinkKind, SinkKindConfig};
use crate::actor::Actor;
use crate::alert::{Alert, Origin};
use crate::entities::Entity;
use crate::rules::spec::Mitre;
use azure_core::credentials::TokenCredential;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::Url;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The token scope of the Logs Ingestion API in Azure's public cloud, as Microsoft documents it
/// (the audience `https://monitor.azure.com/` followed by `/.default`).
pub const SCOPE: &str = "https://monitor.azure.com//.default";

/// The scope for an ingestion endpoint: the US Government and China clouds have audiences of
/// their own (`*.ingest.monitor.azure.us`, `*.ingest.monitor.azure.cn`).
pub fn scope_for(endpoint: &Url) -> &'static str {
    let host = endpoint.host_str().unwrap_or_default().to_ascii_lowercase();
    if host.ends_with(".azure.us") {
        "https://monitor.azure.us//.default"
    } else if host.ends_with(".azure.cn") {
        "https://monitor.azure.cn//.default"
    } else {
        SCOPE
    }
}
/// The API version used.
pub const API_VERSION: &str = "2023-01-01";

/// One row of the custom table; see the [module documentation](self).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlertRow<'a> {
    #[serde(with = "time::serde::rfc3339")]
    pub time_generated: OffsetDateTime,
    pub alert_id: &'a str,
    pub rule_id: &'a str,
    /// `Title` is a reserved column name.
    pub alert_title: &'a str,
    pub severity: &'static str,
    pub dedup: &'a str,
    /// `ResourceId` is reserved in some of Microsoft's lists; this name is in none.
    pub azure_resource_id: String,
    pub caller_ip_address: String,
    pub correlation_id: String,
    pub actor: &'a Actor,
    pub entities: &'a [Entity],
    pub event_time: String,
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    pub display_name: &'a str,
    pub description: &'a str,
    pub runbook: &'a str,
    pub reference: &'a str,
    pub mitre: &'a [Mitre],
    pub tags: &'a [String],
    pub log_types: &'a [String],
    pub summary: &'a Map<String, Value>,
    pub alert_context: &'a Map<String, Value>,
    pub event: &'a RawValue,
    pub source: &'a Origin,
    pub kind: &'a str,
    pub runbook_answers: &'a Value,
}

/// `RunbookAnswers` of an alert without them: the empty object (a dynamic column).
static NO_ANSWERS: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Object(Map::new()));

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl<'a> AlertRow<'a> {
    pub fn new(a: &'a Alert) -> Self {
        AlertRow {
            time_generated: a.detected_at,
            alert_id: &a.alert_id,
            rule_id: &a.rule_id,
            alert_title: &a.title,
            severity: a.severity.as_str(),
            dedup: &a.dedup,
            azure_resource_id: text(&a.resource_id),
            caller_ip_address: text(&a.caller_ip_address),
            correlation_id: text(&a.correlation_id),
            actor: &a.actor,
            entities: &a.entities,
            event_time: text(&a.event_time),
            window_start: a.window_start,
            display_name: &a.display_name,
            description: &a.description,
            runbook: &a.runbook,
            reference: &a.reference,
            mitre: &a.mitre,
            tags: &a.tags,
            log_types: &a.log_types,
            summary: &a.summary,
            alert_context: &a.alert_context,
            event: &a.event,
            source: &a.source,
            kind: a.kind.as_deref().unwrap_or_default(),
            runbook_answers: a.runbook_answers.as_ref().unwrap_or(&NO_ANSWERS),
        }
    }
}

/// Sends alerts to a data collection rule's stream.
pub struct SentinelSink {
    name: String,
    url: Url,
    origin: String,
    scope: &'static str,
    client: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    gzip: bool,
    max_body_bytes: usize,
}

impl SentinelSink {
    /// Builds the sink from its configuration and the configured Entra ID credential.
    pub fn from_config(name: &str, config: &SinkConfig) -> Result<Self, SinkBuildError> {
        let SinkKindConfig::Sentinel(cfg) = &config.kind else {
            return Err(super::wrong_kind(name, config, SinkKind::Sentinel));
        };
        let credential = super::entra_credential(name, cfg.credential, &cfg.credentials)?;
        Self::new(name, config, credential)
    }

    /// Builds the sink with a given credential (tests pass a fake one).
    pub fn new(
        name: &str,
        config: &SinkConfig,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<Self, SinkBuildError> {
        let bad = |key: &str, message: String| SinkBuildError::config(name, key, message);
        let SinkKindConfig::Sentinel(cfg) = &config.kind else {
            return Err(super::wrong_kind(name, config, SinkKind::Sentinel));
        };
        let required = |key: &str, v: &str| {
            Some(v.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| bad(key, "required for kind = \"sentinel\"".into()))
        };
        let endpoint = required("endpoint", &cfg.endpoint)?;
        let dcr = required("dcr_immutable_id", &cfg.dcr_immutable_id)?;
        let stream = required("stream_name", &cfg.stream_name)?;
        let mut url = Url::parse(endpoint.trim_end_matches('/'))
            .map_err(|e| bad("endpoint", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(
                "endpoint",
                "must be an absolute http:// or https:// URL".into(),
            ));
        }
        url.path_segments_mut()
            .map_err(|_| bad("endpoint", "cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(["dataCollectionRules", &dcr, "streams", &stream]);
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", API_VERSION);
        if cfg.timeout_secs == 0 {
            return Err(bad("timeout_secs", "must be at least 1".into()));
        }
        let client = http::client(Duration::from_secs(cfg.timeout_secs))
            .map_err(|e| bad("endpoint", format!("cannot build the HTTP client: {e}")))?;
        Ok(SentinelSink {
            name: name.to_string(),
            origin: http::origin(&url),
            scope: scope_for(&url),
            url,
            client,
            credential,
            gzip: cfg.gzip,
            max_body_bytes: cfg.body_limit(),
        })
    }

    /// The full request URL (it holds no secret).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The JSON-array bodies (uncompressed) for a batch.
    fn bodies(&self, alerts: &[Arc<Alert>]) -> Result<Vec<Vec<u8>>, SinkError> {
        let rows = alerts
            .iter()
            .map(|a| {
                serde_json::to_string(&AlertRow::new(a)).map_err(|e| {
                    SinkError::permanent(format!("alert {}: cannot make a row: {e}", a.alert_id))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        http::pack_json_arrays(&rows, self.max_body_bytes).map_err(|i| {
            let (id, len) = alerts
                .get(i)
                .zip(rows.get(i))
                .map_or((String::new(), 0), |(a, r)| (a.alert_id.clone(), r.len()));
            SinkError::permanent(format!(
                "alert {id} makes a {len}-byte row, over max_body_bytes = {}",
                self.max_body_bytes
            ))
        })
    }
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body)?;
    enc.finish()
}

#[async_trait::async_trait]
impl Sink for SentinelSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let bodies = self.bodies(alerts)?;
        if bodies.is_empty() {
            return Ok(());
        }
        let token = self
            .credential
            .get_token(&[self.scope], None)
            .await
            .map_err(|e| {
                SinkError::transient(format!(
                    "getting an Entra ID token for {}: {e}",
                    self.origin
                ))
            })?;
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            http::header_value(
                &format!("Bearer {}", token.token.secret()),
                "the Entra ID token",
            )?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for body in bodies {
            let body = if self.gzip {
                gzip(&body).map_err(|e| SinkError::transient(format!("gzip: {e}")))?
            } else {
                body
            };
            let request = self
                .client
                .post(self.url.clone())
                .headers(headers.clone())
                .body(body);
            http::send(request, &self.origin).await?;
        }
        Ok(())
    }
}
