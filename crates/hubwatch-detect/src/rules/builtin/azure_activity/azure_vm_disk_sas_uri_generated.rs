//! Port of Panther's `azure_vm_disk_sas_uri_generated.py`
//! (`Azure.MonitorActivity.Compute.DiskSASURIGenerated`).
//!
//! The operation is upper-cased (raising on a non-string) and must be the disk
//! `beginGetAccess` action, with a successful `resultType`. The title walks `resourceId`
//! (missing: `<UNKNOWN_RESOURCE>`), raising on a truthy non-string, as the alert context does.

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
pub const FILENAME: &str = "azure_vm_disk_sas_uri_generated.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Compute.DiskSASURIGenerated",
        display_name: "Azure VM Disk SAS URI Generated",
        enabled: true,
        severity: Severity::High,
        description: "A SAS download URI was requested for a managed disk, allowing its contents to be copied out.",
        reference: "https://microsoft.github.io/Azure-Threat-Research-Matrix/Impact/AZT701/AZT701-1",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0010:T1567.002", "TA0009:T1530"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(DiskSasUriGenerated)
}

const DISK_SAS_OPERATIONS: [&str; 1] = ["MICROSOFT.COMPUTE/DISKS/BEGINGETACCESS/ACTION"];

#[derive(Debug, Clone, Copy)]
pub struct DiskSasUriGenerated;

impl Logic for DiskSasUriGenerated {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(DISK_SAS_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let disk_name =
            extract_resource_name_from_id(resource_id, "disks")?.unwrap_or("<UNKNOWN_DISK>");
        Ok(Some(format!(
            "Azure VM Disk SAS URI Generated: [{disk_name}]"
        )))
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
        Some(vec!["disks/begingetaccess/action".to_string()])
    }
}
