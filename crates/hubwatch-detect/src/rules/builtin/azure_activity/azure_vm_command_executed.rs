//! Port of Panther's `azure_vm_command_executed.py`
//! (`Azure.MonitorActivity.Compute.VMCommandExecuted`).
//!
//! `rule()` is `all([...])` over a list: the upper-cased operation (a non-string raises) must be
//! one of six command-execution operations and `resultType` a success. The title names the
//! technique of the operation and the resource after that operation's segment marker; for an
//! operation outside the table the resource id is not looked at (so it cannot raise).

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
pub const FILENAME: &str = "azure_vm_command_executed.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Compute.VMCommandExecuted",
        display_name: "Azure VM Command Executed",
        enabled: true,
        severity: Severity::Info,
        description: "Commands were run on Azure compute through RunCommand, extensions, gallery applications, AKS, scale sets or the serial console.",
        reference: "https://microsoft.github.io/Azure-Threat-Research-Matrix/Execution/AZT301/AZT301/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0002:T1651"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(VmCommandExecuted)
}

/// `OPERATION_METADATA`: operation, the resource segment marker, the technique name (the
/// order is `AZT301_OPERATIONS`').
const OPERATIONS: [(&str, &str, &str); 6] = [
    (
        "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION",
        "virtualMachines",
        "RunCommand",
    ),
    (
        "MICROSOFT.COMPUTE/VIRTUALMACHINES/EXTENSIONS/WRITE",
        "virtualMachines",
        "Extension",
    ),
    (
        "MICROSOFT.COMPUTE/GALLERIES/APPLICATIONS/VERSIONS/WRITE",
        "applications",
        "Gallery Application",
    ),
    (
        "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/RUNCOMMAND/ACTION",
        "managedClusters",
        "AKS Command",
    ),
    (
        "MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/VIRTUALMACHINES/RUNCOMMAND/ACTION",
        "virtualMachineScaleSets",
        "VMSS RunCommand",
    ),
    (
        "MICROSOFT.SERIALCONSOLE/SERIALPORTS/CONNECT/ACTION",
        "virtualMachines",
        "Serial Console",
    ),
];

fn metadata(operation: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    OPERATIONS.iter().find(|(op, _, _)| *op == operation)
}

#[derive(Debug, Clone, Copy)]
pub struct VmCommandExecuted;

impl Logic for VmCommandExecuted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        let checks = [
            metadata(&operation).is_some(),
            azure_activity_success(event),
        ];
        Ok(checks.iter().all(|c| *c))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let resource_id = py::get_or(f, "resourceId", &EMPTY);
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let (technique, resource_name) = match metadata(&operation) {
            Some((_, marker, technique)) => (
                *technique,
                extract_resource_name_from_id(resource_id, marker)?.unwrap_or("<UNKNOWN_RESOURCE>"),
            ),
            None => ("Command", "<UNKNOWN_RESOURCE>"),
        };
        Ok(Some(format!(
            "Azure VM {technique} Executed on [{resource_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(
            OPERATIONS
                .iter()
                .map(|(op, _, _)| op.to_ascii_lowercase())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": "Microsoft.ContainerService/managedClusters/runCommand/action",
            "resultType": "Success",
            "resourceId": "/s/providers/Microsoft.ContainerService/managedClusters/aks1",
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(VmCommandExecuted.matches(&r), Ok(true));
        assert_eq!(
            VmCommandExecuted.title(&r),
            Ok(Some("Azure VM AKS Command Executed on [aks1]".to_string()))
        );
    }
}
