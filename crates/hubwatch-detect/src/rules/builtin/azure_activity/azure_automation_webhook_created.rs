//! Port of Panther's `azure_automation_webhook_created.py`
//! (`Azure.MonitorActivity.Automation.WebhookCreated`).
//!
//! The operation is upper-cased (raising on a non-string) and must be one of the two webhook
//! operations, with a successful `resultType`. The title walks `resourceId` (missing:
//! `<UNKNOWN_RESOURCE>`), raising on a truthy non-string, as the alert context does.

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
pub const FILENAME: &str = "azure_automation_webhook_created.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Automation.WebhookCreated",
        display_name: "Azure Automation Webhook Created",
        enabled: true,
        severity: Severity::Info,
        description: "A webhook that can start an Azure Automation runbook was created.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/persistence_automation_webhook_created.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0003:T1546", "TA0042:T1608"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(AutomationWebhookCreated)
}

const AUTOMATION_WEBHOOK_OPERATIONS: [&str; 2] = [
    "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/WEBHOOKS/ACTION",
    "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/WEBHOOKS/WRITE",
];

#[derive(Debug, Clone, Copy)]
pub struct AutomationWebhookCreated;

impl Logic for AutomationWebhookCreated {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(AUTOMATION_WEBHOOK_OPERATIONS.contains(&operation.as_str())
            && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let webhook_name = extract_resource_name_from_id(resource_id, "webhooks")?
            .unwrap_or("<UNKNOWN_WEBHOOK_NAME>");
        Ok(Some(format!(
            "Azure Automation Webhook Created: [{webhook_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        for (key, marker) in [
            ("webhook_name", "webhooks"),
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
        // Both matching operations hold AUTOMATIONACCOUNTS/WEBHOOKS/.
        Some(vec!["automationaccounts/webhooks/".to_string()])
    }
}
