//! Port of Panther's `azure_automation_runbook_deleted.py`
//! (`Azure.MonitorActivity.Automation.RunbookDeleted`).
//!
//! `operationName` is upper-cased and compared for equality (a non-string raises in `rule()`);
//! the title's resource id defaults to `<UNKNOWN_RESOURCE>`, which names no runbook, so a
//! missing id gives `<UNKNOWN_RUNBOOK_NAME>`; a truthy non-string id raises in `title()` and
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
pub const FILENAME: &str = "azure_automation_runbook_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Automation.RunbookDeleted",
        display_name: "Azure Automation Runbook Deleted",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure Automation runbook was deleted, which can remove evidence of attacker tooling.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/defense_evasion_azure_automation_runbook_deleted.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1070"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(RunbookDeleted)
}

const RUNBOOK_DELETE_OPERATION: &str = "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct RunbookDeleted;

impl Logic for RunbookDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == RUNBOOK_DELETE_OPERATION && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let unknown = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &unknown);
        let runbook_name = extract_resource_name_from_id(resource_id, "runbooks")?
            .unwrap_or("<UNKNOWN_RUNBOOK_NAME>");
        Ok(Some(format!(
            "Azure Automation Runbook Deleted: [{runbook_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("runbook_name", "runbooks"),
            ("automation_account_name", "automationAccounts"),
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
        // The one matching operation, upper-cased, equals the constant; in pure-ASCII text
        // without escapes the raw spelling holds it in some casing.
        Some(vec![RUNBOOK_DELETE_OPERATION.to_ascii_lowercase()])
    }
}
