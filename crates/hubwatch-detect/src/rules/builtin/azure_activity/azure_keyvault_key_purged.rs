//! Port of Panther's `azure_keyvault_key_purged.py` (`Azure.MonitorActivity.KeyVault.KeyPurged`).
//!
//! The operation is upper-cased (raising on a non-string) and compared for equality; success is
//! checked only when it matches. The title renders the caller with `str()` (its default applies
//! only when the key is missing); a truthy non-string resource id raises in `title()` and
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
pub const FILENAME: &str = "azure_keyvault_key_purged.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.KeyVault.KeyPurged",
        display_name: "Azure Key Vault Key Permanently Purged",
        enabled: true,
        severity: Severity::Info,
        description: "A Key Vault key was purged, so it can no longer be recovered.",
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
    Arc::new(KeyVaultKeyPurged)
}

const KEYVAULT_KEY_PURGE: &str = "MICROSOFT.KEYVAULT/VAULTS/KEYS/PURGE/ACTION";

#[derive(Debug, Clone, Copy)]
pub struct KeyVaultKeyPurged;

impl Logic for KeyVaultKeyPurged {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == KEYVAULT_KEY_PURGE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let resource_id = py::get_or(f, "resourceId", &EMPTY);
        let keyvault =
            extract_resource_name_from_id(resource_id, "vaults")?.unwrap_or("<UNKNOWN_KEYVAULT>");
        let caller = py::get(f, "callerIpAddress")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_CALLER>".to_string());
        Ok(Some(format!(
            "Azure Key Vault key permanently purged on [{keyvault}] from [{caller}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let keyvault_name = extract_resource_name_from_id(resource_id, "vaults")?;
        let key_name = extract_resource_name_from_id(resource_id, "keys")?;
        for (key, name) in [("keyvault_name", keyvault_name), ("key_name", key_name)] {
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                context.insert(key.into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal the constant: in pure-ASCII text without
        // escapes its raw spelling is the constant in some casing.
        Some(vec![KEYVAULT_KEY_PURGE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_renders_caller_with_str() {
        let v = json!({"operationName": "microsoft.keyvault/vaults/keys/purge/action",
            "resultType": "Success", "callerIpAddress": null,
            "resourceId": "/x/VAULTS/kv/keys/k"});
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(KeyVaultKeyPurged.matches(&r), Ok(true));
        assert_eq!(
            KeyVaultKeyPurged.title(&r),
            Ok(Some(
                "Azure Key Vault key permanently purged on [kv] from [None]".to_string()
            ))
        );
    }
}
