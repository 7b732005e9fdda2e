//! Port of Panther's `azure_automation_account_created.py`
//! (`Azure.MonitorActivity.Automation.AccountCreated`).
//!
//! The operation is upper-cased (raising on a non-string) and compared for equality, with a
//! successful `resultType`. The title walks `resourceId` (missing: `<UNKNOWN_RESOURCE>`),
//! raising on a truthy non-string, as the alert context does.

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
pub const FILENAME: &str = "azure_automation_account_created.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Automation.AccountCreated",
        display_name: "Azure Automation Account Created",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure Automation account was created or written.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/persistence_automation_account_created.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0003:T1078", "TA0005:T1078"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(AutomationAccountCreated)
}

const AUTOMATION_ACCOUNT_WRITE: &str = "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/WRITE";
const MARKER: &str = "automationAccounts";

#[derive(Debug, Clone, Copy)]
pub struct AutomationAccountCreated;

impl Logic for AutomationAccountCreated {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == AUTOMATION_ACCOUNT_WRITE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let account_name =
            extract_resource_name_from_id(resource_id, MARKER)?.unwrap_or("<UNKNOWN_ACCOUNT>");
        Ok(Some(format!(
            "Azure Automation Account Created: [{account_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, MARKER)? {
            if !name.is_empty() {
                context.insert("automation_account_name".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["automation/automationaccounts/write".to_string()])
    }
}
