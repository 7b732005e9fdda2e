//! Port of Panther's `azure_restore_point_collection_deleted.py`
//! (`Azure.MonitorActivity.Compute.RestorePointCollectionDeleted`).
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
pub const FILENAME: &str = "azure_restore_point_collection_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Compute.RestorePointCollectionDeleted",
        display_name: "Azure Restore Point Collection Deleted",
        enabled: true,
        severity: Severity::Medium,
        description: "A virtual machine restore point collection was deleted, removing recovery points.",
        reference: "https://github.com/elastic/detection-rules/blob/main/rules/integrations/azure/impact_azure_virtual_machine_restore_point_collection_deleted.toml",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId", "location"],
        mitre: &["TA0040:T1490", "TA0040:T1485"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(RestorePointCollectionDeleted)
}

const RESTORE_POINT_DELETE: &str = "MICROSOFT.COMPUTE/RESTOREPOINTCOLLECTIONS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct RestorePointCollectionDeleted;

impl Logic for RestorePointCollectionDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == RESTORE_POINT_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let default = py::s("<UNKNOWN_RESOURCE>");
        let resource_id = py::get_or(event.fields(), "resourceId", &default);
        let collection_name =
            extract_resource_name_from_id(resource_id, "restorePointCollections")?
                .unwrap_or("<UNKNOWN_COLLECTION>");
        Ok(Some(format!(
            "Azure Restore Point Collection Deleted: [{collection_name}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(group) = extract_resource_name_from_id(resource_id, "resourceGroups")? {
            if !group.is_empty() {
                context.insert("resource_group".into(), py::s(group));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["restorepointcollections/delete".to_string()])
    }
}
