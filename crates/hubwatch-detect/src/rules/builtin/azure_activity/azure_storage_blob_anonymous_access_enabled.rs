//! Port of Panther's `azure_storage_blob_anonymous_access_enabled.py`
//! (`Azure.MonitorActivity.StorageAccount.BlobAnonymousAccessEnabled`).
//!
//! `rule()` returns early unless `resultType` is a success, so only then can a non-string
//! `operationName` raise; the request body (`properties.requestbody`, parsed only when a JSON
//! string, else `{}`) is then read with plain, case-sensitive `.get`s, which raise when it is
//! not a dict (whatever the operation) or, for the three write operations, when a present
//! `properties` inside it is not a dict. An account write needs `allowBlobPublicAccess` to be
//! JSON `true`; a blob service or container write needs `publicAccess` to be exactly `Blob` or
//! `Container`. In the title an empty container segment falls back to the account name.

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
pub const FILENAME: &str = "azure_storage_blob_anonymous_access_enabled.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.BlobAnonymousAccessEnabled",
        display_name: "Azure Storage Blob Anonymous Access Enabled",
        enabled: true,
        severity: Severity::High,
        description: "Anonymous public read access was allowed on a storage account, blob service or container.",
        reference: "https://hackingthe.cloud/azure/anonymous-blob-access/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0010:T1530"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(BlobAnonymousAccessEnabled)
}

const STORAGE_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE";
const BLOB_SERVICES_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/WRITE";
const CONTAINERS_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/CONTAINERS/WRITE";

#[derive(Debug, Clone, Copy)]
pub struct BlobAnonymousAccessEnabled;

impl Logic for BlobAnonymousAccessEnabled {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        if !azure_activity_success(event) {
            return Ok(false);
        }
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        let requestbody = request_body(event)?;
        let no_properties = Value::Object(Map::new());
        let properties = py::plain_dict_get_or(&requestbody, "properties", &no_properties)?;
        if operation == STORAGE_WRITE {
            let allow = py::plain_dict_get(properties, "allowBlobPublicAccess")?;
            return Ok(matches!(allow, Some(Value::Bool(true))));
        }
        if [BLOB_SERVICES_WRITE, CONTAINERS_WRITE].contains(&operation.as_str()) {
            let access = py::plain_dict_get(properties, "publicAccess")?;
            return Ok(access.is_some_and(|a| py::eq_str(a, "Blob") || py::eq_str(a, "Container")));
        }
        Ok(false)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        if operation == STORAGE_WRITE {
            let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
                .unwrap_or("<UNKNOWN_ACCOUNT>");
            return Ok(Some(format!(
                "Azure Storage Account anonymous blob access enabled on [{storage_account}]"
            )));
        }
        let container = extract_resource_name_from_id(resource_id, "containers")?
            .unwrap_or("<UNKNOWN_CONTAINER>");
        let storage_resource = if !container.is_empty() {
            container
        } else {
            extract_resource_name_from_id(resource_id, "storageAccounts")?
                .unwrap_or("<UNKNOWN_RESOURCE>")
        };
        let requestbody = request_body(event)?;
        let no_properties = Value::Object(Map::new());
        let properties = py::plain_dict_get_or(&requestbody, "properties", &no_properties)?;
        let resource_type = py::plain_dict_get_or(properties, "publicAccess", &EMPTY)?;
        Ok(Some(format!(
            "Azure Storage public access allowed on [{}] for [{storage_resource}]",
            py::plain_str_of(resource_type)
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is one of the three constants in some ASCII casing.
        Some(
            [STORAGE_WRITE, BLOB_SERVICES_WRITE, CONTAINERS_WRITE]
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

    fn eval(v: Value) -> Result<bool, RuleError> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        BlobAnonymousAccessEnabled.matches(&Record::new(&m))
    }

    #[test]
    fn matching_semantics() {
        let body = |b: Value| json!({"requestbody": b.to_string()});
        let container = "Microsoft.Storage/storageAccounts/blobServices/containers/write";
        let public = |v: Value| body(json!({"properties": {"publicAccess": v}}));
        let rec = |op: &str, props: Value| json!({"operationName": op, "resultType": "Succeeded", "properties": props});
        assert_eq!(eval(rec(container, public(json!("Container")))), Ok(true));
        assert_eq!(eval(rec(container, public(json!("container")))), Ok(false));
        assert_eq!(eval(rec(container, public(json!(["Blob"])))), Ok(false));
        // Not a success: returns before reading the operation.
        assert_eq!(eval(json!({"operationName": 5})), Ok(false));
        assert!(eval(json!({"operationName": 5, "resultType": "Success"})).is_err());
        // Any operation reads the request body's properties.
        assert!(eval(rec("other", body(json!("str")))).is_err());
        assert_eq!(
            eval(rec("other", body(json!({"properties": 1})))),
            Ok(false)
        );
        assert!(eval(rec(container, body(json!({"properties": 1})))).is_err());
    }
}
