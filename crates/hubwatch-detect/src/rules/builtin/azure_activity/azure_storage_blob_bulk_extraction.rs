//! Port of Panther's `azure_storage_blob_bulk_extraction.py`
//! (`Azure.MonitorActivity.Storage.Blob.BulkExtraction`).
//!
//! The upper-cased operation (a non-string raises) must be `GETBLOB` and
//! `properties.metricResponseType` exactly `Success`. `extract_caller_ip` reproduces Python on
//! any type: a falsy caller gives `""`; `":" in caller` is a substring test on a string, element
//! membership on a list and key membership on an object, and raises on a number or `true`; a
//! list or object without `":"` is returned as is (and rendered as Panther's wrapper). The
//! severity lower-cases `properties.userAgentHeader` (a non-string raises: the YAML severity).

use super::helpers::extract_caller_ip;
use super::helpers::{
    azure_activity_alert_context, azure_resource_logs_success, extract_resource_name_from_id,
};
use crate::record::Record;
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_storage_blob_bulk_extraction.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.Blob.BulkExtraction",
        display_name: "Azure Storage Blob Bulk Extraction",
        enabled: true,
        severity: Severity::Medium,
        description: "Many blobs were read from one storage account by one caller in a short time.",
        reference:
            "https://learn.microsoft.com/en-us/azure/defender-for-cloud/alerts-azure-storage",
        dedup_period_minutes: Some(15),
        threshold: Some(50),
        create_alert: true,
        summary_attributes: &["callerIpAddress", "resourceId", "properties:objectKey"],
        mitre: &["TA0010:T1567", "TA0009:T1530"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(BlobBulkExtraction)
}

const SUSPICIOUS_AGENTS: [&str; 6] = ["python", "curl", "wget", "powershell", "bash", "script"];

/// `extract_caller_ip(event) or fallback`, rendered as an f-string renders it.
fn caller_ip_or(event: &Record, fallback: &str) -> Result<String, RuleError> {
    let ip = extract_caller_ip(event)?;
    Ok(if py::truthy(&ip) {
        py::str_of(&ip)
    } else {
        fallback.to_string()
    })
}

/// `extract_resource_name_from_id(resource_id, "storageAccounts", default=d) if resource_id else d`.
fn storage_account_or<'a>(event: &'a Record, fallback: &'a str) -> Result<&'a str, RuleError> {
    let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
    if !py::truthy(resource_id) {
        return Ok(fallback);
    }
    Ok(extract_resource_name_from_id(resource_id, "storageAccounts")?.unwrap_or(fallback))
}

#[derive(Debug, Clone, Copy)]
pub struct BlobBulkExtraction;

impl Logic for BlobBulkExtraction {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        if operation != "GETBLOB" {
            return Ok(false);
        }
        Ok(azure_resource_logs_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let caller_ip = caller_ip_or(event, "<UNKNOWN_IP>")?;
        let storage_account = storage_account_or(event, "<UNKNOWN_ACCOUNT>")?;
        Ok(Some(format!(
            "Unusual volume of blobs extracted from Azure Storage account [{storage_account}] \
             by [{caller_ip}]"
        )))
    }

    fn dedup(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let caller_ip = caller_ip_or(event, "unknown")?;
        let storage_account = storage_account_or(event, "unknown")?;
        Ok(Some(format!("{storage_account}:{caller_ip}")))
    }

    fn severity(&self, event: &Record) -> Option<Result<String, RuleError>> {
        let user_agent =
            py::deep_get_or(event.fields(), &["properties", "userAgentHeader"], &EMPTY);
        Some(py::lower(user_agent).map(|ua| {
            if SUSPICIOUS_AGENTS.iter().any(|agent| ua.contains(agent)) {
                "HIGH".to_string()
            } else {
                "MEDIUM".to_string()
            }
        }))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let f = event.fields();
        let unknown = py::s("<UNKNOWN>");
        for (key, field) in [
            ("blob_path", "objectKey"),
            ("user_agent", "userAgentHeader"),
        ] {
            let v = py::deep_get_or(f, &["properties", field], &unknown);
            context.insert(key.into(), v.clone());
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec!["getblob".to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_caller(caller: Value) -> Map<String, Value> {
        let Value::Object(m) = json!({
            "operationName": "GetBlob",
            "callerIpAddress": caller,
            "resourceId": "/s/storageAccounts/acct/blobServices/default",
            "properties": {"metricResponseType": "Success", "userAgentHeader": "curl/8"},
        }) else {
            unreachable!("object")
        };
        m
    }

    #[test]
    fn caller_ip_semantics() {
        let title = |caller: Value| {
            let m = with_caller(caller);
            let r = Record::new(&m);
            assert_eq!(BlobBulkExtraction.matches(&r), Ok(true));
            BlobBulkExtraction.dedup(&r).ok().flatten()
        };
        assert_eq!(title(json!("1.2.3.4:443")).as_deref(), Some("acct:1.2.3.4"));
        assert_eq!(title(json!(":443")).as_deref(), Some("acct:unknown"));
        assert_eq!(title(json!(0)).as_deref(), Some("acct:unknown"));
        assert_eq!(title(json!(7)), None);
        assert_eq!(
            title(json!(["a"])).as_deref(),
            Some("acct:ImmutableList(('a',))")
        );
        assert_eq!(title(json!([":"])), None);
        let m = with_caller(json!("1.2.3.4"));
        assert_eq!(
            BlobBulkExtraction.severity(&Record::new(&m)),
            Some(Ok("HIGH".to_string()))
        );
    }
}
