//! Port of Panther's `azure_alert_rules_deleted.py` (`Azure.MonitorActivity.AlertRules.Deleted`).
//!
//! The operation is upper-cased (raising on a non-string) and must be one of the two delete
//! operations, with a successful `resultType`. The title renders `resourceId` with Python's
//! `str()` (any JSON type); the alert context upper-cases the operation again after the shared
//! helper, so a truthy non-string `resourceId` raises there first.

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
pub const FILENAME: &str = "azure_alert_rules_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.AlertRules.Deleted",
        display_name: "Azure Alert Rules Deleted",
        enabled: true,
        severity: Severity::Medium,
        description: "A classic or metric Azure Monitor alert rule was deleted.",
        reference:
            "https://learn.microsoft.com/en-us/azure/azure-monitor/alerts/alerts-manage-alert-rules",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562.008"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(AlertRulesDeleted)
}

const ALERT_RULES_DELETE: &str = "MICROSOFT.INSIGHTS/ALERTRULES/DELETE";
const METRIC_ALERTS_DELETE: &str = "MICROSOFT.INSIGHTS/METRICALERTS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct AlertRulesDeleted;

impl Logic for AlertRulesDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(
            [ALERT_RULES_DELETE, METRIC_ALERTS_DELETE].contains(&operation.as_str())
                && azure_activity_success(event),
        )
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let alert_rule = py::get(event.fields(), "resourceId")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_ALERT>".to_string());
        Ok(Some(format!("Azure Alert Rule deleted [{alert_rule}]")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let f = event.fields();
        let resource_id = py::get_or(f, "resourceId", &EMPTY);
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let (marker, alert_type) = if operation == METRIC_ALERTS_DELETE {
            ("metricalerts", "metric")
        } else {
            ("alertrules", "classic")
        };
        if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
            if !name.is_empty() {
                context.insert("alert_rule_name".into(), py::s(name));
                context.insert("alert_type".into(), py::s(alert_type));
            }
        }
        if let Some(group) = extract_resource_name_from_id(resource_id, "resourceGroups")? {
            if !group.is_empty() {
                context.insert("resource_group".into(), py::s(group));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // One per matching operation (an ASCII operation name upper-cases to one of them only
        // if it spells it in some casing).
        Some(vec![
            "insights/alertrules/delete".to_string(),
            "insights/metricalerts/delete".to_string(),
        ])
    }
}
