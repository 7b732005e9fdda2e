//! A dead-letter entry: what could not be evaluated or delivered, with the reason.
//!
//! The service writes these, one JSON object per line, to its dead-letter file; the detection
//! core only builds them.

use crate::alert::{Alert, Origin};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a dead-letter entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A whole body that could not be decoded.
    Body,
    /// One record of a body that could not be decoded.
    Record,
    /// A record on which a rule raised (Panther's rule error); no alert was made.
    RuleError,
    /// An alert a sink refused permanently.
    Alert,
    /// An event that could not be received again and again (a poison event): its position,
    /// no body; the partition was checkpointed past it.
    Event,
}

/// One line of the dead-letter file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub kind: EntryKind,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// The raw body or record when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The raw body or record, base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<Box<Alert>>,
}

impl DeadLetter {
    /// An entry for raw input (a body or a record).
    pub fn raw(kind: EntryKind, reason: String, source: Option<Origin>, raw: &[u8]) -> Self {
        use base64::Engine;
        let (body, body_base64) = match std::str::from_utf8(raw) {
            Ok(s) => (Some(s.to_string()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(raw)),
            ),
        };
        DeadLetter {
            time: OffsetDateTime::now_utc(),
            kind,
            reason,
            source,
            rule_id: None,
            sink: None,
            body,
            body_base64,
            alert: None,
        }
    }

    /// An entry for an alert a sink refused.
    pub fn alert(alert: Alert, sink: &str, reason: String) -> Self {
        DeadLetter {
            time: OffsetDateTime::now_utc(),
            kind: EntryKind::Alert,
            reason,
            source: Some(alert.source.clone()),
            rule_id: Some(alert.rule_id.clone()),
            sink: Some(sink.to_string()),
            body: None,
            body_base64: None,
            alert: Some(Box::new(alert)),
        }
    }
}
