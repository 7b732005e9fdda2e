//! Port of Panther's `azure_resource_lock_deleted.py`
//! (`Azure.MonitorActivity.Authorization.ResourceLockDeleted`).
//!
//! The operation is upper-cased (raising on a non-string) and compared for equality, with a
//! successful `resultType`. The alert context ends with Python's `in` on `resourceId`
//! (case-sensitive substrings): a falsy non-string id that got past the helpers (`null`, `0`,
//! `false`) raises `TypeError` there, an empty list or object is simply not a match.

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
pub const FILENAME: &str = "azure_resource_lock_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Authorization.ResourceLockDeleted",
        display_name: "Azure Resource Lock Deleted",
        enabled: true,
        severity: Severity::High,
        description: "A management lock protecting Azure resources from deletion was removed.",
        reference: "https://www.microsoft.com/en-us/security/blog/2025/08/27/storm-0501s-evolving-techniques-lead-to-cloud-based-ransomware/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562", "TA0005:T1562.001", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ResourceLockDeleted)
}

const LOCK_DELETE: &str = "MICROSOFT.AUTHORIZATION/LOCKS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct ResourceLockDeleted;

impl Logic for ResourceLockDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == LOCK_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let lock_name =
            extract_resource_name_from_id(resource_id, "locks")?.unwrap_or("<UNKNOWN_LOCK>");
        Ok(Some(format!("Azure resource lock [{lock_name}] deleted")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [("lock_name", "locks"), ("resource_group", "resourceGroups")] {
            if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
                if !name.is_empty() {
                    context.insert(key.into(), py::s(name));
                }
            }
        }
        let scope = if py::str_contains(resource_id, "/subscriptions/")?
            && !py::str_contains(resource_id, "/resourceGroups/")?
        {
            Some("subscription")
        } else if py::str_contains(resource_id, "/resourceGroups/")? {
            Some("resource_group_or_resource")
        } else {
            None
        };
        if let Some(scope) = scope {
            context.insert("lock_scope".into(), py::s(scope));
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["authorization/locks/delete".to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(resource_id: Value) -> Result<Map<String, Value>, RuleError> {
        let v = json!({"operationName": LOCK_DELETE, "resultType": "Success",
            "resourceId": resource_id});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        ResourceLockDeleted.alert_context(&Record::new(&m))
    }

    #[test]
    fn lock_scope() {
        let scope = |id: &str| {
            context(json!(id))
                .ok()
                .and_then(|c| c.get("lock_scope").cloned())
        };
        let sub = "/subscriptions/S/providers/Microsoft.Authorization/locks/L";
        assert_eq!(scope(sub), Some(json!("subscription")));
        let rg = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Authorization/locks/L";
        assert_eq!(scope(rg), Some(json!("resource_group_or_resource")));
        // Case-sensitive substrings.
        assert_eq!(scope(&rg.to_uppercase()), None);
        // A falsy non-string id reaches `in`: TypeError for None, fine for an empty list.
        assert_eq!(
            context(Value::Null).err().map(|e| e.0),
            Some("TypeError(\"argument of type 'NoneType' is not iterable\")".to_string())
        );
        assert!(context(json!([])).is_ok());
    }
}
