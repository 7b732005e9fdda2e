//! Port of Panther's `azure_log_analytics_workspace_deleted.py`
//! (`Azure.MonitorActivity.LogAnalyticsWorkspace.Deleted`).
//!
//! `operationName` is upper-cased and compared for equality (a non-string raises in `rule()`);
//! a truthy non-string resource id raises in `title()` and `alert_context()`. The context sets
//! `resource_group` a second time (same value, same position), as the Python does.

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
pub const FILENAME: &str = "azure_log_analytics_workspace_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.LogAnalyticsWorkspace.Deleted",
        display_name: "Azure Log Analytics Workspace Deleted",
        enabled: true,
        severity: Severity::Medium,
        description: "A Log Analytics workspace was deleted, taking its collected logs with it.",
        reference: "https://learn.microsoft.com/en-us/azure/azure-monitor/logs/delete-workspace?tabs=azure-portal",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562.008", "TA0040:T1485"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(WorkspaceDeleted)
}

const WORKSPACE_DELETE: &str = "MICROSOFT.OPERATIONALINSIGHTS/WORKSPACES/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct WorkspaceDeleted;

impl Logic for WorkspaceDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == WORKSPACE_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let workspace = extract_resource_name_from_id(resource_id, "workspaces")?
            .unwrap_or("<UNKNOWN_WORKSPACE>");
        Ok(Some(format!(
            "Azure Log Analytics Workspace deleted [{workspace}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("workspace_name", "workspaces"),
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
        Some(vec![WORKSPACE_DELETE.to_ascii_lowercase()])
    }
}
