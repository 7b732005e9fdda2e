//! Port of Panther's `azure_keyvault_key_accessed_or_recovered.py`
//! (`Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered`, the seed rule), reproduced exactly.
//!
//! The operation is upper-cased (Unicode, as Python's `str.upper`) and compared for equality;
//! `resultType` must be `Success` or `Succeeded`, case-sensitively; defaults apply only to
//! missing keys. A non-string operation name raises in `rule()` (a rule error, no alert); a
//! truthy non-string resource id raises in `title()` and `alert_context()` (Panther then uses
//! their defaults).

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
pub const FILENAME: &str = "azure_keyvault_key_accessed_or_recovered.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered",
        display_name: "Azure Key Vault Key Accessed or Recovered",
        enabled: true,
        severity: Severity::Medium,
        description: "A Key Vault key was read, restored or recovered (Activity Log).",
        reference: "https://microsoft.github.io/Azure-Threat-Research-Matrix/CredentialAccess/AZT604/AZT604-3",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1555", "TA0007:T1087.004"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(KeyVaultKeyAccessed)
}

const KEY_READ: &str = "MICROSOFT.KEYVAULT/VAULTS/KEYS/READ/ACTION";
const KEY_RESTORED: &str = "MICROSOFT.KEYVAULT/VAULTS/KEYS/RESTORE/ACTION";
const KEY_RECOVERED: &str = "MICROSOFT.KEYVAULT/VAULTS/KEYS/RECOVER/ACTION";

#[derive(Debug, Clone, Copy)]
pub struct KeyVaultKeyAccessed;

impl Logic for KeyVaultKeyAccessed {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(
            [KEY_READ, KEY_RESTORED, KEY_RECOVERED].contains(&operation.as_str())
                && azure_activity_success(event),
        )
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let resource_id = py::get_or(f, "resourceId", &EMPTY);
        let keyvault_name = extract_resource_name_from_id(resource_id, "vaults")?.unwrap_or("");
        let caller = py::get(f, "callerIpAddress")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_CALLER>".to_string());
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let action = match operation.as_str() {
            KEY_READ => "read",
            KEY_RESTORED => "restored",
            KEY_RECOVERED => "recovered",
            _ => "accessed",
        };
        Ok(Some(format!(
            "Azure Key Vault key {action} from [{keyvault_name}] by [{caller}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [("keyvault_name", "vaults"), ("key_name", "keys")] {
            if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
                if !name.is_empty() {
                    context.insert(key.into(), py::s(name));
                }
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // Every matching operation, upper-cased, contains KEYS/RE; in pure-ASCII text without
        // escapes the raw spelling contains it too, in some casing.
        Some(vec!["keys/re".to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(v: Value) -> Result<bool, RuleError> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        KeyVaultKeyAccessed.matches(&Record::new(&m))
    }

    #[test]
    fn matching_semantics() {
        let op = "Microsoft.KeyVault/vaults/keys/read/action";
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "Success"})),
            Ok(true)
        );
        assert_eq!(
            eval(json!({"OPERATIONNAME": op.to_uppercase(), "RESULTTYPE": "Succeeded"})),
            Ok(true)
        );
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "success"})),
            Ok(false)
        );
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "Succeeded "})),
            Ok(false)
        );
        assert_eq!(
            eval(json!({"operationName": format!(" {op}"), "resultType": "Success"})),
            Ok(false)
        );
        assert_eq!(eval(json!({"operationName": op})), Ok(false));
        assert_eq!(eval(json!({"resultType": "Success"})), Ok(false));
        assert!(eval(json!({"operationName": null, "resultType": "Success"})).is_err());
        assert!(eval(json!({"operationName": 5, "resultType": "Success"})).is_err());
        // Python upper-cases the long s to S.
        assert_eq!(
            eval(
                json!({"operationName": "microſoft.keyvault/vaults/keys/recover/action", "resultType": "Success"})
            ),
            Ok(true)
        );
    }
}
