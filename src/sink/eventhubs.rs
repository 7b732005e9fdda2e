//! The `eventhubs` sink: each alert published as one event to an Event Hub.
//!
//! An event's body is the alert's JSON, its content type `application/json`, its message id
//! the `alert_id`, and it carries the application properties `rule_id` and `alert_id`. Its
//! partition key is a bounded hash of the alert's `dedup` string (the first 16 bytes of its
//! SHA-256, 32 hex digits; none when the string is empty): dedup strings run to 1,000
//! characters, Event Hubs keys are meant to be short, and equal strings still land on one
//! partition, so the alerts of one entity stay in order. A batch is grouped by partition key; each group goes
//! out in as few `send_batch` calls as the link's maximum message size allows. If a later
//! group fails, the worker retries the whole batch, so a consumer may see an alert twice:
//! deduplicate on `alert_id`.
//!
//! The connection is opened on the first send (and again after a failed open), so hubwatch
//! starts while Event Hubs is unreachable; the SDK recovers dropped connections and links
//! itself. Authentication is like the source's: an Entra ID `credential`, or
//! `credential = "connection-string"` with the connection string in `connection_string_env` or
//! `connection_string_file`. `custom_endpoint` (`amqp://host:port`) points at a local server.
//!
//! Server busy, timeouts, and connection or link failures are transient; an event too large
//! for the link (`amqp:link:message-size-exceeded`, or one that does not fit an empty batch),
//! unauthorized access and a missing entity are permanent (dead-lettered).
//!
//! Known limit of the SDK (0.16): `send_batch` reports a `Released` or `Modified` outcome as
//! success (it logs a warning), so such a batch is acknowledged without being stored.

use super::{
    EventHubsSinkConfig, Sink, SinkBuildError, SinkConfig, SinkError, SinkKind, SinkKindConfig,
};
use crate::alert::Alert;
use crate::azure::CredentialKind;
use azure_core::credentials::TokenCredential;
use azure_messaging_eventhubs::error::ErrorKind;
use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{EventDataBatchOptions, EventHubsError, ProducerClient};
use std::sync::Arc;
use std::time::Duration;

enum Auth {
    Token {
        namespace: String,
        credential: Arc<dyn TokenCredential>,
    },
    /// The connection string itself (kept to reconnect; never logged).
    ConnectionString(String),
}

/// Publishes alerts to an Event Hub.
pub(super) struct EventHubsSink {
    name: String,
    eventhub: String,
    custom_endpoint: Option<String>,
    auth: Auth,
    timeout: Duration,
    producer: tokio::sync::Mutex<Option<ProducerClient>>,
}

impl EventHubsSink {
    /// Builds the sink from its configuration; nothing connects until the first send.
    pub(super) fn from_config(name: &str, config: &SinkConfig) -> Result<Self, SinkBuildError> {
        let bad = |key: &str, message: &str| SinkBuildError::config(name, key, message.into());
        let SinkKindConfig::Eventhubs(cfg) = &config.kind else {
            return Err(super::wrong_kind(name, config, SinkKind::Eventhubs));
        };
        let eventhub = Some(cfg.eventhub.clone())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad("eventhub", "required for kind = \"eventhubs\""))?;
        let kind = cfg.credential;
        let auth = if kind == CredentialKind::ConnectionString {
            let key = crate::azure::connection_string_key(&cfg.credentials);
            let cs = crate::azure::connection_string(&cfg.credentials)
                .and_then(|cs| {
                    crate::azure::parse_connection_string(&cs, Some(&eventhub)).map(|_| cs)
                })
                .map_err(|e| SinkBuildError::credential(name, key, e))?;
            Auth::ConnectionString(cs)
        } else {
            let namespace = cfg
                .namespace
                .clone()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| bad("namespace", "required for kind = \"eventhubs\""))?;
            Auth::Token {
                namespace,
                credential: super::entra_credential(name, kind, &cfg.credentials)?,
            }
        };
        Ok(Self::build(name, eventhub, cfg, auth))
    }

    fn build(name: &str, eventhub: String, cfg: &EventHubsSinkConfig, auth: Auth) -> Self {
        EventHubsSink {
            name: name.to_string(),
            eventhub,
            custom_endpoint: cfg.custom_endpoint.clone(),
            auth,
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
            producer: tokio::sync::Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<ProducerClient, EventHubsError> {
        let mut builder = ProducerClient::builder()
            .with_application_id(format!("hubwatch-{}", env!("CARGO_PKG_VERSION")))
            .with_retry_options(azure_messaging_eventhubs::RetryOptions {
                // One attempt per send is the worker's contract; keep the SDK's own retries
                // (which also recover links) short.
                max_retries: 2,
                max_total_elapsed: azure_core::time::Duration::seconds(
                    self.timeout.as_secs().try_into().unwrap_or(i64::MAX),
                ),
                ..Default::default()
            });
        if let Some(ep) = &self.custom_endpoint {
            builder = builder.with_custom_endpoint(ep.clone());
        }
        match &self.auth {
            Auth::Token {
                namespace,
                credential,
            } => {
                builder
                    .open(namespace, &self.eventhub, credential.clone())
                    .await
            }
            Auth::ConnectionString(cs) => {
                builder
                    .open_with_connection_string(cs, Some(&self.eventhub))
                    .await
            }
        }
    }

    async fn send_inner(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let mut guard = self.producer.lock().await;
        if guard.is_none() {
            let producer = self
                .connect()
                .await
                .map_err(|e| classify(&e, "connecting"))?;
            *guard = Some(producer);
        }
        let Some(producer) = guard.as_ref() else {
            return Err(SinkError::transient("no connection"));
        };
        for (key, group) in group_by_key(alerts) {
            send_group(producer, key, &group).await?;
        }
        Ok(())
    }
}

/// The partition key of a dedup string: the first 16 bytes of its SHA-256, in hex.
pub(crate) fn partition_key(dedup: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(dedup.as_bytes())[..16])
}

