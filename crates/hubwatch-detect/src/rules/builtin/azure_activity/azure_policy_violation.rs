//! Port of Panther's `azure_policy_violation.py` (`Azure.MonitorActivity.Policy.Violation`).
//!
//! `rule()` is `all([...])` over a list: the upper-casing of a non-string `operationName`
//! raises, `category` and `level` must equal their strings exactly; no success check. The
//! title parses `properties.policies` only when it is a JSON string (`"[]"` when missing or
//! null; anything else gives `{}`), and reads the first element's display name with a plain,
//! case-sensitive `.get` that raises on a non-dict element; the value renders with `str()` of
//! the plain object. The context adds four `properties` fields, `None` when missing or null.

use super::helpers::{azure_activity_alert_context, azure_parse_json_string};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_policy_violation.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Policy.Violation",
        display_name: "Azure Policy Violation Detected",
        enabled: true,
        severity: Severity::Info,
        description: "Azure Policy audited a resource as non-compliant with an assigned policy.",
        reference: "https://learn.microsoft.com/en-us/azure/governance/policy/overview",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["properties.entity", "callerIpAddress", "correlationId"],
        mitre: &[],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(PolicyViolation)
}

const POLICY_AUDIT_OPERATIONS: &[&str] = &[
    "MICROSOFT.AUTHORIZATION/POLICIES/AUDIT/ACTION",
    "MICROSOFT.AUTHORIZATION/POLICIES/AUDITIFNOTEXISTS/ACTION",
];
const POLICY_CATEGORY: &str = "Policy";
const WARNING_LEVEL: &str = "Warning";

#[derive(Debug, Clone, Copy)]
pub struct PolicyViolation;

impl Logic for PolicyViolation {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let conditions = [
            POLICY_AUDIT_OPERATIONS.contains(&operation.as_str()),
            py::eq_str(py::get_or(f, "category", &EMPTY), POLICY_CATEGORY),
            py::eq_str(py::get_or(f, "level", &EMPTY), WARNING_LEVEL),
        ];
        Ok(conditions.iter().all(|c| *c))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let entity = py::deep_get(f, &["properties", "entity"])
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_RESOURCE>".to_string());
        let no_policies = py::s("[]");
        let policies_json = py::deep_get_or(f, &["properties", "policies"], &no_policies);
        let policies = azure_parse_json_string(Some(policies_json))?;
        let policy_name = match &policies {
            Value::Array(items) if !items.is_empty() => {
                let unknown = py::s("<UNKNOWN_POLICY>");
                let name =
                    py::plain_dict_get_or(&items[0], "policyDefinitionDisplayName", &unknown)?;
                py::plain_str_of(name)
            }
            _ => "<UNKNOWN_POLICY>".to_string(),
        };
        Ok(Some(format!(
            "Azure Policy Violation: [{policy_name}] on [{entity}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let f = event.fields();
        let mut context = azure_activity_alert_context(event)?;
        for (key, field) in [
            ("entity", "entity"),
            ("message", "message"),
            ("is_compliance_check", "isComplianceCheck"),
            ("resource_location", "resourceLocation"),
        ] {
            let v = py::deep_get(f, &["properties", field]).cloned();
            context.insert(key.into(), v.unwrap_or(Value::Null));
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is one of the constants in some ASCII casing; both hold
        // MICROSOFT.AUTHORIZATION/POLICIES/AUDIT.
        Some(vec!["microsoft.authorization/policies/audit".to_string()])
    }
}
