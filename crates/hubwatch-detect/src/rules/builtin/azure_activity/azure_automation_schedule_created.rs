//! Port of Panther's `azure_automation_schedule_created.py`
//! (`Azure.MonitorActivity.Automation.ScheduleCreated`).
//!
//! `operationName` is upper-cased and tested for membership in a one-element list (a
//! non-string raises in `rule()`); the title renders `callerIpAddress` as an f-string does
//! (`<UNKNOWN_CALLER>` only when missing) and its resource id defaults to
//! `<UNKNOWN_RESOURCE>`, which names no schedule.

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
pub const FILENAME: &str = "azure_automation_schedule_created.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Automation.ScheduleCreated",
        display_name: "Azure Automation Schedule Created or Modified",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure Automation schedule was written, which can run runbooks repeatedly for persistence.",
        reference: "https://microsoft.github.io/Azure-Threat-Research-Matrix/Persistence/AZT505/AZT505-1",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0003:T1053.005", "TA0004:T1068"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ScheduleCreated)
}

const SCHEDULE_OPERATIONS: &[&str] = &["MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/SCHEDULES/WRITE"];

#[derive(Debug, Clone, Copy)]
pub struct ScheduleCreated;

impl Logic for ScheduleCreated {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(SCHEDULE_OPERATIONS.contains(&operation.as_str()) && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let unknown = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(f, "resourceId", &unknown);
        let caller = py::get(f, "callerIpAddress")
            .map(py::str_of)
            .unwrap_or_else(|| "<UNKNOWN_CALLER>".to_string());
        let schedule_name = extract_resource_name_from_id(resource_id, "schedules")?
            .unwrap_or("<UNKNOWN_SCHEDULE_NAME>");
        Ok(Some(format!(
            "Azure Automation Schedule Created or Modified: [{schedule_name}] by [{caller}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("schedule_name", "schedules"),
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
        // A match's operation name is one of the constants in some ASCII casing.
        Some(
            SCHEDULE_OPERATIONS
                .iter()
                .map(|op| op.to_ascii_lowercase())
                .collect(),
        )
    }
}
