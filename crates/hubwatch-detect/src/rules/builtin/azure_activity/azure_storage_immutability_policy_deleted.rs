//! Port of Panther's `azure_storage_immutability_policy_deleted.py`
//! (`Azure.MonitorActivity.Storage.ImmutabilityPolicyDeleted`).
//!
//! The operation is upper-cased (raising on a non-string) and compared for equality; success is
//! checked only when it matches. A truthy non-string resource id raises in `title()` and
//! `alert_context()`. The context's `resource_group`, already set by the shared helper, is
//! assigned again in place (same value, same position).

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
pub const FILENAME: &str = "azure_storage_immutability_policy_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.ImmutabilityPolicyDeleted",
        display_name: "Azure Storage Immutability Policy Deleted",
        enabled: true,
        severity: Severity::High,
        description: "The immutability policy of a blob container was deleted, so its data can be altered.",
        reference: "https://www.microsoft.com/en-us/security/blog/2025/08/27/storm-0501s-evolving-techniques-lead-to-cloud-based-ransomware/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562", "TA0005:T1562.001", "TA0040:T1490", "TA0040:T1485"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ImmutabilityPolicyDeleted)
}

const IMMUTABILITY_POLICY_DELETE: &str =
    "MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/CONTAINERS/IMMUTABILITYPOLICIES/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct ImmutabilityPolicyDeleted;

impl Logic for ImmutabilityPolicyDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == IMMUTABILITY_POLICY_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let container_name = extract_resource_name_from_id(resource_id, "containers")?
            .unwrap_or("<UNKNOWN_CONTAINER>");
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_STORAGE_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage immutability policy deleted on container [{container_name}] \
             in storage account [{storage_account}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("container_name", "containers"),
            ("storage_account", "storageAccounts"),
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
        // The operation, upper-cased, must equal the constant: in pure-ASCII text without
        // escapes its raw spelling is the constant in some casing.
        Some(vec![IMMUTABILITY_POLICY_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_names_container_and_account() {
        let v = json!({"operationName":
            "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/delete",
            "resultType": "Success",
            "resourceId": "/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default/containers/c/immutabilityPolicies/default"});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(ImmutabilityPolicyDeleted.matches(&r), Ok(true));
        assert_eq!(
            ImmutabilityPolicyDeleted.title(&r),
            Ok(Some(
                "Azure Storage immutability policy deleted on container [c] in storage account [sa]"
                    .to_string()
            ))
        );
        let ctx = ImmutabilityPolicyDeleted
            .alert_context(&r)
            .unwrap_or_default();
        let keys: Vec<&str> = ctx.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "resource_id",
                "caller_ip",
                "operation_name",
                "result_type",
                "correlation_id",
                "location",
                "tenant_id",
                "storage_account_name",
                "resource_group",
                "container_name",
                "storage_account"
            ]
        );
    }
}
