//! Port of Panther's `azure_role_assignment_privileged_or_elevated.py`
//! (`Azure.MonitorActivity.RoleAssignment.PrivilegedOrElevated`).
//!
//! Two shapes match. Elevate access: `operationName.value`, when truthy, is rendered with
//! `str()` (wrappers included) and upper-cased, and `status.value` must be `Succeeded`. Role
//! assignment: `operationName` is a string (anything else is skipped, not raised on) whose
//! upper-case is the write operation, and the request body (`properties.requestbody`, parsed
//! only when a JSON string) names a known role; a request body or its `properties` that is
//! truthy but not a dict raises, in `rule()` too. `title()` and `severity()` upper-case
//! `operationName.value` (default `<UNKNOWN_OP_VALUE>`), so a non-string value raises there.

use super::helpers::request_body;
use super::helpers::{
    add_role_assignment_fields, azure_activity_alert_context, azure_activity_success,
    get_role_definition_id, match_role_name,
};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_role_assignment_privileged_or_elevated.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.RoleAssignment.PrivilegedOrElevated",
        display_name: "Azure Privileged or Elevated Role Assignment",
        enabled: true,
        severity: Severity::Medium,
        description: "A highly privileged Azure role was assigned, or a Global Administrator elevated their access to all subscriptions.",
        reference: "https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0004:T1098", "TA0003:T1098.003", "TA0005:T1078.004"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(PrivilegedRoleAssignment)
}

const ROLE_ASSIGNMENT_WRITE: &str = "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE";
const ELEVATE_ACCESS_ACTION: &str = "MICROSOFT.AUTHORIZATION/ELEVATEACCESS/ACTION";

#[rustfmt::skip]
const PRIVILEGED_ROLES: &[(&str, &str)] = &[
    ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner"),
    ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"),
    ("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator"),
    ("fb1c8493-542b-48eb-b624-b4c8fea62acd", "Security Admin"),
    ("92b92042-07d9-4307-87f7-36a593fc5850", "Azure File Sync Administrator"),
    ("a8889054-8d42-49c9-bc1c-52486c10e7cd", "Reservations Administrator"),
    ("f58310d9-a9f6-439a-9e8d-f62e7b41a168", "Role Based Access Control Administrator"),
    ("150f5e0c-0603-4f03-8c7f-cf70034c4e90", "Data Purger"),
];

#[rustfmt::skip]
const ELEVATED_ROLES: &[(&str, &str)] = &[
    ("ba92f5b4-2d11-453d-a403-e96b0029c9fe", "Storage Blob Data Contributor"),
    ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Storage Blob Data Owner"),
    ("dffb1e0c-446f-4dde-a09f-99eb5cc68b96", "Azure Arc Kubernetes Admin"),
    ("a001fd3d-188f-4b5d-821b-7da978bf7442", "Cognitive Services OpenAI Contributor"),
    ("00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator"),
    ("8b54135c-b56d-4d72-a534-26097cfdc8d8", "Key Vault Data Access Administrator"),
    ("4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User"),
];

fn is_role_in(roles: &[(&str, &str)], name: &str) -> bool {
    roles.iter().any(|(_, n)| *n == name)
}

/// `extract_role_name(event)`.
fn extract_role_name(event: &Record) -> Result<Option<&'static str>, RuleError> {
    let request_body = request_body(event)?;
    let role_def_id = get_role_definition_id(&request_body)?;
    // ALL_ROLES is `{**PRIVILEGED_ROLES, **ELEVATED_ROLES}` (no id is in both): searching one
    // then the other is searching it in its order.
    Ok(match_role_name(role_def_id, PRIVILEGED_ROLES)
        .or_else(|| match_role_name(role_def_id, ELEVATED_ROLES)))
}

/// `event.deep_get("operationName", "value", default="<UNKNOWN_OP_VALUE>").upper()`.
fn operation_value_upper(event: &Record) -> Result<String, RuleError> {
    let unknown = py::s("<UNKNOWN_OP_VALUE>");
    py::upper(py::deep_get_or(
        event.fields(),
        &["operationName", "value"],
        &unknown,
    ))
}

#[derive(Debug, Clone, Copy)]
pub struct PrivilegedRoleAssignment;

