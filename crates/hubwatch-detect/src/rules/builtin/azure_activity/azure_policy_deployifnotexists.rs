//! Port of Panther's `azure_policy_deployifnotexists.py`
//! (`Azure.MonitorActivity.Policy.DeployIfNotExists`).
//!
//! The operation is upper-cased (raising on a non-string) and must be in the one-element list;
//! success is checked only when it is. The title's resource id defaults to `<UNKNOWN_RESOURCE>`
//! only when missing; a truthy non-string resource id raises in `title()` and
//! `alert_context()`.

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
pub const FILENAME: &str = "azure_policy_deployifnotexists.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Policy.DeployIfNotExists",
        display_name: "Azure Policy DeployIfNotExists Action Triggered",
        enabled: true,
        severity: Severity::Medium,
        description:
            "A DeployIfNotExists policy deployed resources, which can be abused for persistence.",
        reference:
            "https://microsoft.github.io/Azure-Threat-Research-Matrix/Persistence/AZT508/AZT508",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0003:T1078.004", "TA0005:T1564"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(PolicyDeployIfNotExists)
}

const POLICY_OPERATIONS: &[&str] = &["MICROSOFT.AUTHORIZATION/POLICIES/DEPLOYIFNOTEXISTS/ACTION"];

#[derive(Debug, Clone, Copy)]
pub struct PolicyDeployIfNotExists;

impl Logic for PolicyDeployIfNotExists {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(POLICY_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let unknown = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &unknown);
        let policy_name = extract_resource_name_from_id(resource_id, "policyDefinitions")?
            .unwrap_or("<UNKNOWN_POLICY>");
        Ok(Some(format!(
            "Azure Policy DeployIfNotExists Triggered: [{policy_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("policy_name", "policyDefinitions"),
            ("policy_assignment", "policyAssignments"),
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
        // The operation, upper-cased, must equal a listed constant: in pure-ASCII text without
        // escapes its raw spelling is that constant in some casing.
        Some(
            POLICY_OPERATIONS
                .iter()
                .map(|op| op.to_ascii_lowercase())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_and_context() {
        let v = json!({"operationName": "Microsoft.Authorization/policies/deployIfNotExists/action",
            "resultType": "Success",
            "resourceId": "/s/providers/Microsoft.Authorization/POLICYDEFINITIONS/p/policyAssignments/a"});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(PolicyDeployIfNotExists.matches(&r), Ok(true));
        assert_eq!(
            PolicyDeployIfNotExists.title(&r),
            Ok(Some(
                "Azure Policy DeployIfNotExists Triggered: [p]".to_string()
            ))
        );
        let ctx = PolicyDeployIfNotExists
            .alert_context(&r)
            .unwrap_or_default();
        assert_eq!(ctx.get("policy_assignment"), Some(&json!("a")));
    }
}
