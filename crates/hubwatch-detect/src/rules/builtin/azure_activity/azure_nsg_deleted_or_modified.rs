//! Port of Panther's `azure_nsg_deleted_or_modified.py`
//! (`Azure.MonitorActivity.Network.NSGModifiedOrDeleted`).
//!
//! The operation is upper-cased (a non-string raises in `rule()` and `title()`) and must be one
//! of six NSG operations; the title picks its words by substring tests on the upper-cased
//! operation, in the Python's order (`DELETE` before `WRITE` before `JOIN`).

use super::helpers::{azure_activity_alert_context, azure_activity_success};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_nsg_deleted_or_modified.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Network.NSGModifiedOrDeleted",
        display_name: "Azure Network Security Configuration Modified or Deleted",
        enabled: true,
        severity: Severity::Medium,
        description: "A network security group, one of its rules, its diagnostic settings or its attachment was changed or deleted.",
        reference: "https://attack.mitre.org/techniques/T1562/007/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562.007", "TA0040:T1485"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(NsgDeletedOrModified)
}

const NSG_OPERATIONS: [&str; 6] = [
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WRITE",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/DELETE",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/DELETE",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/JOIN/ACTION",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE",
];

#[derive(Debug, Clone, Copy)]
pub struct NsgDeletedOrModified;

impl Logic for NsgDeletedOrModified {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(NSG_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        let action = if operation.contains("DELETE") {
            "deleted"
        } else if operation.contains("WRITE") {
            "modified"
        } else if operation.contains("JOIN") {
            "joined"
        } else {
            "configuration changed for"
        };
        let resource_type = if operation.contains("SECURITYRULES") {
            "Network Security Rule"
        } else if operation.contains("DIAGNOSTICSETTINGS") {
            "NSG Diagnostic Settings"
        } else {
            "Network Security Group"
        };
        Ok(Some(format!("Azure {resource_type} {action}")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // Each operation in full: their common prefix is in every NSG's resource id too, which
        // would send every record about an NSG to the rules.
        Some(
            NSG_OPERATIONS
                .iter()
                .map(|op| op.to_ascii_lowercase())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn title_of(op: &str) -> Option<String> {
        let Value::Object(m) = json!({"operationName": op, "resultType": "Success"}) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(NsgDeletedOrModified.matches(&r), Ok(true));
        NsgDeletedOrModified.title(&r).ok().flatten()
    }

    #[test]
    fn titles() {
        let t = |op: &str| title_of(&format!("Microsoft.Network/networkSecurityGroups/{op}"));
        assert_eq!(
            t("write").as_deref(),
            Some("Azure Network Security Group modified")
        );
        assert_eq!(
            t("securityRules/delete").as_deref(),
            Some("Azure Network Security Rule deleted")
        );
        assert_eq!(
            t("join/action").as_deref(),
            Some("Azure Network Security Group joined")
        );
        assert_eq!(
            t("providers/Microsoft.Insights/diagnosticSettings/write").as_deref(),
            Some("Azure NSG Diagnostic Settings modified")
        );
    }
}
