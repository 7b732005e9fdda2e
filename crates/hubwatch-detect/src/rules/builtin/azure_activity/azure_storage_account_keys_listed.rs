//! Port of Panther's `azure_storage_account_keys_listed.py`
//! (`Azure.MonitorActivity.StorageAccount.KeysListed`).
//!
//! The operation is upper-cased (raising on a non-string) and must be in the one-element list;
//! success is checked only when it is. A truthy non-string resource id raises in `title()` and
//! `alert_context()`.

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
pub const FILENAME: &str = "azure_storage_account_keys_listed.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.KeysListed",
        display_name: "Azure Storage Account Keys Listed",
        enabled: true,
        severity: Severity::Medium,
        description: "The access keys of a storage account were listed, exposing full data access.",
        reference: "https://microsoft.github.io/Azure-Threat-Research-Matrix/CredentialAccess/AZT605/AZT605-1",
        dedup_period_minutes: None,
        threshold: Some(50),
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1552", "TA0009:T1530"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(StorageAccountKeysListed)
}

const KEY_LIST_OPERATIONS: &[&str] = &["MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION"];

#[derive(Debug, Clone, Copy)]
pub struct StorageAccountKeysListed;

impl Logic for StorageAccountKeysListed {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(KEY_LIST_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let storage_account_name = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_STORAGE_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage Account Keys Listed on [{storage_account_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal a listed constant: in pure-ASCII text without
        // escapes its raw spelling is that constant in some casing.
        Some(
            KEY_LIST_OPERATIONS
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

    #[test]
    fn matching_semantics() {
        let v = json!({"operationName": "Microsoft.Storage/storageAccounts/listKeys/action",
            "resultType": "Success", "resourceId": "/x/storageAccounts/acct"});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(StorageAccountKeysListed.matches(&r), Ok(true));
        assert_eq!(
            StorageAccountKeysListed.title(&r),
            Ok(Some(
                "Azure Storage Account Keys Listed on [acct]".to_string()
            ))
        );
    }
}
