//! Port of Panther's `azure_storage_account_key_regenerated.py`
//! (`Azure.MonitorActivity.StorageAccount.KeyRegenerated`).
//!
//! `operationName` is upper-cased and compared for equality (a non-string raises in `rule()`).
//! The key name comes from the request body (`properties.requestbody`, parsed only when a JSON
//! string, else `{}`) with a plain, case-sensitive `.get`, which raises when the parsed body is
//! not a dict (then the title and context take Panther's defaults, the context showing the
//! exception); a found key name of any type is rendered with `str()` in the title and kept as
//! is in the context.

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
pub const FILENAME: &str = "azure_storage_account_key_regenerated.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.KeyRegenerated",
        display_name: "Azure Storage Account Key Regenerated",
        enabled: true,
        severity: Severity::Info,
        description: "A storage account access key was regenerated, invalidating the old key and minting a new one.",
        reference: "https://www.elastic.co/guide/en/security/8.19/azure-storage-account-key-regenerated.html",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1098"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(KeyRegenerated)
}

const REGENERATE_KEY: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/REGENERATEKEY/ACTION";

#[derive(Debug, Clone, Copy)]
pub struct KeyRegenerated;

impl Logic for KeyRegenerated {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == REGENERATE_KEY && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_ACCOUNT>");
        let requestbody = request_body(event)?;
        let unknown = py::s("<UNKNOWN_KEY>");
        let key = py::plain_dict_get_or(&requestbody, "keyName", &unknown)?;
        Ok(Some(format!(
            "Azure Storage Account key [{}] regenerated on [{storage_account}]",
            py::plain_str_of(key)
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let requestbody = request_body(event)?;
        let unknown = py::s("<UNKNOWN_KEY>");
        let key = py::plain_dict_get_or(&requestbody, "keyName", &unknown)?;
        context.insert("key_name".into(), key.clone());
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is the constant in some ASCII casing.
        Some(vec![REGENERATE_KEY.to_ascii_lowercase()])
    }
}
