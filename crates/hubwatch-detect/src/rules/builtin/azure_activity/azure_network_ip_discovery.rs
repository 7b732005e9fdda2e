//! Port of Panther's `azure_network_ip_discovery.py` (`Azure.MonitorActivity.Network.IPDiscovery`).
//!
//! The operation is upper-cased (raising on a non-string) before `all()` checks it and the
//! result type. The title renders the resource id with `str()` (its default applies only when
//! the key is missing) before it upper-cases the operation.

use super::helpers::{azure_activity_alert_context, azure_activity_success};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_network_ip_discovery.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Network.IPDiscovery",
        display_name: "Azure Excessive IP and VM Discovery",
        enabled: true,
        severity: Severity::Medium,
        description: "Many public IP address or virtual machine reads, a sign of reconnaissance.",
        reference:
            "https://microsoft.github.io/Azure-Threat-Research-Matrix/Reconnaissance/AZT101/AZT102/",
        dedup_period_minutes: None,
        threshold: Some(50),
        create_alert: true,
        summary_attributes: &["resourceId", "location", "callerIpAddress", "correlationId"],
        mitre: &["TA0007:T1046", "TA0007:T1018", "TA0043:T1595.002"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(NetworkIpDiscovery)
}

const PUBLIC_IP_READ: &str = "MICROSOFT.NETWORK/PUBLICIPADDRESSES/READ";
const VM_READ: &str = "MICROSOFT.COMPUTE/VIRTUALMACHINES/READ";

#[derive(Debug, Clone, Copy)]
pub struct NetworkIpDiscovery;

impl Logic for NetworkIpDiscovery {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        let known = [PUBLIC_IP_READ, VM_READ].contains(&operation.as_str());
        let success = azure_activity_success(event);
        Ok(known && success)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let resource_id = py::get(f, "resourceId")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_RESOURCE>".to_string());
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let resource_type = match operation.as_str() {
            PUBLIC_IP_READ => "Public IP Address",
            VM_READ => "Virtual Machine",
            _ => "Resource",
        };
        Ok(Some(format!(
            "Azure Excessive {resource_type} Read on [{resource_id}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal one of the constants: in pure-ASCII text
        // without escapes its raw spelling is that constant in some casing.
        Some(vec![
            PUBLIC_IP_READ.to_ascii_lowercase(),
            VM_READ.to_ascii_lowercase(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_by_operation() {
        let v = json!({"operationName": "microsoft.compute/virtualMachines/read",
            "resultType": "Success", "resourceId": ["r"]});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(NetworkIpDiscovery.matches(&r), Ok(true));
        assert_eq!(
            NetworkIpDiscovery.title(&r),
            Ok(Some(
                "Azure Excessive Virtual Machine Read on [ImmutableList(('r',))]".to_string()
            ))
        );
    }
}
