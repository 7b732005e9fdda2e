//! Port of Panther's `azure_disk_deleted.py` (`Azure.MonitorActivity.Compute.DiskDeleted`).
//!
//! The operation is upper-cased (a non-string raises in `rule()`) and compared for equality;
//! the disk is the segment after `disks` in the resource id, kept even when empty. A truthy
//! non-string resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_disk_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Compute.DiskDeleted",
        display_name: "Azure Disk Deleted",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure managed disk was deleted.",
        reference: "https://learn.microsoft.com/en-us/rest/api/compute/disks/delete?view=rest-compute-2025-04-01#:~:text=Deletes%20a%20disk.,version=2025-01-02",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(DiskDeleted)
}

const DISK_DELETE: &str = "MICROSOFT.COMPUTE/DISKS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct DiskDeleted;

impl Logic for DiskDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == DISK_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let disk = extract_resource_name_from_id(resource_id, "disks")?.unwrap_or("<UNKNOWN_DISK>");
        Ok(Some(format!("Azure disk deleted [{disk}]")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [("disk_name", "disks"), ("resource_group", "resourceGroups")] {
            if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
                if !name.is_empty() {
                    context.insert(key.into(), py::s(name));
                }
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec![DISK_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": "microsoft.compute/disks/delete",
            "resultType": "Succeeded",
            "resourceId": "/S/RG/PROVIDERS/MICROSOFT.COMPUTE/DISKS/D1",
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(DiskDeleted.matches(&r), Ok(true));
        assert_eq!(
            DiskDeleted.title(&r),
            Ok(Some("Azure disk deleted [D1]".to_string()))
        );
    }
}
