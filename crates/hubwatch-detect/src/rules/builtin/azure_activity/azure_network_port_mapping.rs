//! Port of Panther's `azure_network_port_mapping.py` (`Azure.MonitorActivity.Network.PortMapping`).
//!
//! The operation is upper-cased (raising on a non-string) before `all()` checks it and the
//! result type. The title renders the resource id with `str()`; its default applies only when
//! the key is missing.

use super::helpers::{azure_activity_alert_context, azure_activity_success};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_network_port_mapping.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Network.PortMapping",
        display_name: "Azure Excessive Network Security Group Read",
        enabled: true,
        severity: Severity::Medium,
        description: "Many network security group reads, a sign of port and rule mapping.",
        reference:
            "https://microsoft.github.io/Azure-Threat-Research-Matrix/Reconnaissance/AZT101/AZT101/",
        dedup_period_minutes: None,
        threshold: Some(50),
        create_alert: true,
        summary_attributes: &["resourceId", "location", "callerIpAddress", "correlationId"],
        mitre: &["TA0007:T1046", "TA0043:T1595.002"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(NetworkPortMapping)
}

const NETWORK_READ: &str = "MICROSOFT.NETWORK/NETWORKSECURITYGROUP/READ";

#[derive(Debug, Clone, Copy)]
pub struct NetworkPortMapping;

impl Logic for NetworkPortMapping {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        let success = azure_activity_success(event);
        Ok(operation == NETWORK_READ && success)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get(event.fields(), "resourceId")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_RESOURCE>".to_string());
        Ok(Some(format!(
            "Azure Excessive Network Read on [{resource_id}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal the constant: in pure-ASCII text without
        // escapes its raw spelling is the constant in some casing.
        Some(vec![NETWORK_READ.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching_semantics() {
        let v = json!({"OperationName": "Microsoft.Network/networkSecurityGroup/read",
            "resultType": "Succeeded"});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(NetworkPortMapping.matches(&r), Ok(true));
        assert_eq!(
            NetworkPortMapping.title(&r),
            Ok(Some(
                "Azure Excessive Network Read on [<UNKNOWN_RESOURCE>]".to_string()
            ))
        );
    }
}
