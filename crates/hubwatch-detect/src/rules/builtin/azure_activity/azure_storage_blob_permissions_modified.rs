//! Port of Panther's `azure_storage_blob_permissions_modified.py`
//! (`Azure.MonitorActivity.Storage.BlobPermissionsModified`).
//!
//! `operationName` is upper-cased and tested for membership in a one-element list (a
//! non-string raises in `rule()`); the title's resource id defaults to `<UNKNOWN_RESOURCE>`,
//! which names neither a container nor an account.

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
pub const FILENAME: &str = "azure_storage_blob_permissions_modified.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.BlobPermissionsModified",
        display_name: "Azure Storage Blob Container Permissions Modified",
        enabled: true,
        severity: Severity::Medium,
        description: "A blob container was written, which can change who may read or list its data.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/persistence_azure_storage_blob_permissions_modified.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId", "location"],
        mitre: &["TA0010:T1567.002", "TA0005:T1222"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(BlobPermissionsModified)
}

const BLOB_PERMISSIONS_OPERATIONS: &[&str] =
    &["MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/CONTAINERS/WRITE"];

#[derive(Debug, Clone, Copy)]
pub struct BlobPermissionsModified;

impl Logic for BlobPermissionsModified {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(BLOB_PERMISSIONS_OPERATIONS.contains(&operation.as_str())
            && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let unknown = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &unknown);
        let container_name = extract_resource_name_from_id(resource_id, "containers")?
            .unwrap_or("<UNKNOWN_CONTAINER>");
        let storage_account_name = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_STORAGE_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage Blob Container Modified: [{container_name}] in [{storage_account_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is one of the constants in some ASCII casing.
        Some(
            BLOB_PERMISSIONS_OPERATIONS
                .iter()
                .map(|op| op.to_ascii_lowercase())
                .collect(),
        )
    }
}
