//! Port of Panther's `azure_vm_deleted.py` (`Azure.MonitorActivity.VirtualMachine.Deleted`).
//!
//! The operation is upper-cased (a non-string raises in `rule()`) and compared for equality;
//! the VM is the segment after `virtualMachines` in the resource id, kept even when empty. A
//! truthy non-string resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_vm_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.VirtualMachine.Deleted",
        display_name: "Azure Virtual Machine Deleted",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure virtual machine was deleted.",
        reference: "https://learn.microsoft.com/en-us/rest/api/compute/virtual-machines/delete?view=rest-compute-2025-04-01&tabs=HTTP",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1489"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(VmDeleted)
}

const VIRTUAL_MACHINE_DELETE: &str = "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct VmDeleted;

impl Logic for VmDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == VIRTUAL_MACHINE_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let vmname = extract_resource_name_from_id(resource_id, "virtualMachines")?
            .unwrap_or("<UNKNOWN_VM>");
        Ok(Some(format!("Azure Virtual Machine [{vmname}] deleted")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, "resourceGroups")? {
            if !name.is_empty() {
                context.insert("resource_group".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec![VIRTUAL_MACHINE_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": "Microsoft.Compute/virtualMachines/delete",
            "resultType": "Succeeded",
            "resourceId": "/s/RESOURCEGROUPS/rg/providers/Microsoft.Compute/VIRTUALMACHINES/vm1",
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(VmDeleted.matches(&r), Ok(true));
        assert_eq!(
            VmDeleted.title(&r),
            Ok(Some("Azure Virtual Machine [vm1] deleted".to_string()))
        );
        let ctx = VmDeleted.alert_context(&r).unwrap_or_default();
        assert_eq!(ctx.get("resource_group"), Some(&json!("rg")));
    }
}
