//! Port of Panther's `azure_resource_group_deleted.py`
//! (`Azure.MonitorActivity.ResourceGroup.Deleted`).
//!
//! The operation is upper-cased (raising on a non-string) and compared for equality; success is
//! checked only when it matches. A truthy non-string resource id raises in `title()` and
//! `alert_context()`; a present empty group segment is rendered empty in the title.

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
pub const FILENAME: &str = "azure_resource_group_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.ResourceGroup.Deleted",
        display_name: "Azure Resource Group Deleted",
        enabled: true,
        severity: Severity::Medium,
        description: "A resource group was deleted together with every resource it held.",
        reference: "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/delete-resource-group?tabs=azure-powershell",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ResourceGroupDeleted)
}

const RESOURCE_GROUP_DELETE: &str = "MICROSOFT.RESOURCES/SUBSCRIPTIONS/RESOURCEGROUPS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct ResourceGroupDeleted;

impl Logic for ResourceGroupDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == RESOURCE_GROUP_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let resource_group = extract_resource_name_from_id(resource_id, "resourceGroups")?
            .unwrap_or("<UNKNOWN_RESOURCE_GROUP>");
        Ok(Some(format!(
            "Azure Resource Group [{resource_group}] deleted"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, "resourceGroups")? {
            if !name.is_empty() {
                context.insert("resource_group_name".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal the constant: in pure-ASCII text without
        // escapes its raw spelling is the constant in some casing.
        Some(vec![RESOURCE_GROUP_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_uses_group_segment() {
        let v = json!({"operationName": "MICROSOFT.RESOURCES/SUBSCRIPTIONS/RESOURCEGROUPS/DELETE",
            "resultType": "Succeeded", "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG"});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(ResourceGroupDeleted.matches(&r), Ok(true));
        assert_eq!(
            ResourceGroupDeleted.title(&r),
            Ok(Some("Azure Resource Group [RG] deleted".to_string()))
        );
    }
}
