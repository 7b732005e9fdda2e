//! Port of Panther's `azure_recovery_services_container_deleted.py`
//! (`Azure.MonitorActivity.RecoveryServices.ProtectionContainerDeleted`).
//!
//! The operation is upper-cased (a non-string raises in `rule()`) and compared for equality;
//! names are the segments after `vaults`, `protectionContainers`, `backupFabrics` and
//! `resourceGroups` in the resource id (kept when empty in the title). A truthy non-string
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
pub const FILENAME: &str = "azure_recovery_services_container_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.RecoveryServices.ProtectionContainerDeleted",
        display_name: "Azure Recovery Services Protection Container Deleted",
        enabled: true,
        severity: Severity::High,
        description: "A Recovery Services protection container, and with it its backups, was deleted.",
        reference: "https://www.microsoft.com/en-us/security/blog/2025/08/27/storm-0501s-evolving-techniques-lead-to-cloud-based-ransomware/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1490", "TA0040:T1485", "TA0005:T1562"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ProtectionContainerDeleted)
}

const PROTECTION_CONTAINER_DELETE: &str =
    "MICROSOFT.RECOVERYSERVICES/VAULTS/BACKUPFABRICS/PROTECTIONCONTAINERS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct ProtectionContainerDeleted;

impl Logic for ProtectionContainerDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == PROTECTION_CONTAINER_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let vault_name =
            extract_resource_name_from_id(resource_id, "vaults")?.unwrap_or("<UNKNOWN_VAULT>");
        let container_name = extract_resource_name_from_id(resource_id, "protectionContainers")?
            .unwrap_or("<UNKNOWN_CONTAINER>");
        Ok(Some(format!(
            "Azure Recovery Services protection container [{container_name}] \
             deleted from vault [{vault_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("vault_name", "vaults"),
            ("protection_container", "protectionContainers"),
            ("backup_fabric", "backupFabrics"),
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
        Some(vec![PROTECTION_CONTAINER_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": PROTECTION_CONTAINER_DELETE,
            "resultType": "Succeeded",
            "resourceId": "/s/vaults/v1/backupFabrics/Azure/protectionContainers/c1",
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(ProtectionContainerDeleted.matches(&r), Ok(true));
        assert_eq!(
            ProtectionContainerDeleted.title(&r),
            Ok(Some(
                "Azure Recovery Services protection container [c1] deleted from vault [v1]"
                    .to_string()
            ))
        );
    }
}