/// Alerts grouped by partition key, groups in order of first appearance.
fn group_by_key(alerts: &[Arc<Alert>]) -> Vec<(Option<String>, Vec<&Alert>)> {
    let mut groups: Vec<(Option<String>, Vec<&Alert>)> = Vec::new();
    for a in alerts {
        let key = (!a.dedup.is_empty()).then(|| partition_key(&a.dedup));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(a),
            None => groups.push((key, vec![a])),
        }
    }
    groups
}

fn event(a: &Alert) -> EventData {
    EventData::builder()
        .with_body(a.to_json().into_bytes())
        .with_content_type("application/json".to_string())
        .with_message_id(a.alert_id.clone())
        .add_property("rule_id".to_string(), a.rule_id.as_str())
        .add_property("alert_id".to_string(), a.alert_id.as_str())
        .build()
}

async fn send_group(
    producer: &ProducerClient,
    key: Option<String>,
    alerts: &[&Alert],
) -> Result<(), SinkError> {
    let options = || EventDataBatchOptions {
        partition_key: key.clone(),
        ..Default::default()
    };
    let mut batch = producer
        .create_batch(Some(options()))
        .await
        .map_err(|e| classify(&e, "creating a batch"))?;
    for a in alerts {
        let added = batch
            .try_add_event_data(event(a), None)
            .map_err(|e| classify(&e, "adding an event"))?;
        if added {
            continue;
        }
        if batch.is_empty() {
            return Err(too_large(a));
        }
        producer
            .send_batch(batch, None)
            .await
            .map_err(|e| classify(&e, "sending a batch"))?;
        batch = producer
            .create_batch(Some(options()))
            .await
            .map_err(|e| classify(&e, "creating a batch"))?;
        if !batch
            .try_add_event_data(event(a), None)
            .map_err(|e| classify(&e, "adding an event"))?
        {
            return Err(too_large(a));
        }
    }
    if !batch.is_empty() {
        producer
            .send_batch(batch, None)
            .await
            .map_err(|e| classify(&e, "sending a batch"))?;
    }
    Ok(())
}

fn too_large(a: &Alert) -> SinkError {
    SinkError::permanent(format!(
        "alert {} is too large for one event on this Event Hub",
        a.alert_id
    ))
}

/// Conditions retrying cannot fix (matched in the error's text: the SDK does not re-export its
/// AMQP condition type).
const PERMANENT_MARKERS: &[&str] = &[
    "message-size-exceeded",
    "linkpayloadsizeexceeded",
    "unauthorized-access",
    "unauthorizedaccess",
    "amqp:not-found",
    "notfound",
];

/// Sorts an SDK error into transient or permanent.
fn classify(e: &EventHubsError, doing: &str) -> SinkError {
    let message = format!("{doing}: {}", crate::azure::error_chain(e));
    if matches!(e.kind, ErrorKind::InvalidBatchSize { .. }) {
        return SinkError::permanent(message);
    }
    let text = crate::azure::error_text(e).to_ascii_lowercase();
    if PERMANENT_MARKERS.iter().any(|m| text.contains(m)) {
        SinkError::permanent(message)
    } else {
        SinkError::transient(message)
    }
}

