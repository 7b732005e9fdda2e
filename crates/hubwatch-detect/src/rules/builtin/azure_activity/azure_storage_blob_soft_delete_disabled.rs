//! Port of Panther's `azure_storage_blob_soft_delete_disabled.py`
//! (`Azure.MonitorActivity.StorageAccount.BlobSoftDeleteDisabled`).
//!
//! `properties.requestbody` is parsed only when it is a JSON string (anything else, or text
//! that is not JSON, gives `{}`); the parsed value is a plain Python object, so its keys are
//! case-sensitive. `rule()` builds its `all([...])` list eagerly, in order: the operation is
//! upper-cased (raising on a non-string); then `.get("properties", {})`,
//! `.get("deleteRetentionPolicy", {})` and `.get("enabled")` each raise `AttributeError` on a
//! non-dict (a parsed list, string, number or `null`) even when the operation differs; then
//! `enabled` must be `False` itself (`is False`: not `0`, not `null`).

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
pub const FILENAME: &str = "azure_storage_blob_soft_delete_disabled.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.BlobSoftDeleteDisabled",
        display_name: "Azure Storage Blob Soft Delete Disabled",
        enabled: true,
        severity: Severity::High,
        description: "A blob service write turned off the soft delete retention policy of a storage account.",
        reference: "https://azure.github.io/azure-storage-java/com/microsoft/azure/storage/DeleteRetentionPolicy.html",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(BlobSoftDeleteDisabled)
}

const BLOB_SERVICES_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/WRITE";

#[derive(Debug, Clone, Copy)]
pub struct BlobSoftDeleteDisabled;

impl Logic for BlobSoftDeleteDisabled {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let requestbody = request_body(event)?;
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let empty = Value::Object(Map::new());
        let properties = py::plain_dict_get_or(&requestbody, "properties", &empty)?;
        let policy = py::plain_dict_get_or(properties, "deleteRetentionPolicy", &empty)?;
        let disabled = matches!(
            py::plain_dict_get_or(policy, "enabled", &Value::Null)?,
            Value::Bool(false)
        );
        let success = azure_activity_success(event);
        Ok(operation == BLOB_SERVICES_WRITE && disabled && success)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage blob soft delete disabled on [{account}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["storageaccounts/blobservices/write".to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(op: Value, body: Value) -> Result<bool, RuleError> {
        let v = json!({"operationName": op, "resultType": "Success",
            "properties": {"requestbody": body}});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        BlobSoftDeleteDisabled.matches(&Record::new(&m))
    }

    #[test]
    fn request_body_semantics() {
        let op = json!("Microsoft.Storage/storageAccounts/blobServices/write");
        let other = json!("Microsoft.Storage/storageAccounts/write");
        let off = json!(r#"{"properties": {"deleteRetentionPolicy": {"enabled": false}}}"#);
        assert_eq!(eval(op.clone(), off.clone()), Ok(true));
        assert_eq!(eval(other.clone(), off), Ok(false));
        // `is False`: 0 and null are not False; keys of the parsed body are case-sensitive.
        for body in [
            r#"{"properties": {"deleteRetentionPolicy": {"enabled": 0}}}"#,
            r#"{"properties": {"deleteRetentionPolicy": {}}}"#,
            r#"{"Properties": {"deleteRetentionPolicy": {"enabled": false}}}"#,
            "not json",
        ] {
            assert_eq!(eval(op.clone(), json!(body)), Ok(false), "{body}");
        }
        // An object (not a JSON string) is not parsed: {}.
        let obj = json!({"properties": {"deleteRetentionPolicy": {"enabled": false}}});
        assert_eq!(eval(op.clone(), obj), Ok(false));
        // `.get` on a parsed non-dict raises, whatever the operation.
        for body in ["[1]", "5", "null", r#"{"properties": null}"#] {
            assert!(eval(other.clone(), json!(body)).is_err(), "{body}");
        }
        assert!(eval(json!(null), json!("{}")).is_err());
    }
}
