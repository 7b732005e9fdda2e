//! Port of Panther's `azure_storage_fileshare_modified.py`
//! (`Azure.MonitorActivity.Storage.FileShareModified`).
//!
//! The operation is upper-cased (raising on a non-string) and must be the file share write,
//! with a successful `resultType`. The title walks `resourceId` (missing:
//! `<UNKNOWN_RESOURCE>`), raising on a truthy non-string, as the alert context does.

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
pub const FILENAME: &str = "azure_storage_fileshare_modified.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.FileShareModified",
        display_name: "Azure Storage File Share Created or Modified",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure Storage file share was created or its settings were written.",
        reference:
            "https://microsoft.github.io/Azure-Threat-Research-Matrix/Impact/AZT702/AZT702-1",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0010:T1048", "TA0009:T1530"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(FileShareModified)
}

const FILESHARE_OPERATIONS: [&str; 1] =
    ["MICROSOFT.STORAGE/STORAGEACCOUNTS/FILESERVICES/SHARES/WRITE"];

#[derive(Debug, Clone, Copy)]
pub struct FileShareModified;

impl Logic for FileShareModified {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(FILESHARE_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let share_name =
            extract_resource_name_from_id(resource_id, "shares")?.unwrap_or("<UNKNOWN_SHARE>");
        Ok(Some(format!(
            "Azure Storage File Share Created or Modified: [{share_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, "shares")? {
            if !name.is_empty() {
                context.insert("share_name".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["fileservices/shares/write".to_string()])
    }
}
