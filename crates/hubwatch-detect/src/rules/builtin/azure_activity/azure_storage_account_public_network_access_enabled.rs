//! Port of Panther's `azure_storage_account_public_network_access_enabled.py`
//! (`Azure.MonitorActivity.StorageAccount.PublicNetworkAccessEnabled`).
//!
//! `properties.requestbody` is parsed only when it is a JSON string (a nested object gives
//! `{}`); the parsed value is a *plain* Python object, so its lookups are case-sensitive and a
//! non-dict on the way (`null`, a list, a string...) raises. `rule()` is `all([...])` over a
//! list, so every check is evaluated: a request body that raises does so whatever the operation.
//! A `location` in the request body (account creation) excludes the record.

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
pub const FILENAME: &str = "azure_storage_account_public_network_access_enabled.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.StorageAccount.PublicNetworkAccessEnabled",
        display_name: "Azure Storage Account Public Network Access Enabled",
        enabled: true,
        severity: Severity::High,
        description:
            "An existing storage account's network rules were changed to allow access by default.",
        reference: "https://www.mitiga.io/blog/ransomware-strikes-azure-storage-are-you-ready",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0010:T1567"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(PublicNetworkAccessEnabled)
}

const STORAGE_ACCOUNT_WRITE: &str = "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE";

#[derive(Debug, Clone, Copy)]
pub struct PublicNetworkAccessEnabled;

impl Logic for PublicNetworkAccessEnabled {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let requestbody = request_body(event)?;
        let is_write = py::upper(py::get_or(f, "operationName", &EMPTY))? == STORAGE_ACCOUNT_WRITE;
        // `.get("properties", {}).get("networkAcls", {}).get("defaultAction")`: a missing key
        // gives `{}`, whose next `.get` gives None in turn.
        let mut default_action = Some(&requestbody);
        for key in ["properties", "networkAcls", "defaultAction"] {
            default_action = match default_action {
                Some(d) => py::plain_dict_get(d, key)?,
                None => None,
            };
        }
        let allows = default_action.is_some_and(|a| py::eq_str(a, "Allow"));
        let no_location = py::plain_dict_get(&requestbody, "location")?.is_none_or(Value::is_null);
        let checks = [is_write, allows, no_location, azure_activity_success(event)];
        Ok(checks.iter().all(|c| *c))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let storage_account = extract_resource_name_from_id(resource_id, "storageAccounts")?
            .unwrap_or("<UNKNOWN_ACCOUNT>");
        Ok(Some(format!(
            "Azure Storage Account public network access enabled on [{storage_account}] "
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
            "resultType": "Success",
            "properties": {"requestbody": body},
        }) else {
            unreachable!("object")
        };
        PublicNetworkAccessEnabled.matches(&Record::new(&m))
    }

    #[test]
    fn request_body_semantics() {
        let allow = r#"{"properties": {"networkAcls": {"defaultAction": "Allow"}}}"#;
        assert_eq!(eval(json!(allow)), Ok(true));
        // A nested object is not parsed; keys of the parsed body are case-sensitive.
        assert_eq!(
            eval(json!({"properties": {"networkAcls": {"defaultAction": "Allow"}}})),
            Ok(false)
        );
        assert_eq!(
            eval(json!(allow.replace("networkAcls", "NetworkAcls"))),
            Ok(false)
        );
        assert_eq!(
            eval(json!(
                r#"{"properties": {"networkAcls": {"defaultAction": "Allow"}}, "location": null}"#
            )),
            Ok(true)
        );
        assert_eq!(
            eval(json!(
                r#"{"properties": {"networkAcls": {"defaultAction": "Allow"}}, "location": "x"}"#
            )),
            Ok(false)
        );
        assert!(eval(json!(r#"{"properties": null}"#)).is_err());
        assert!(eval(json!("[1]")).is_err());
        assert_eq!(eval(json!("not json")), Ok(false));
    }
}