impl Logic for PrivilegedRoleAssignment {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let operation_name_value = py::deep_get_or(f, &["operationName", "value"], &EMPTY);
        if py::truthy(operation_name_value) {
            let upper = crate::record::py_upper(&py::str_of(operation_name_value));
            let status = py::deep_get(f, &["status", "value"]);
            if upper == ELEVATE_ACCESS_ACTION && status.is_some_and(|s| py::eq_str(s, "Succeeded"))
            {
                return Ok(true);
            }
        }
        if let Value::String(operation_name) = py::get_or(f, "operationName", &EMPTY) {
            if crate::record::py_upper(operation_name) == ROLE_ASSIGNMENT_WRITE {
                return Ok(extract_role_name(event)?.is_some() && azure_activity_success(event));
            }
        }
        Ok(false)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        if operation_value_upper(event)? == ELEVATE_ACCESS_ACTION {
            let caller_identity = py::deep_get(f, &["identity", "claims", "name"])
                .map(py::str_of)
                .unwrap_or_else(|| "<UNKNOWN_USER>".to_string());
            return Ok(Some(format!(
                "Azure subscription access elevated by [{caller_identity}]"
            )));
        }
        let role_assignment = py::deep_get(f, &["resourceId"])
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_ASSIGNMENT>".to_string());
        let role_name = extract_role_name(event)?.unwrap_or("<UNKNOWN_ROLE>");
        let mut role_str = "<UNKNOWN_ROLE_TYPE>";
        if is_role_in(PRIVILEGED_ROLES, role_name) {
            role_str = "privileged";
        }
        if is_role_in(ELEVATED_ROLES, role_name) {
            role_str = "elevated";
        }
        Ok(Some(format!(
            "Azure [{role_str}] role [{role_name}] assigned on [{role_assignment}]"
        )))
    }

    fn severity(&self, event: &Record) -> Option<Result<String, RuleError>> {
        let severity = || -> Result<String, RuleError> {
            if operation_value_upper(event)? == ELEVATE_ACCESS_ACTION {
                return Ok("HIGH".into());
            }
            if let Some(role_name) = extract_role_name(event)? {
                if is_role_in(PRIVILEGED_ROLES, role_name) {
                    return Ok("HIGH".into());
                }
                if is_role_in(ELEVATED_ROLES, role_name) {
                    return Ok("MEDIUM".into());
                }
            }
            Ok("DEFAULT".into())
        };
        Some(severity())
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let request_body = request_body(event)?;
        add_role_assignment_fields(&mut context, &request_body)?;
        if let Some(role_name) = extract_role_name(event)? {
            context.insert("role_name".into(), py::s(role_name));
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // Elevation matches only when `operationName.value` is a string whose upper-case is
        // the elevate action (`str()` of any other type cannot equal it); an assignment only
        // when `operationName` is a string whose upper-case is the write operation. Either
        // way the raw text holds the constant in some ASCII casing.
        Some(vec![
            ELEVATE_ACCESS_ACTION.to_ascii_lowercase(),
            ROLE_ASSIGNMENT_WRITE.to_ascii_lowercase(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("object"),
        }
    }

    #[test]
    fn matching_semantics() {
        let owner = "/x/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
        let body = json!({"properties": {"roleDefinitionId": owner}}).to_string();
        let m = record(
            json!({"operationName": "microsoft.authorization/roleassignments/write",
            "resultType": "Success", "properties": {"requestbody": body}}),
        );
        assert_eq!(PrivilegedRoleAssignment.matches(&Record::new(&m)), Ok(true));
        // A non-string operation name is skipped, not raised on.
        let m = record(json!({"operationName": 5}));
        assert_eq!(
            PrivilegedRoleAssignment.matches(&Record::new(&m)),
            Ok(false)
        );
        // A request body that is JSON but not a dict raises.
        let m = record(json!({"operationName": ROLE_ASSIGNMENT_WRITE,
            "properties": {"requestbody": "[1]"}}));
        assert!(PrivilegedRoleAssignment.matches(&Record::new(&m)).is_err());
        let m = record(
            json!({"operationName": {"value": ELEVATE_ACCESS_ACTION.to_lowercase()},
            "status": {"Value": "Succeeded"}}),
        );
        assert_eq!(PrivilegedRoleAssignment.matches(&Record::new(&m)), Ok(true));
    }
}
