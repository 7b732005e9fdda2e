//! Port of Panther's `azure_storage_blob_bulk_deletion.py`
//! (`Azure.MonitorActivity.Storage.Blob.BulkDeletion`).
//!
//! A storage resource log rule: the operation, upper-cased (raising on a non-string), must be
//! `DELETEBLOB` and `properties.metricResponseType` exactly `Success`. The title renders
//! `callerIpAddress` with Python's `str()`; the alert context adds `properties.objectKey` and
//! `properties.userAgentHeader` as found (any JSON type; missing or `null`: `<UNKNOWN>`).

use super::helpers::{
    azure_activity_alert_context, azure_resource_logs_success, extract_resource_name_from_id,
};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_storage_blob_bulk_deletion.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.Blob.BulkDeletion",
        display_name: "Azure Storage Blob Deletion",
        enabled: true,
        severity: Severity::Medium,
        description: "Blobs were deleted from a storage account; many in a short time raise an alert.",
        reference: "https://learn.microsoft.com/en-us/dotnet/api/azure.storage.blobs.blobcontainerclient.deleteblob?view=azure-dotnet",
        dedup_period_minutes: Some(15),
        threshold: Some(15),
        create_alert: true,
        summary_attributes: &["callerIpAddress", "resourceId", "p_any_usernames"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(BlobBulkDeletion)
}

#[derive(Debug, Clone, Copy)]
pub struct BlobBulkDeletion;

impl Logic for BlobBulkDeletion {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == "DELETEBLOB" && azure_resource_logs_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let caller = py::get(f, "callerIpAddress")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_CALLER>".to_string());
        let default = py::s("<UNKNOWN_STORAGE_ACCOUNT>");
        let resource_id = py::get_or(f, "resourceId", &default);
        let account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_STORAGE_ACCOUNT>");
        Ok(Some(format!(
            "Azure Blobs deleted from storage account [{account}] by caller [{caller}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let unknown = py::s("<UNKNOWN>");
        for (key, field) in [
            ("blob_path", "objectKey"),
            ("user_agent", "userAgentHeader"),
        ] {
            let v = py::deep_get_or(event.fields(), &["properties", field], &unknown);
            context.insert(key.into(), v.clone());
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["deleteblob".to_string()])
    }
}
