//! Port of Panther's `azure_storage_container_soft_delete_disabled.py`
//! (`Azure.MonitorActivity.StorageAccount.ContainerSoftDeleteDisabled`).
//!
//! `properties.requestbody` is parsed only when it is a string (a nested object reached through
//! the event is not a `dict`, so the helper gives `{}`); the parsed value is a plain Python
//! object. `all()` gets a list, so every check runs in order: the operation's `.upper()`, then
//! `.get("properties", {}).get("containerDeleteRetentionPolicy", {}).get("enabled")`, which
//! raises when a level is present but not a dict (a JSON `null` included), then the result
//! type. Only a JSON `false` is `False`.

use super::helpers::request_body;
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
pub const FILENAME: &str = "azure_storage_container_soft_delete_disabled.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.ContainerSoftDeleteDisabled",
        display_name: "Azure Storage Container Soft Delete Disabled",
        enabled: true,
        severity: Severity::High,
        description: "Container soft delete was turned off on a storage account, so deleted containers cannot be restored.",
        reference: "https://learn.microsoft.com/en-us/azure/storage/blobs/soft-delete-container-enable?tabs=azure-portal",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ContainerSoftDeleteDisabled)
}

const BLOB_SERVICES_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/WRITE";

#[derive(Debug, Clone, Copy)]
pub struct ContainerSoftDeleteDisabled;

impl Logic for ContainerSoftDeleteDisabled {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let requestbody = request_body(event)?;
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let empty = Value::Object(Map::new());
        let properties = py::plain_dict_get_or(&requestbody, "properties", &empty)?;
        let policy = py::plain_dict_get_or(properties, "containerDeleteRetentionPolicy", &empty)?;
        let enabled = py::plain_dict_get(policy, "enabled")?;
        let disabled = matches!(enabled, Some(Value::Bool(false)));
        let success = azure_activity_success(event);
        Ok(operation == BLOB_SERVICES_WRITE && disabled && success)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage container soft delete disabled on [{storage_account}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal the constant: in pure-ASCII text without
        // escapes its raw spelling is the constant in some casing.
        Some(vec![BLOB_SERVICES_WRITE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(body: Value) -> Result<bool, RuleError> {
        let v = json!({"operationName": "MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/WRITE",
            "resultType": "Success", "properties": {"requestbody": body}});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        ContainerSoftDeleteDisabled.matches(&Record::new(&m))
    }

    #[test]
    fn request_body_semantics() {
        let body = r#"{"properties": {"containerDeleteRetentionPolicy": {"enabled": false}}}"#;
        assert_eq!(eval(json!(body)), Ok(true));
        assert_eq!(eval(json!(r#"{"properties": {}}"#)), Ok(false));
        assert!(eval(json!(
            r#"{"properties": {"containerDeleteRetentionPolicy": 1}}"#
        ))
        .is_err());
        assert!(eval(json!("null")).is_err());
        assert!(eval(json!("\"s\"")).is_err());
    }
}
