//! Port of Panther's `azure_vm_snapshot_deleted.py` (`Azure.MonitorActivity.Compute.SnapshotDeleted`).
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
pub const FILENAME: &str = "azure_vm_snapshot_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Compute.SnapshotDeleted",
        display_name: "Azure VM Snapshot Deleted",
        enabled: true,
        severity: Severity::Low,
        description: "A virtual machine disk snapshot was deleted, removing a recovery point.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/impact_azure_compute_vm_snapshot_deletion.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(VmSnapshotDeleted)
}

const SNAPSHOT_DELETE: &str = "MICROSOFT.COMPUTE/SNAPSHOTS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct VmSnapshotDeleted;

impl Logic for VmSnapshotDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == SNAPSHOT_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let snapshot_name = extract_resource_name_from_id(resource_id, "snapshots")?
            .unwrap_or("<UNKNOWN_SNAPSHOT>");
        Ok(Some(format!("Azure VM Snapshot [{snapshot_name}] deleted")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("snapshot_name", "snapshots"),
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
        Some(vec![SNAPSHOT_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_names_snapshot() {
        let v = json!({"operationName": "Microsoft.Compute/snapshots/delete",
            "resultType": "Succeeded", "resourceId": "/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/snap"});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(VmSnapshotDeleted.matches(&r), Ok(true));
        assert_eq!(
            VmSnapshotDeleted.title(&r),
            Ok(Some("Azure VM Snapshot [snap] deleted".to_string()))
        );
    }
}
