//! The alert a SOC receives, and where its record came from.

use crate::actor::Actor;
use crate::entities::Entity;
use crate::record::plain;
use crate::rules::spec::{Mitre, Severity};
use crate::rules::{Detection, Rule};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// A line of a file (or of standard input, path `-`), 1-based.
    File {
        path: String,
        line: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record_index: Option<usize>,
    },
    /// An event of an Event Hubs partition.
    EventHubs {
        namespace: String,
        eventhub: String,
        consumer_group: String,
        partition: String,
        sequence_number: i64,
        offset: Option<String>,
        #[serde(with = "time::serde::rfc3339::option", default)]
        enqueued_time: Option<OffsetDateTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record_index: Option<usize>,
    },
    /// A line of an archive blob (diagnostic settings' storage archive, read by `backfill`):
    /// 1-based line number and the byte offset where the line starts.
    Blob {
        container: String,
        blob: String,
        line: u64,
        offset: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record_index: Option<usize>,
    },
}

impl Origin {
    /// The same position, narrowed to one record of the body.
    pub fn with_record(&self, index: usize) -> Origin {
        let mut s = self.clone();
        match &mut s {
            Origin::File { record_index, .. }
            | Origin::EventHubs { record_index, .. }
            | Origin::Blob { record_index, .. } => *record_index = Some(index),
        }
        s
    }

    /// When Event Hubs accepted the event, if known.
    pub fn enqueued_time(&self) -> Option<OffsetDateTime> {
        match self {
            Origin::EventHubs { enqueued_time, .. } => *enqueued_time,
            Origin::File { .. } | Origin::Blob { .. } => None,
        }
    }

    /// A stable text form of the position, for ids of per-record alerts.
    pub fn key(&self) -> String {
        match self {
            Origin::File {
                path,
                line,
                record_index,
            } => format!("file:{path}:{line}:{}", record_index.unwrap_or(0)),
            Origin::EventHubs {
                namespace,
                eventhub,
                partition,
                sequence_number,
                record_index,
                ..
            } => format!(
                "eventhubs:{namespace}/{eventhub}/{partition}:{sequence_number}:{}",
                record_index.unwrap_or(0)
            ),
            Origin::Blob {
                container,
                blob,
                offset,
                record_index,
                ..
            } => format!(
                "blob:{container}/{blob}:{offset}:{}",
                record_index.unwrap_or(0)
            ),
        }
    }
}

/// One alert, as delivered to every sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    /// `alert_update` for a follow-up message about an alert already sent (same `alert_id`);
    /// left out of the alert itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Deterministic: the same rule, dedup string and window give the same id on every replica.
    pub alert_id: String,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub dedup: String,
    #[serde(rename = "resourceId", deserialize_with = "plain::value")]
    pub resource_id: Value,
    #[serde(rename = "callerIpAddress", deserialize_with = "plain::value")]
    pub caller_ip_address: Value,
    #[serde(rename = "correlationId", deserialize_with = "plain::value")]
    pub correlation_id: Value,
    /// Who acted, from the record (not from the rule); `{}` when unknown. Defaults on reading
    /// alerts written before it existed (dead letters being redriven).
    #[serde(default)]
    pub actor: Actor,
    /// Sentinel-style entities of the record; `[]` when none.
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// The record's `time`, as received.
    #[serde(deserialize_with = "plain::value")]
    pub event_time: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    /// Start of the dedup window this alert stands for (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(deserialize_with = "plain::object")]
    pub alert_context: Map<String, Value>,
    pub display_name: String,
    pub description: String,
    pub runbook: String,
    pub reference: String,
    pub mitre: Vec<Mitre>,
    pub tags: Vec<String>,
    pub log_types: Vec<String>,
    /// The rule's `SummaryAttributes` and their values in the record.
    #[serde(deserialize_with = "plain::object")]
    pub summary: Map<String, Value>,
    /// Answers to the rule's runbook from hubwatch's context store (Key Vault rules, when
    /// `[context]` is enabled); left out otherwise. Filled in by the service, not here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "plain::option"
    )]
    pub runbook_answers: Option<Value>,
    /// The matched record exactly as received.
    pub event: Box<RawValue>,
    pub source: Origin,
}

/// Everything needed to build an alert from one matched record.
pub struct AlertInput<'a> {
    pub rule: &'a Rule,
    pub detection: Detection,
    pub record: &'a Map<String, Value>,
    pub raw: &'a str,
    pub source: Origin,
    pub window_start: OffsetDateTime,
    pub alert_id: String,
    pub detected_at: OffsetDateTime,
}

impl Alert {
    /// Builds the alert; fails only if `raw` is not JSON (the decoder has validated it).
    pub fn build(input: AlertInput<'_>) -> Result<Alert, serde_json::Error> {
        let AlertInput {
            rule,
            detection,
            record,
            raw,
            source,
            window_start,
            alert_id,
            detected_at,
        } = input;
        let field = |key: &str| {
            crate::record::lookup(record, key)
                .cloned()
                .unwrap_or(Value::Null)
        };
        let spec = &rule.spec;
        let summary = spec
            .summary_attributes
            .iter()
            .map(|k| (k.clone(), field(k)))
            .collect();
        let event = RawValue::from_string(raw.to_string())?;
        let actor = Actor::from_record(record);
        let entities = crate::entities::from_record(record, &actor);
        Ok(Alert {
            kind: None,
            alert_id,
            rule_id: spec.rule_id.clone(),
            title: detection.title,
            severity: detection.severity,
            dedup: detection.dedup,
            resource_id: field("resourceId"),
            caller_ip_address: field("callerIpAddress"),
            correlation_id: field("correlationId"),
            actor,
            entities,
            event_time: field("time"),
            detected_at,
            window_start,
            alert_context: detection.alert_context,
            display_name: spec.display_name.clone().unwrap_or_default(),
            description: spec
                .description
                .clone()
                .unwrap_or_default()
                .trim_end()
                .to_string(),
            runbook: crate::rules::truncate(spec.runbook.as_deref().unwrap_or_default().trim_end()),
            reference: crate::rules::truncate(spec.reference.as_deref().unwrap_or_default()),
            mitre: rule.mitre.clone(),
            tags: spec.tags.clone(),
            log_types: spec.log_types.clone(),
            summary,
            runbook_answers: None,
            event,
            source,
        })
    }

    /// The alert as one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Alerts as JSON lines, each ending in a newline (what the stdout and file sinks write).
pub fn json_lines(alerts: &[std::sync::Arc<Alert>]) -> Vec<u8> {
    let mut buf = Vec::new();
    for a in alerts {
        buf.extend_from_slice(a.to_json().as_bytes());
        buf.push(b'\n');
    }
    buf
}

/// The id of a deduplicated alert: rule, dedup string and window start.
pub fn alert_id(rule_id: &str, dedup: &str, window_start: OffsetDateTime) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(dedup.as_bytes());
    h.update([0]);
    h.update(window_start.unix_timestamp().to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The id of a per-record alert (dedup off): rule, dedup string and the record's position.
pub fn record_alert_id(rule_id: &str, dedup: &str, source: &Origin) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(dedup.as_bytes());
    h.update([0]);
    h.update(source.key().as_bytes());
    hex::encode(&h.finalize()[..16])
}
