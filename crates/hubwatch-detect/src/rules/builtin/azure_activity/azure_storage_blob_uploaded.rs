//! Port of Panther's `azure_storage_blob_uploaded.py` (`Azure.MonitorActivity.Storage.Blob.Uploaded`),
//! a signal-only rule (`CreateAlert: false`) with no title or alert context.
//!
//! A storage resource log rule: the operation, upper-cased (raising on a non-string), must be
//! `PUTBLOB` and `properties.metricResponseType` exactly `Success`.

use super::helpers::azure_resource_logs_success;
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_storage_blob_uploaded.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.Blob.Uploaded",
        display_name: "Azure Storage Blob Uploaded",
        enabled: true,
        severity: Severity::Info,
        description: "A blob was uploaded to a storage account (a signal, not an alert).",
        reference: "",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: false,
        summary_attributes: &["callerIpAddress", "resourceId"],
        mitre: &[],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(BlobUploaded)
}

#[derive(Debug, Clone, Copy)]
pub struct BlobUploaded;

impl Logic for BlobUploaded {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == "PUTBLOB" && azure_resource_logs_success(event))
    }

    fn title(&self, _event: &Record) -> Result<Option<String>, RuleError> {
        Ok(None)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["putblob".to_string()])
    }
}
