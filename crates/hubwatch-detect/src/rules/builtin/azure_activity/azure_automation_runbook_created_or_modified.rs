//! Port of Panther's `azure_automation_runbook_created_or_modified.py`
//! (`Azure.MonitorActivity.Automation.RunbookCreatedOrModified`).
//!
//! The operation is upper-cased (raising on a non-string) and must be one of the three runbook
//! operations, with a successful `resultType`. The title walks `resourceId` (missing:
//! `<UNKNOWN_RESOURCE_ID>`) before it upper-cases the operation again; a truthy non-string
//! `resourceId` raises in the title and the alert context.

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
pub const FILENAME: &str = "azure_automation_runbook_created_or_modified.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Automation.RunbookCreatedOrModified",
        display_name: "Azure Automation Runbook Created or Modified",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure Automation runbook was written, had a draft written, or was published.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/execution_azure_automation_runbook_created_or_modified.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0003:T1078.004", "TA0002:T1059"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(RunbookCreatedOrModified)
}

const RUNBOOK_OPERATIONS: [&str; 3] = [
    "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/DRAFT/WRITE",
    "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/WRITE",
    "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/PUBLISH/ACTION",
];

#[derive(Debug, Clone, Copy)]
pub struct RunbookCreatedOrModified;

impl Logic for RunbookCreatedOrModified {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(RUNBOOK_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let default = py::s("<UNKNOWN_RESOURCE_ID>");
        let resource_id = py::get_or(f, "resourceId", &default);
        let runbook_name = extract_resource_name_from_id(resource_id, "runbooks")?
            .unwrap_or("<UNKNOWN_RUNBOOK_NAME>");
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let action = if operation.contains("PUBLISH") {
            "Published"
        } else if operation.contains("DRAFT") {
            "Draft Created"
        } else {
            "Modified"
        };
        Ok(Some(format!(
            "Azure Automation Runbook {action}: [{runbook_name}]"
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
        // Every matching operation holds AUTOMATIONACCOUNTS/RUNBOOKS/.
        Some(vec!["automationaccounts/runbooks/".to_string()])
    }
}
