//! Data-plane reads, recoveries and restores that Key Vault refused with 403 Forbidden.
//!
//! A 403 is an authenticated caller without the permission: one is a misconfigured app, many
//! from one principal in an hour look like a stolen identity probing for what it can read. The
//! rule file sets the `Threshold`; dedup groups by vault and caller. 401s are left out: SDKs
//! send every first request without a token and take the 401 challenge as the normal start of
//! authentication, so they are noise. 404s (a name that does not exist) are not denials.

use super::audit::{self, Caller};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

const FORBIDDEN: u16 = 403;

#[derive(Debug, Clone, Copy)]
pub struct DataPlaneDenied;

impl Logic for DataPlaneDenied {
    fn matches(&self, record: &Record) -> Result<bool, RuleError> {
        Ok(audit::is_audit_event(record)
            && audit::operation(record).is_some()
            && audit::status(record).is_some_and(|s| s.code == FORBIDDEN))
    }

    fn title(&self, record: &Record) -> Result<Option<String>, RuleError> {
        let vault = audit::vault_name(record).unwrap_or("<UNKNOWN_VAULT>");
        let caller = Caller::of(record);
        let who = caller.display().unwrap_or("<UNKNOWN_CALLER>");
        let from = match caller.ip.as_deref() {
            Some(ip) if ip != who => format!(" from [{ip}]"),
            _ => String::new(),
        };
        Ok(Some(format!(
            "Azure Key Vault data-plane requests denied (403) in [{vault}] for [{who}]{from}"
        )))
    }

    fn dedup(&self, record: &Record) -> Result<Option<String>, RuleError> {
        let vault = audit::vault_name(record).unwrap_or("<UNKNOWN_VAULT>");
        let caller = Caller::of(record);
        let who = caller.principal().unwrap_or("<UNKNOWN_CALLER>");
        Ok(Some(format!("vault={vault} caller={who} denied")))
    }

    fn alert_context(&self, record: &Record) -> Result<Map<String, Value>, RuleError> {
        Ok(audit::context(record, audit::operation(record)))
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(audit::needles(None))
    }
}

fn logic() -> Arc<dyn Logic> {
    Arc::new(DataPlaneDenied)
}

pub(super) const PORT: Port = Port {
    filename: "keyvault_dataplane/access_denied",
    meta: Meta {
        rule_id: "Azure.KeyVault.AuditEvent.DataPlaneAccessDenied",
        display_name: "Azure Key Vault Data-Plane Access Denied Repeatedly (Key Vault audit log)",
        enabled: true,
        severity: Severity::Low,
        description: "One caller was refused (403) key, secret or certificate reads, recoveries \
                      or restores in one vault repeatedly within an hour.",
        reference: "https://learn.microsoft.com/azure/key-vault/general/logging",
        dedup_period_minutes: Some(60),
        threshold: Some(5),
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1555"],
    },
    logic,
};
