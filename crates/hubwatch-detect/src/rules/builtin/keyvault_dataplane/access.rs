//! Successful data-plane reads, recoveries and restores of keys, secrets and certificates.
//!
//! One logic, three rules (one per [`Family`]): the `AuditEvent` twins of the Activity Log
//! rules `Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered`,
//! `...SecretAccessedOrRecovered` and `...CertificateAccessed`, whose operations Azure reports
//! only in Key Vault's resource logs. A record matches when its operation is one of the
//! family's and Key Vault answered 2xx (see [`audit::status`]); denied, missing, throttled and
//! failed requests do not match, nor does a record whose status cannot be read.
//!
//! Dedup groups by vault, caller and action, so one principal reading a hundred secrets in a
//! window raises one alert (titled with the first secret), not a hundred.

use super::audit::{self, Action, Caller, Family, Operation};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct DataPlaneAccess {
    family: Family,
}

impl DataPlaneAccess {
    pub fn new(family: Family) -> Self {
        DataPlaneAccess { family }
    }

    /// The operation, when the record is a successful one of this rule's family.
    fn matched(&self, record: &Record) -> Option<&'static Operation> {
        if !audit::is_audit_event(record) {
            return None;
        }
        let op = audit::operation(record).filter(|o| o.family == self.family)?;
        audit::status(record)
            .is_some_and(|s| s.succeeded())
            .then_some(op)
    }
}

const UNKNOWN_VAULT: &str = "<UNKNOWN_VAULT>";
const UNKNOWN_CALLER: &str = "<UNKNOWN_CALLER>";

fn verb(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Recover => "recovered",
        Action::Restore => "restored",
    }
}

impl Logic for DataPlaneAccess {
    fn matches(&self, record: &Record) -> Result<bool, RuleError> {
        Ok(self.matched(record).is_some())
    }

    fn title(&self, record: &Record) -> Result<Option<String>, RuleError> {
        let Some(op) = audit::operation(record) else {
            return Ok(None);
        };
        let noun = op.family.noun();
        let vault = audit::vault_name(record).unwrap_or(UNKNOWN_VAULT);
        let object = audit::object_name(record, op)
            .map(str::to_string)
            .unwrap_or_else(|| format!("<UNKNOWN_{}>", noun.to_ascii_uppercase()));
        let caller = Caller::of(record);
        let who = caller.display().unwrap_or(UNKNOWN_CALLER);
        let from = match caller.ip.as_deref() {
            Some(ip) if ip != who => format!(" from [{ip}]"),
            _ => String::new(),
        };
        let (what, prep) = match op.action {
            Action::Read => (format!("{noun} [{object}]"), "in"),
            Action::Recover => (format!("soft-deleted {noun} [{object}]"), "in"),
            Action::Restore => (format!("{noun} [{object}]"), "from backup into"),
        };
        let action = verb(op.action);
        Ok(Some(format!(
            "Azure Key Vault {what} {action} {prep} [{vault}] by [{who}]{from}"
        )))
    }

    fn dedup(&self, record: &Record) -> Result<Option<String>, RuleError> {
        let Some(op) = audit::operation(record) else {
            return Ok(None);
        };
        let vault = audit::vault_name(record).unwrap_or(UNKNOWN_VAULT);
        let caller = Caller::of(record);
        let who = caller.principal().unwrap_or(UNKNOWN_CALLER);
        Ok(Some(format!(
            "vault={vault} caller={who} action={}",
            verb(op.action)
        )))
    }

    fn alert_context(&self, record: &Record) -> Result<Map<String, Value>, RuleError> {
        Ok(audit::context(record, audit::operation(record)))
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(audit::needles(Some(self.family)))
    }
}

const REFERENCE: &str = "https://learn.microsoft.com/azure/key-vault/general/logging";
const SUMMARY: &[&str] = &["resourceId", "callerIpAddress", "correlationId"];

fn key() -> Arc<dyn Logic> {
    Arc::new(DataPlaneAccess::new(Family::Key))
}

fn secret() -> Arc<dyn Logic> {
    Arc::new(DataPlaneAccess::new(Family::Secret))
}

fn certificate() -> Arc<dyn Logic> {
    Arc::new(DataPlaneAccess::new(Family::Certificate))
}

pub(super) const KEY: Port = Port {
    filename: "keyvault_dataplane/key_accessed_or_recovered",
    meta: Meta {
        rule_id: "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered",
        display_name: "Azure Key Vault Key Accessed or Recovered (Key Vault audit log)",
        enabled: true,
        severity: Severity::Medium,
        description: "A Key Vault key was read, recovered or restored (KeyGet, KeyRecover, \
                      KeyRestore answered 2xx in the AuditEvent resource log).",
        reference: REFERENCE,
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: SUMMARY,
        mitre: &["TA0006:T1555", "TA0007:T1087.004"],
    },
    logic: key,
};

pub(super) const SECRET: Port = Port {
    filename: "keyvault_dataplane/secret_accessed_or_recovered",
    meta: Meta {
        rule_id: "Azure.KeyVault.AuditEvent.SecretAccessedOrRecovered",
        display_name: "Azure Key Vault Secret Accessed or Recovered (Key Vault audit log)",
        enabled: true,
        severity: Severity::Medium,
        description: "A Key Vault secret was read, recovered or restored (SecretGet, \
                      SecretRecover, SecretRestore answered 2xx in the AuditEvent resource log).",
        reference: REFERENCE,
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: SUMMARY,
        mitre: &["TA0006:T1555", "TA0009:T1530"],
    },
    logic: secret,
};

pub(super) const CERTIFICATE: Port = Port {
    filename: "keyvault_dataplane/certificate_accessed",
    meta: Meta {
        rule_id: "Azure.KeyVault.AuditEvent.CertificateAccessed",
        display_name: "Azure Key Vault Certificate Accessed (Key Vault audit log)",
        enabled: true,
        severity: Severity::Info,
        description: "A Key Vault certificate was read (CertificateGet answered 2xx in the \
                      AuditEvent resource log).",
        reference: REFERENCE,
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: SUMMARY,
        mitre: &["TA0006:T1555", "TA0009:T1530"],
    },
    logic: certificate,
};
