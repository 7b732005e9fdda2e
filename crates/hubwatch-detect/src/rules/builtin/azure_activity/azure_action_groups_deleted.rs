//! Port of Panther's `azure_action_groups_deleted.py` (`Azure.MonitorActivity.ActionGroups.Deleted`).
//!
//! The operation is upper-cased (a non-string raises in `rule()`) and compared for equality;
//! the action group is the segment after `actionGroups` in the resource id, kept even when it is
//! empty (a trailing slash gives `[]` in the title, not the default). A truthy non-string
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
pub const FILENAME: &str = "azure_action_groups_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.ActionGroups.Deleted",
        display_name: "Azure Action Groups Deleted",
        enabled: true,
        severity: Severity::Info,
        description:
            "An Azure Monitor action group, which routes alert notifications, was deleted.",
        reference: "https://learn.microsoft.com/en-us/azure/azure-monitor/alerts/action-groups",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562.008"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ActionGroupsDeleted)
}

const ACTION_GROUPS_DELETE: &str = "MICROSOFT.INSIGHTS/ACTIONGROUPS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct ActionGroupsDeleted;

impl Logic for ActionGroupsDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == ACTION_GROUPS_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let action_group = extract_resource_name_from_id(resource_id, "actionGroups")?
            .unwrap_or("<UNKNOWN_ACTION_GROUP>");
        Ok(Some(format!("Azure Action Group deleted [{action_group}]")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("action_group_name", "actionGroups"),
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
        Some(vec![ACTION_GROUPS_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn semantics() {
        let m = record(json!({
            "operationName": "Microsoft.Insights/actionGroups/delete",
            "resultType": "Success",
            "resourceId": "/s/x/actiongroups/",
        }));
        let r = Record::new(&m);
        assert_eq!(ActionGroupsDeleted.matches(&r), Ok(true));
        // An empty segment is returned as found, not replaced by the default.
        assert_eq!(
            ActionGroupsDeleted.title(&r),
            Ok(Some("Azure Action Group deleted []".to_string()))
        );
        let m = record(json!({"operationName": ["x"], "resultType": "Success"}));
        assert!(ActionGroupsDeleted.matches(&Record::new(&m)).is_err());
    }
}
