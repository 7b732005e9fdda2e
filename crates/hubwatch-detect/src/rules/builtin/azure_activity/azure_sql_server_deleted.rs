//! Port of Panther's `azure_sql_server_deleted.py` (`Azure.MonitorActivity.SQL.ServerDeleted`).
//!
//! The operation is upper-cased (a non-string raises in `rule()`) and compared for equality;
//! the server is the segment after `servers` in the resource id, kept even when empty. A truthy
//! non-string resource id raises in `title()` and `alert_context()`.

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
pub const FILENAME: &str = "azure_sql_server_deleted.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.SQL.ServerDeleted",
        display_name: "Azure SQL Server Deleted",
        enabled: true,
        severity: Severity::Info,
        description: "An Azure SQL server, with all of its databases, was deleted.",
        reference: "https://docs.datadoghq.com/security/default_rules/ab7-bv8-6bt/",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &["resourceId", "callerIpAddress", "correlationId"],
        mitre: &["TA0040:T1485", "TA0040:T1490"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(SqlServerDeleted)
}

const SQL_SERVER_DELETE: &str = "MICROSOFT.SQL/SERVERS/DELETE";

#[derive(Debug, Clone, Copy)]
pub struct SqlServerDeleted;

impl Logic for SqlServerDeleted {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let operation = py::upper(py::get_or(event.fields(), "operationName", &EMPTY))?;
        Ok(operation == SQL_SERVER_DELETE && azure_activity_success(event))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        let sql_server = extract_resource_name_from_id(resource_id, "servers")?
            .unwrap_or("<UNKNOWN_SQL_SERVER>");
        Ok(Some(format!("Azure SQL Server deleted [{sql_server}]")))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut context = azure_activity_alert_context(event)?;
        let resource_id = py::get_or(event.fields(), "resourceId", &EMPTY);
        if let Some(name) = extract_resource_name_from_id(resource_id, "resourceGroups")? {
            if !name.is_empty() {
                context.insert("resource_group".into(), py::s(name));
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        Some(vec![SQL_SERVER_DELETE.to_ascii_lowercase()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semantics() {
        let Value::Object(m) = json!({
            "operationName": "Microsoft.Sql/servers/delete",
            "resultType": "Success",
            "resourceId": "/s/providers/Microsoft.Sql/servers/db1",
        }) else {
            unreachable!("object")
        };
        let r = Record::new(&m);
        assert_eq!(SqlServerDeleted.matches(&r), Ok(true));
        assert_eq!(
            SqlServerDeleted.title(&r),
            Ok(Some("Azure SQL Server deleted [db1]".to_string()))
        );
    }
}
