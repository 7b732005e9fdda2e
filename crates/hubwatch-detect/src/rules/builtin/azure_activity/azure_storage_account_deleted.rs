//! Port of Panther's `azure_storage_account_deleted.py`
//! (`Azure.MonitorActivity.StorageAccount.Deleted`).
//!
//! The operation is upper-cased (a non-string raises in `rule()`) and compared for equality;
//! the account is the segment after `storageAccounts` in the resource id, kept even when empty.
//! A truthy non-string resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_storage_account_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.Deleted",
        display_name: "Azure Storage Account Deleted",
        enabled: true,
        severity: Severity::High,
        description: "An Azure storage account, with all the data it holds, was deleted.",
        reference: "https://www.trendmicro.com/cloudoneconformity/knowledge-base/azure/ActivityLog/delete-storage-account-alert.html",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(StorageAccountDeleted)
}

const STORAGE_ACCOUNT_DELETE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct StorageAccountDeleted;

impl Logic for StorageAccountDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == STORAGE_ACCOUNT_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage Account [{storage_account}] deleted"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec![STORAGE_ACCOUNT_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": "MICROSOFT.STORAGE/STORAGEACCOUNTS/DELETE",
            "resultType": "Success",
            "resourceId": 5,
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(StorageAccountDeleted.matches(&r), Ok(true));
        // A truthy non-string resource id cannot be split.
        assert!(StorageAccountDeleted.title(&r).is_err());
        assert!(StorageAccountDeleted.alert_context(&r).is_err());
    }
}
