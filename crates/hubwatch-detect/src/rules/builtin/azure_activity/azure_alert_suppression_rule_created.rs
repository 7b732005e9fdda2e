//! Port of Panther's `azure_alert_suppression_rule_created.py`
//! (`Azure.MonitorActivity.Security.AlertSuppressionRuleCreated`).
//!
//! `rule()` builds its `all([...])` list eagerly: the operation is upper-cased (raising on a
//! non-string) and compared for equality, and `resultType` must be `Success` or `Succeeded`.
//! The title walks `resourceId` (missing: `<UNKNOWN_RESOURCE>`), raising on a truthy
//! non-string, as the alert context does.

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
pub const FILENAME: &str = "azure_alert_suppression_rule_created.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Security.AlertSuppressionRuleCreated",
        display_name: "Azure Alert Suppression Rule Created or Modified",
        enabled: true,
        severity: Severity::Low,
        description:
            "A Defender for Cloud alert suppression rule was written, which can hide alerts.",
        reference:
            "https://learn.microsoft.com/en-us/azure/defender-for-cloud/alerts-suppression-rules",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0005:T1562"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(AlertSuppressionRuleCreated)
}

const ALERT_SUPPRESSION_WRITE: &str = "MICROSOFT.SECURITY/ALERTSSUPPRESSIONRULES/WRITE";
const MARKER: &str = "alertsSuppressionRules";

#[derive(Debug, Clone, Copy)]
pub struct AlertSuppressionRuleCreated;

impl Logic for AlertSuppressionRuleCreated {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        let success = azure_activity_success(event);
        Ok(operation == ALERT_SUPPRESSION_WRITE && success)
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let rule_name =
            extract_resource_name_from_id(resource_id, MARKER)?.unwrap_or("<UNKNOWN_RULE_NAME>");
        Ok(Some(format!(
            "Azure Alert Suppression Rule Created or Modified: [{rule_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, MARKER)? {
            if !name.is_empty() {
                context.insert("suppression_rule_name".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["alertssuppressionrules/write".to_string()])
    }
}