#[async_trait::async_trait]
impl Sink for EventHubsSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        match tokio::time::timeout(self.timeout, self.send_inner(alerts)).await {
            Ok(r) => r,
            Err(_) => {
                // A send that is never settled (a half-open connection, a lost disposition)
                // would hang every retry on the same link: the next attempt reconnects.
                drop(self.producer.lock().await.take());
                Err(SinkError::transient(format!(
                    "sending to Event Hub {} timed out after {:?}",
                    self.eventhub, self.timeout
                )))
            }
        }
    }

    async fn flush(&self) -> Result<(), SinkError> {
        let producer = self.producer.lock().await.take();
        if let Some(p) = producer {
            if let Err(e) = p.close().await {
                tracing::debug!(sink = %self.name, error = %e, "closing the Event Hubs producer");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_messaging_eventhubs::error::ErrorKind;

    fn alert_with_dedup(id: &str, dedup: &str) -> Arc<Alert> {
        let text = format!(
            r#"{{"alert_id":"{id}","rule_id":"r","title":"t","severity":"HIGH","dedup":"{dedup}",
            "resourceId":null,"callerIpAddress":null,"correlationId":null,"event_time":null,
            "detected_at":"2026-11-28T10:00:00Z","window_start":"2026-11-28T10:00:00Z",
            "alert_context":{{}},"display_name":"","description":"","runbook":"","reference":"",
            "mitre":[],"tags":[],"log_types":[],"summary":{{}},"event":{{}},
            "source":{{"kind":"file","path":"x","line":1}}}}"#
        );
        Arc::new(serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn groups_by_partition_key_in_order() {
        let alerts = [
            alert_with_dedup("1", "a"),
            alert_with_dedup("2", "b"),
            alert_with_dedup("3", "a"),
            alert_with_dedup("4", ""),
        ];
        let groups = group_by_key(&alerts);
        let (a, b) = (partition_key("a"), partition_key("b"));
        let view: Vec<(Option<&str>, Vec<&str>)> = groups
            .iter()
            .map(|(k, g)| {
                (
                    k.as_deref(),
                    g.iter().map(|a| a.alert_id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                (Some(a.as_str()), vec!["1", "3"]),
                (Some(b.as_str()), vec!["2"]),
                (None, vec!["4"])
            ]
        );
        // Bounded whatever the dedup string's length, and stable.
        assert_eq!(partition_key(&"x".repeat(1000)).len(), 32);
        assert_eq!(partition_key("a"), "ca978112ca1bbdcafac231b39a23dc4d");
    }

    #[test]
    fn classifies_conditions() {
        let e = |m: &'static str| EventHubsError::from(ErrorKind::SimpleMessage(m.into()));
        let permanent = |m| matches!(classify(&e(m), "x"), SinkError::Permanent { .. });
        assert!(permanent("condition amqp:link:message-size-exceeded"));
        assert!(permanent("amqp:unauthorized-access: bad token"));
        assert!(!permanent("com.microsoft:server-busy"));
        assert!(!permanent("connection refused"));
        let big = EventHubsError::from(ErrorKind::InvalidBatchSize {
            requested: 0,
            max_allowed: 1,
        });
        assert!(matches!(classify(&big, "x"), SinkError::Permanent { .. }));
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_transient_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let cs = dir.path().join("cs");
        std::fs::write(
            &cs,
            "Endpoint=sb://test.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=dGVzdA==",
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg: SinkConfig = toml::from_str(&format!(
            r#"
            kind = "eventhubs"
            eventhub = "alerts"
            credential = "connection-string"
            connection_string_file = "{}"
            custom_endpoint = "amqp://127.0.0.1:{port}"
            timeout_secs = 3
            "#,
            cs.display()
        ))
        .unwrap();
        cfg.validate().unwrap();
        let sink = EventHubsSink::from_config("eventhubs", &cfg).unwrap();
        let started = std::time::Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(20),
            sink.send(&[alert_with_dedup("1", "a")]),
        )
        .await
        .expect("send is bounded by timeout_secs");
        assert!(matches!(r, Err(SinkError::Transient { .. })), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let text = format!("{r:?}");
        assert!(!text.contains("dGVzdA=="), "no key in errors: {text}");
    }
}
