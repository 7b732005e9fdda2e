//! Port of Panther's `azure_serverless_execution.py`
//! (`Azure.MonitorActivity.Automation.ServerlessExecution`).
//!
//! `rule()` upper-cases the operation (raising on a non-string) and requires a runbook job
//! write or a function app host action with a successful `resultType`. Title and alert context
//! name the resource from the segment that fits the operation; a truthy non-string
//! `resourceId` raises in the context's shared helper, and in the title only when a segment is
//! looked up.

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
pub const FILENAME: &str = "azure_serverless_execution.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Automation.ServerlessExecution",
        display_name: "Azure Serverless Script Execution",
        enabled: true,
        severity: Severity::Info,
        description:
            "Code ran through an Azure Automation runbook job or a Function App host action.",
        reference:
            "https://microsoft.github.io/Azure-Threat-Research-Matrix/Execution/AZT302/AZT302/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0002:T1059", "TA0002:T1651"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(ServerlessExecution)
}

const RUNBOOK_JOB_WRITE: &str = "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/JOBS/WRITE";
const FUNCTION_APP_ACTION: &str = "MICROSOFT.WEB/SITES/HOSTRUNTIME/HOST/ACTION";

#[derive(Debug, Clone, Copy)]
pub struct ServerlessExecution;

fn operation(event: &Record) -> Result<String, RuleError> {
    py::upper(py::get_or(event.fields(), "operationName", &EMPTY))
}

impl Logic for ServerlessExecution {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = operation(event)?;
        let known = operation == RUNBOOK_JOB_WRITE || operation == FUNCTION_APP_ACTION;
        Ok(known && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let operation = operation(event)?;
        let (technique, resource_name) = if operation == RUNBOOK_JOB_WRITE {
            (
                "Automation Runbook Job",
                extract_resource_name_from_id(resource_id, "automationAccounts")?
                    .unwrap_or("<UNKNOWN_ACCOUNT>"),
            )
        } else if operation == FUNCTION_APP_ACTION {
            (
                "Function App",
                extract_resource_name_from_id(resource_id, "sites")?.unwrap_or("<UNKNOWN_APP>"),
            )
        } else {
            ("Serverless", "<UNKNOWN_RESOURCE>")
        };
        Ok(Some(format!(
            "Azure {technique} Execution detected on [{resource_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let operation = operation(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let (resource_type, names): (&str, &[(&str, &str)]) = if operation == RUNBOOK_JOB_WRITE {
            (
                "Automation Runbook Job",
                &[
                    ("automation_account", "automationAccounts"),
                    ("runbook_name", "runbooks"),
                    ("job_id", "jobs"),
                ],
            )
        } else if operation == FUNCTION_APP_ACTION {
            ("Function App", &[("function_app_name", "sites")])
        } else {
            return Ok(context);
        };
        context.insert("resource_type".into(), py::s(resource_type));
        for (key, marker) in names {
            if let Some(name) = extract_resource_name_from_id(resource_id, marker)? {
                if !name.is_empty() {
                    context.insert((*key).into(), py::s(name));
                }
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec![
            "automationaccounts/jobs/write".to_string(),
            "sites/hostruntime/host/action".to_string(),
        ])
    }
}
