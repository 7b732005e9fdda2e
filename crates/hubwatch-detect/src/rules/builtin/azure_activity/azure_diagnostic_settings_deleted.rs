//! Port of Panther's `azure_diagnostic_settings_deleted.py`
//! (`Azure.MonitorActivity.DiagnosticSettings.Deleted`).
//!
//! `operationName` is upper-cased and compared for equality (a non-string raises in `rule()`);
//! a truthy non-string resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_diagnostic_settings_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.DiagnosticSettings.Deleted",
        display_name: "Azure Diagnostic Settings Deleted",
        enabled: true,
        severity: Severity::Medium,
        description: "A diagnostic setting was deleted, which can stop a resource's logs from reaching their destination.",
        reference: "https://docs.datadoghq.com/security/default_rules/apn-0ib-a6f/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562.008"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(DiagnosticSettingsDeleted)
}

const DIAGNOSTIC_SETTINGS_DELETE: &str = "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct DiagnosticSettingsDeleted;

impl Logic for DiagnosticSettingsDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == DIAGNOSTIC_SETTINGS_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let resource = extract_resource_name_from_id(resource_id, "diagnosticSettings")?
            .unwrap_or("<UNKNOWN_RESOURCE>");
        Ok(Some(format!(
            "Azure Diagnostic Settings deleted on [{resource}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, "diagnosticSettings")? {
            if !name.is_empty() {
                context.insert("diagnostic_setting_name".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is the constant in some ASCII casing.
        Some(vec![DIAGNOSTIC_SETTINGS_DELETE.to_ascii_lowercase()])
    }
}
