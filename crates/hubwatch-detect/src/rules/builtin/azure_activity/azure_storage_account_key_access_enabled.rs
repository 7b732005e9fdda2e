//! Port of Panther's `azure_storage_account_key_access_enabled.py`
//! (`Azure.MonitorActivity.StorageAccount.SharedKeyAccessEnabled`).
//!
//! `rule()` is `all([...])` over a list, so every condition is evaluated, in order, whatever
//! the operation: the upper-casing of a non-string `operationName` raises first, then the
//! plain `.get`s on the request body (`properties.requestbody`, parsed only when a JSON
//! string, else `{}`) raise when it, or a present `properties` inside it, is not a dict.
//! `allowSharedKeyAccess` must be JSON `true` (`is True`) and `location` missing or null.

use super::helpers::request_body;
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
pub const FILENAME: &str = "azure_storage_account_key_access_enabled.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.SharedKeyAccessEnabled",
        display_name: "Azure Storage Account Shared Key Access Enabled",
        enabled: true,
        severity: Severity::Medium,
        description: "A storage account update turned shared key authorization on, letting account keys grant full data access.",
        reference: "https://orca.security/resources/blog/azure-shared-key-authorization-exploitation/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0006:T1098"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(SharedKeyAccessEnabled)
}

const STORAGE_ACCOUNT_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE";

#[derive(Debug, Clone, Copy)]
pub struct SharedKeyAccessEnabled;

impl Logic for SharedKeyAccessEnabled {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let requestbody = request_body(event)?;
        let operation = py::upper(py::get_or(f, "operationName", &EMPTY))?;
        let no_properties = Value::Object(Map::new());
        let properties = py::plain_dict_get_or(&requestbody, "properties", &no_properties)?;
        let shared_key = py::plain_dict_get(properties, "allowSharedKeyAccess")?;
        let location = py::plain_dict_get(&requestbody, "location")?;
        let conditions = [
            operation == STORAGE_ACCOUNT_WRITE,
            matches!(shared_key, Some(Value::Bool(true))),
            location.is_none_or(Value::is_null),
            azure_activity_success(event),
        ];
        Ok(conditions.iter().all(|c| *c))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage Account shared key access enabled on [{storage_account}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match's operation name is the constant in some ASCII casing.
        Some(vec![STORAGE_ACCOUNT_WRITE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(v: Value) -> Result<bool, RuleError> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        SharedKeyAccessEnabled.matches(&Record::new(&m))
    }

    #[test]
    fn every_condition_is_evaluated() {
        let body = |b: Value| json!({"requestbody": b.to_string()});
        let op = "Microsoft.Storage/storageAccounts/write";
        let on = json!({"properties": {"allowSharedKeyAccess": true}});
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "Success", "properties": body(on)})),
            Ok(true)
        );
        // Another operation still has its request body read, which raises on a non-dict.
        assert!(eval(json!({"operationName": "x", "properties": body(json!([1]))})).is_err());
        assert!(
            eval(json!({"operationName": "x", "properties": body(json!({"properties": 1}))}))
                .is_err()
        );
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "Success",
                "properties": body(json!({"properties": {"allowSharedKeyAccess": 1}}))})),
            Ok(false)
        );
    }
}
