//! Port of Panther's `azure_event_hub_deleted.py` (`Azure.MonitorActivity.EventHub.Deleted`).
//!
//! `rule()` is `all([...])` over a list, so both checks are evaluated: a non-string operation
//! raises regardless of `resultType`. Names are the segments after `eventhubs`, `namespaces`
//! and `resourceGroups` in the resource id (kept when empty in the title); a truthy non-string
//! resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_event_hub_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.EventHub.Deleted",
        display_name: "Azure Event Hub Deleted",
        enabled: true,
        severity: Severity::High,
        description: "An Azure Event Hub, possibly one carrying security logs, was deleted.",
        reference: "https://learn.microsoft.com/en-us/azure/event-hubs/event-hubs-about",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562.008"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(EventHubDeleted)
}

const EVENT_HUB_DELETE_OPERATION: &str = "MICROSOFT.EVENTHUB/NAMESPACES/EVENTHUBS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct EventHubDeleted;

impl Logic for EventHubDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let checks = [
            py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?
                == EVENT_HUB_DELETE_OPERATION,
            azure_activity_success(event),
        ];
        Ok(checks.iter().all(|c| *c))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let eventhub = extract_resource_name_from_id(resource_id, "eventhubs")?
            .unwrap_or("<UNKNOWN_EVENTHUB>");
        Ok(Some(format!("Azure Event Hub Deleted: [{eventhub}]")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("eventhub_name", "eventhubs"),
            ("namespace_name", "namespaces"),
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
        Some(vec![EVENT_HUB_DELETE_OPERATION.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": "MICROSOFT.EVENTHUB/NAMESPACES/EVENTHUBS/DELETE",
            "resultType": "Success",
            "resourceId": "/s/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/eventhubs/eh",
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(EventHubDeleted.matches(&r), Ok(true));
        let ctx = EventHubDeleted.alert_context(&r).unwrap_or_default();
        assert_eq!(ctx.get("namespace_name"), Some(&json!("ns")));
        assert_eq!(ctx.get("eventhub_name"), Some(&json!("eh")));
        let Value::Object(m) = json!({"operationName": 1, "resultType": "Failure"}) else {
            unreachable!("object")
        };
        assert!(EventHubDeleted.matches(&Record::new(&m)).is_err());
    }
}
