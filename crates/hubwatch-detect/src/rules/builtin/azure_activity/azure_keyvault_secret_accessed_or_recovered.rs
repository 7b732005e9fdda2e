//! Port of Panther's `azure_keyvault_secret_accessed_or_recovered.py`
//! (`Azure.MonitorActivity.KeyVault.SecretAccessedOrRecovered`).
//!
//! The operation is upper-cased (raising on a non-string) before `all()` checks it and the
//! result type. The title upper-cases the operation first, then extracts the vault (a truthy
//! non-string resource id raises) and renders the caller with `str()`. `severity()` returns
//! `MEDIUM` for a recovery and `DEFAULT` otherwise.

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
pub const FILENAME: &str = "azure_keyvault_secret_accessed_or_recovered.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.KeyVault.SecretAccessedOrRecovered",
        display_name: "Azure Key Vault Secret Accessed or Recovered",
        enabled: true,
        severity: Severity::Medium,
        description: "A Key Vault secret was read, restored or recovered from soft delete.",
        reference: "https://blog.pwnedlabs.io/climbing-the-azure-ladder-part-1",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1555", "TA0009:T1530"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(KeyVaultSecretAccessed)
}

const SECRET_GET: &str = "MICROSOFT.KEYVAULT/VAULTS/SECRETS/GETSECRET/ACTION";
const SECRET_RECOVER: &str = "MICROSOFT.KEYVAULT/VAULTS/SECRETS/RECOVER/ACTION";
const SECRET_RESTORE: &str = "MICROSOFT.KEYVAULT/VAULTS/SECRETS/RESTORE/ACTION";

#[derive(Debug, Clone, Copy)]
pub struct KeyVaultSecretAccessed;

fn operation(event: &Record) -> Result<String, RuleError> {
    py::upper(py::get_or(event.fields(), "operationName", &EMPTY))
}

impl Logic for KeyVaultSecretAccessed {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = operation(event)?;
        let known = [SECRET_GET, SECRET_RECOVER, SECRET_RESTORE].contains(&operation.as_str());
        let success = azure_activity_success(event);
        Ok(known && success)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let operation = operation(event)?;
        let f = event.fields();
        let resource_id = py::get_or(f, "resourceId", &EMPTY);
        let keyvault_name = extract_resource_name_from_id(resource_id, "vaults")?.unwrap_or("");
        let caller = py::get(f, "callerIpAddress")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_CALLER>".to_string());
        if operation == SECRET_RECOVER {
            return Ok(Some(format!(
                "Azure Key Vault soft-deleted secret recovered from [{keyvault_name}] by [{caller}]"
            )));
        }
        Ok(Some(format!(
            "Azure Key Vault secret accessed from [{keyvault_name}] by [{caller}]"
        )))
    }

    fn severity(&self, event: &Record) -> Option<Result<String, RuleError>> {
        Some(operation(event).map(|op| {
            if op == SECRET_RECOVER {
                "MEDIUM"
            } else {
                "DEFAULT"
            }
            .to_string()
        }))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [("keyvault_name", "vaults"), ("secret_name", "secrets")] {
            if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
                if !name.is_empty() {
                    context.insert(key.into(), py::s(name));
                }
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // The operation, upper-cased, must equal one of the constants: in pure-ASCII text
        // without escapes its raw spelling is that constant in some casing.
        Some(
            [SECRET_GET, SECRET_RECOVER, SECRET_RESTORE]
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

    fn record(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        m
    }

    #[test]
    fn matching_title_and_severity() {
        let m = record(
            json!({"operationName": "Microsoft.KeyVault/vaults/secrets/recover/action",
            "resultType": "Succeeded", "resourceId": "/a/vaults/kv/secrets/s"}),
        );
        let r = Record::new(&m);
        assert_eq!(KeyVaultSecretAccessed.matches(&r), Ok(true));
        assert_eq!(
            KeyVaultSecretAccessed.severity(&r),
            Some(Ok("MEDIUM".to_string()))
        );
        assert_eq!(
            KeyVaultSecretAccessed.title(&r),
            Ok(Some(
                "Azure Key Vault soft-deleted secret recovered from [kv] by [<UNKNOWN_CALLER>]"
                    .to_string()
            ))
        );
        let m = record(json!({"operationName": null}));
        let r = Record::new(&m);
        assert!(KeyVaultSecretAccessed.matches(&r).is_err());
        assert!(matches!(KeyVaultSecretAccessed.severity(&r), Some(Err(_))));
    }
}
