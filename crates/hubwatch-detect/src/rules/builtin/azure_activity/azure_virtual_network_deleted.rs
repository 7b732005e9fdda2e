//! Port of Panther's `azure_virtual_network_deleted.py` (`Azure.MonitorActivity.Network.VNetDeleted`).
//!
//! The operation is upper-cased (raising on a non-string) and compared for equality, with a
//! successful `resultType`. A truthy non-string `resourceId` raises in the title and in the
//! alert context.

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
pub const FILENAME: &str = "azure_virtual_network_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Network.VNetDeleted",
        display_name: "Azure Virtual Network Deleted",
        enabled: true,
        severity: Severity::High,
        description:
            "An Azure virtual network was deleted, cutting off the resources attached to it.",
        reference: "https://learn.microsoft.com/en-us/azure/virtual-network/manage-virtual-network",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1499"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(VirtualNetworkDeleted)
}

const VNET_DELETE: &str = "MICROSOFT.NETWORK/VIRTUALNETWORKS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct VirtualNetworkDeleted;

impl Logic for VirtualNetworkDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == VNET_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let vnet = extract_resource_name_from_id(resource_id, "virtualNetworks")?
            .unwrap_or("<UNKNOWN_VNET>");
        Ok(Some(format!("Azure Virtual Network [{vnet}] deleted")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("vnet_name", "virtualNetworks"),
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
        Some(vec!["network/virtualnetworks/delete".to_string()])
    }
}
