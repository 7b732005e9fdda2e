//! Port of Panther's `azure_storage_https_only_disabled.py`
//! (`Azure.MonitorActivity.StorageAccount.HttpsOnlyDisabled`).
//!
//! `properties.requestbody` is parsed only when it is a JSON string (a nested object gives
//! `{}`); the parsed value is a *plain* Python object, so its lookups are case-sensitive and a
//! non-dict on the way raises. `rule()` is `all([...])` over a list, so every check is
//! evaluated. `supportsHttpsTrafficOnly` must be JSON `false` itself (`is False`); a `location`
//! in the request body (account creation) excludes the record.

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
pub const FILENAME: &str = "azure_storage_https_only_disabled.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.HttpsOnlyDisabled",
        display_name: "Azure Storage Account HTTPS-Only Traffic Disabled",
        enabled: true,
        severity: Severity::High,
        description: "An existing storage account was changed to accept unencrypted HTTP traffic.",
        reference:
            "https://learn.microsoft.com/en-us/azure/storage/common/storage-require-secure-transfer",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0009:T1071"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(HttpsOnlyDisabled)
}

const STORAGE_ACCOUNT_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE";

#[derive(Debug, Clone, Copy)]
pub struct HttpsOnlyDisabled;

impl Logic for HttpsOnlyDisabled {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let requestbody = request_body(event)?;
        let is_write = py::upper(py::get_or(f, "operationName", &EMPTY))? == STORAGE_ACCOUNT_WRITE;
        // `.get("properties", {})`: a missing key gives `{}`, whose `.get` gives None.
        let https_only = match py::plain_dict_get(&requestbody, "properties")? {
            Some(props) => py::plain_dict_get(props, "supportsHttpsTrafficOnly")?,
            None => None,
        };
        let disabled = matches!(https_only, Some(Value::Bool(false)));
        let no_location = py::plain_dict_get(&requestbody, "location")?.is_none_or(Value::is_null);
        let checks = [
            is_write,
            disabled,
            no_location,
            azure_activity_success(event),
        ];
        Ok(checks.iter().all(|c| *c))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage Account HTTPS-only traffic disabled on [{storage_account}]"
        )))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        azure_activity_alert_context(event)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec![STORAGE_ACCOUNT_WRITE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(body: Value) -> Result<bool, RuleError> {
        let Value::Object(m) = json!({
            "operationName": "Microsoft.Storage/storageAccounts/write",
            "resultType": "Succeeded",
            "properties": {"requestBody": body},
        }) else {
            unreachable!("object")
        };
        HttpsOnlyDisabled.matches(&Record::new(&m))
    }

    #[test]
    fn request_body_semantics() {
        assert_eq!(
            eval(json!(
                r#"{"properties": {"supportsHttpsTrafficOnly": false}}"#
            )),
            Ok(true)
        );
        // `is False`: 0 is not False.
        assert_eq!(
            eval(json!(r#"{"properties": {"supportsHttpsTrafficOnly": 0}}"#)),
            Ok(false)
        );
        assert_eq!(
            eval(json!(
                r#"{"properties": {"supportsHttpsTrafficOnly": false}, "location": "x"}"#
            )),
            Ok(false)
        );
        assert!(eval(json!(r#"{"properties": "x"}"#)).is_err());
        assert!(eval(json!("3")).is_err());
        assert_eq!(
            eval(json!({"properties": {"supportsHttpsTrafficOnly": false}})),
            Ok(false)
        );
    }
}
