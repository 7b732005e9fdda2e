//! Port of Panther's `azure_keyvault_certificate_accessed.py`
//! (`Azure.MonitorActivity.KeyVault.CertificateAccessed`).
//!
//! The operation is upper-cased (a non-string raises in `rule()`) and compared for equality.
//! The title renders the caller as an f-string does (a present `null` is `None`, a nested object
//! is Panther's wrapper); a truthy non-string resource id raises in `title()` and
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
pub const FILENAME: &str = "azure_keyvault_certificate_accessed.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.KeyVault.CertificateAccessed",
        display_name: "Azure Key Vault Certificate Accessed",
        enabled: true,
        severity: Severity::Info,
        description: "A Key Vault certificate was read (Activity Log).",
        reference: "https://microsoft.github.io/Azure-Threat-Research-Matrix/CredentialAccess/AZT604/AZT604-2",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1555", "TA0009:T1530"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(KeyVaultCertificateAccessed)
}

const CERTIFICATE_READ: &str = "MICROSOFT.KEYVAULT/VAULTS/CERTIFICATES/READ";

#[derive(Debug, Clone, Copy)]
pub struct KeyVaultCertificateAccessed;

impl Logic for KeyVaultCertificateAccessed {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == CERTIFICATE_READ && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let resource_id = py::get_or(f, "resourceId", &EMPTY);
        let keyvault_name =
            extract_resource_name_from_id(resource_id, "vaults")?.unwrap_or("UNKNOWN");
        let caller = py::get(f, "callerIpAddress")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_CALLER>".to_string());
        Ok(Some(format!(
            "Azure Key Vault certificate accessed from [{keyvault_name}] by [{caller}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("keyvault_name", "vaults"),
            ("certificate_name", "certificates"),
        ] {
            if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
                if !name.is_empty() {
                    context.insert(key.into(), py::s(name));
                }
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec![CERTIFICATE_READ.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": "Microsoft.KeyVault/vaults/certificates/read",
            "resultType": "Success",
            "callerIpAddress": null,
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(KeyVaultCertificateAccessed.matches(&r), Ok(true));
        assert_eq!(
            KeyVaultCertificateAccessed.title(&r),
            Ok(Some(
                "Azure Key Vault certificate accessed from [UNKNOWN] by [None]".to_string()
            ))
        );
    }
}
