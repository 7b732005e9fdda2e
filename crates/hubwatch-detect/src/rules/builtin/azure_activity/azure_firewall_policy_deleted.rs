//! Port of Panther's `azure_firewall_policy_deleted.py`
//! (`Azure.MonitorActivity.Network.FirewallPolicyDeleted`).
//!
//! The operation is upper-cased (raising on a non-string) and compared for equality; success is
//! checked only when it matches. The title's resource id defaults to `<UNKNOWN_RESOURCE>` only
//! when missing; a present empty segment after `firewallPolicies` is rendered empty, not as the
//! default. A truthy non-string resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_firewall_policy_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Network.FirewallPolicyDeleted",
        display_name: "Azure Firewall Policy Deleted",
        enabled: true,
        severity: Severity::High,
        description: "An Azure Firewall policy was deleted, removing its network filtering.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/defense_evasion_azure_firewall_policy_deletion.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId", "location"],
        mitre: &["TA0005:T1562.004"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(FirewallPolicyDeleted)
}

const FIREWALL_POLICY_DELETE_OPERATION: &str = "MICROSOFT.NETWORK/FIREWALLPOLICIES/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct FirewallPolicyDeleted;

impl Logic for FirewallPolicyDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == FIREWALL_POLICY_DELETE_OPERATION && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let unknown = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &unknown);
        let policy_name = extract_resource_name_from_id(resource_id, "firewallPolicies")?
            .unwrap_or("<UNKNOWN_POLICY>");
        Ok(Some(format!(
            "Azure Firewall Policy Deleted: [{policy_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("firewall_policy_name", "firewallPolicies"),
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
        Some(vec![FIREWALL_POLICY_DELETE_OPERATION.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        m
    }

    #[test]
    fn matching_and_title() {
        let op = "Microsoft.Network/firewallPolicies/delete";
        let m = record(json!({"operationName": op, "resultType": "Succeeded",
            "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/"}));
        let r = Record::new(&m);
        assert_eq!(FirewallPolicyDeleted.matches(&r), Ok(true));
        // A present, empty name is rendered as found, not as the default.
        assert_eq!(
            FirewallPolicyDeleted.title(&r),
            Ok(Some("Azure Firewall Policy Deleted: []".to_string()))
        );
        let m = record(json!({"operationName": op, "resultType": "Success", "resourceId": 3}));
        let r = Record::new(&m);
        assert!(FirewallPolicyDeleted.title(&r).is_err());
        let m = record(json!({"operationName": [op], "resultType": "Success"}));
        assert!(FirewallPolicyDeleted.matches(&Record::new(&m)).is_err());
    }
}
