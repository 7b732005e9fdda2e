//! Port of Panther's `azure_network_packet_capture_enabled.py`
//! (`Azure.MonitorActivity.Network.PacketCaptureEnabled`).
//!
//! Unlike most rules this one tests *substrings*: the upper-cased `operationName` (a
//! non-string raises in `rule()`) matches when it contains any of the packet-capture
//! operations. The title renders `location` as an f-string does (`<UNKNOWN_LOCATION>` only
//! when missing).

use super::helpers::{azure_activity_alert_context, azure_activity_success};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_network_packet_capture_enabled.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Network.PacketCaptureEnabled",
        display_name: "Azure Network Packet Capture Enabled",
        enabled: true,
        severity: Severity::Medium,
        description: "A Network Watcher packet capture was started or written, which can record traffic carrying credentials.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/credential_access_network_full_network_packet_capture_detected.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "location", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1040"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(PacketCaptureEnabled)
}

const PACKET_CAPTURE_OPERATIONS: &[&str] = &[
    "MICROSOFT.NETWORK/NETWORKWATCHERS/STARTPACKETCAPTURE/ACTION",
    "MICROSOFT.NETWORK/NETWORKWATCHERS/VPNCONNECTIONS/STARTPACKETCAPTURE/ACTION",
    "MICROSOFT.NETWORK/NETWORKWATCHERS/PACKETCAPTURES/WRITE",
];

#[derive(Debug, Clone, Copy)]
pub struct PacketCaptureEnabled;

impl Logic for PacketCaptureEnabled {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation_name = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(PACKET_CAPTURE_OPERATIONS
            .iter()
            .any(|pattern| operation_name.contains(pattern))
            && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let location = py::get(event.fields(), "location")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_LOCATION>".to_string());
        Ok(Some(format!(
            "Azure Network Packet Capture Enabled in [{location}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's upper-cased operation name contains one of the constants, each of which
        // contains PACKETCAPTURE; in pure-ASCII text without escapes the raw spelling holds it
        // in some casing.
        Some(vec!["packetcapture".to_string()])
    }
}
