//! Port of Panther's `azure_storage_blob_cpk_encryption_detected.py`
//! (`Azure.MonitorActivity.Storage.Blob.CPKEncryptionDetected`).
//!
//! `rule()` short-circuits as Python's `and`: the upper-cased `category` (a non-string raises)
//! must be `STORAGEREAD`, then `statusCode == 409` (any JSON number equal to 409, `409.0`
//! included; not a string nor `true`), then the upper-cased `statusText` (raising only once the
//! checks before it passed) must be `BLOBUSESCUSTOMERSPECIFIEDENCRYPTION`, and the response
//! type must not be exactly `Success`.

use super::helpers::{
    azure_activity_alert_context, azure_resource_logs_failure, extract_resource_name_from_id,
};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_storage_blob_cpk_encryption_detected.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.Blob.CPKEncryptionDetected",
        display_name: "Azure Storage Blob CPK Encryption Detected",
        enabled: true,
        severity: Severity::High,
        description: "A blob read failed because the blob is encrypted with a customer-provided key the reader lacks.",
        reference: "https://learn.microsoft.com/en-us/dotnet/api/azure.storage.blobs.models.bloberrorcode.blobusescustomerspecifiedencryption?view=azure-dotnet",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["callerIpAddress", "resourceId", "p_any_usernames"],
        mitre: &["TA0040:T1486", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(BlobCpkEncryptionDetected)
}

const STORAGE_READ_CATEGORY: &str = "STORAGEREAD";
const CPK_ERROR_STATUS: &str = "BLOBUSESCUSTOMERSPECIFIEDENCRYPTION";

/// Python's `v == 409`: ints and floats compare by value; bools are not JSON numbers here.
fn is_409(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Number(n)) if n.as_f64() == Some(409.0))
}

#[derive(Debug, Clone, Copy)]
pub struct BlobCpkEncryptionDetected;

impl Logic for BlobCpkEncryptionDetected {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        Ok(
            py::upper(py::get_or(f, "category", &EMPTY))? == STORAGE_READ_CATEGORY
                && is_409(py::get(f, "statusCode"))
                && py::upper(py::get_or(f, "statusText", &EMPTY))? == CPK_ERROR_STATUS
                && azure_resource_logs_failure(event),
        )
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let unknown_account = py::s("<UNKNOWN_STORAGE_ACCOUNT>");
        let resource_id = py::get_or(f, "resourceId", &unknown_account);
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_STORAGE_ACCOUNT>");
        let unknown_blob = py::s("<UNKNOWN_BLOB>");
        let blob_path = py::str_of(py::deep_get_or(
            f,
            &["properties", "objectKey"],
            &unknown_blob,
        ));
        Ok(Some(format!(
            "Access denied returned in storage account [{storage_account}] \
             for CPK-encrypted blob [{blob_path}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let f = event.fields();
        let unknown = py::s("<UNKNOWN>");
        for (key, field) in [
            ("blob_path", "objectKey"),
            ("user_agent", "userAgentHeader"),
        ] {
            let v = py::deep_get_or(f, &["properties", field], &unknown);
            context.insert(key.into(), v.clone());
        }
        for (key, field) in [("status_code", "statusCode"), ("status_text", "statusText")] {
            context.insert(key.into(), py::get_or(f, field, &unknown).clone());
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The status text is required (and rarer than the category).
        Some(vec![CPK_ERROR_STATUS.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(v: Value) -> Result<bool, RuleError> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        BlobCpkEncryptionDetected.matches(&Record::new(&m))
    }

    #[test]
    fn matching_semantics() {
        let rec = |code: Value, text: Value| {
            json!({"category": "StorageRead", "statusCode": code, "statusText": text,
                   "properties": {"metricResponseType": "ClientOtherError"}})
        };
        let text = json!("BlobUsesCustomerSpecifiedEncryption");
        assert_eq!(eval(rec(json!(409), text.clone())), Ok(true));
        assert_eq!(eval(rec(json!(409.0), text.clone())), Ok(true));
        assert_eq!(eval(rec(json!("409"), text.clone())), Ok(false));
        // statusText is only upper-cased once the status code matched.
        assert_eq!(eval(rec(json!(404), json!(1))), Ok(false));
        assert!(eval(rec(json!(409), json!(1))).is_err());
        assert!(eval(json!({"category": null})).is_err());
    }
}
