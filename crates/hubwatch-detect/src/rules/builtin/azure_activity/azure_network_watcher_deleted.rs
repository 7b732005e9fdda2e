//! Port of Panther's `azure_network_watcher_deleted.py`
//! (`Azure.MonitorActivity.Network.WatcherDeleted`).
//!
//! `rule()` is `all([...])` over a list, so both conditions are evaluated; only the
//! upper-casing of a non-string `operationName` can raise. A truthy non-string resource id
//! raises in `title()` and `alert_context()`; the context sets `resource_group` a second time
//! (same value, same position), as the Python does.

use super::helpers::{
    azure_activity_alert_context, azure_activity_success, extract_resource_name_from_id,
};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_network_watcher_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Network.WatcherDeleted",
        display_name: "Azure Network Watcher Deleted",
        enabled: true,
        severity: Severity::Medium,
        description: "A Network Watcher was deleted, removing network monitoring and flow logging for its region.",
        reference: "https://learn.microsoft.com/en-us/azure/network-watcher/network-watcher-overview",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "location", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562.001"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(NetworkWatcherDeleted)
}

const NETWORK_WATCHER_DELETE_OPERATION: &str = "MICROSOFT.NETWORK/NETWORKWATCHERS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct NetworkWatcherDeleted;

impl Logic for NetworkWatcherDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        let conditions = [
            operation == NETWORK_WATCHER_DELETE_OPERATION,
            azure_activity_success(event),
        ];
        Ok(conditions.iter().all(|c| *c))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let network_watcher = extract_resource_name_from_id(resource_id, "networkWatchers")?
            .unwrap_or("<UNKNOWN_WATCHER>");
        Ok(Some(format!(
            "Azure Network Watcher [{network_watcher}] Deleted"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("network_watcher_name", "networkWatchers"),
            ("resource_group", "resourceGroups"),
        ] {
            if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
                if !name.is_empty() {
                    context.insert(key.into(), py::s(name));
                }
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is the constant in some ASCII casing.
        Some(vec![NETWORK_WATCHER_DELETE_OPERATION.to_ascii_lowercase()])
    }
}
