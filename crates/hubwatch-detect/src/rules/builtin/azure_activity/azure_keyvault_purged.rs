//! Port of Panther's `azure_keyvault_purged.py` (`Azure.MonitorActivity.KeyVault.Purged`).
//!
//! `operationName` is upper-cased and compared for equality (a non-string raises in `rule()`);
//! the title renders `callerIpAddress` as an f-string does (`<UNKNOWN_CALLER>` only when
//! missing); a truthy non-string resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_keyvault_purged.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.KeyVault.Purged",
        display_name: "Azure Key Vault Permanently Purged",
        enabled: true,
        severity: Severity::Low,
        description: "A soft-deleted Key Vault was purged, so it can no longer be recovered.",
        reference: "https://learn.microsoft.com/en-us/azure/key-vault/general/soft-delete-overview",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(KeyVaultPurged)
}

const KEYVAULT_PURGE: &str = "MICROSOFT.KEYVAULT/LOCATIONS/DELETEDVAULTS/PURGE/ACTION";

#[derive(Debug, Clone, Copy)]
pub struct KeyVaultPurged;

impl Logic for KeyVaultPurged {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == KEYVAULT_PURGE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let resource_id = py::get_or(f, "resourceId", &EMPTY);
        let keyvault = extract_resource_name_from_id(resource_id, "deletedVaults")?
            .unwrap_or("<UNKNOWN_KEYVAULT>");
        let caller = py::get(f, "callerIpAddress")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_CALLER>".to_string());
        Ok(Some(format!(
            "Azure Key Vault permanently purged [{keyvault}] from [{caller}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, "deletedVaults")? {
            if !name.is_empty() {
                context.insert("keyvault_name".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is the constant in some ASCII casing.
        Some(vec![KEYVAULT_PURGE.to_ascii_lowercase()])
    }
}
