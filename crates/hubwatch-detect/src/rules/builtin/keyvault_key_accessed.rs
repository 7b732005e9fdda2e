//! Panther's `Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered`, reproduced exactly.
//!
//! Semantics (see `../shared/notes/panther-rule-semantics.md` and the README): the operation is
//! upper-cased (Unicode, as Python's `str.upper`) and compared for equality; `resultType` must be
//! `Success` or `Succeeded`, case-sensitively; defaults apply only to missing keys; anything that
//! would raise in Python (a non-string operation name, a non-string truthy resource id) is a rule
//! error and raises no alert.

use crate::record::{python_str, truthy, Record};
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_keyvault_key_accessed_or_recovered.py";

const OPERATIONS: [(&str, &str); 3] = [
    ("MICROSOFT.KEYVAULT/VAULTS/KEYS/READ/ACTION", "read"),
    ("MICROSOFT.KEYVAULT/VAULTS/KEYS/RESTORE/ACTION", "restored"),
    ("MICROSOFT.KEYVAULT/VAULTS/KEYS/RECOVER/ACTION", "recovered"),
];

const SUCCESS: [&str; 2] = ["Success", "Succeeded"];

#[derive(Debug, Clone, Copy)]
pub struct KeyVaultKeyAccessed;

impl KeyVaultKeyAccessed {
    /// `event.get("operationName", "").upper()`, and the action word if it is a key operation.
    fn action(record: &Record) -> Result<Option<&'static str>, RuleError> {
        let op = match record.get("operationName") {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(RuleError(format!(
                    "operationName is {}, not a string ('{}' object has no attribute 'upper')",
                    json_kind(other),
                    python_type(other)
                )))
            }
        };
        let upper = op.to_uppercase();
        Ok(OPERATIONS
            .iter()
            .find(|(name, _)| *name == upper)
            .map(|(_, action)| *action))
    }
}

impl Logic for KeyVaultKeyAccessed {
    fn matches(&self, record: &Record) -> Result<bool, RuleError> {
        if Self::action(record)?.is_none() {
            return Ok(false);
        }
        Ok(
            matches!(record.get("resultType"), Some(Value::String(s)) if SUCCESS.contains(&s.as_str())),
        )
    }

    fn title(&self, record: &Record) -> Result<Option<String>, RuleError> {
        let action = Self::action(record)?.unwrap_or("accessed");
        let empty = Value::String(String::new());
        let vault = segment_after(record.get_or("resourceId", &empty), "vaults")?.unwrap_or("");
        let caller = match record.get("callerIpAddress") {
            Some(v) => python_str(v),
            None => "<UNKNOWN_CALLER>".to_string(),
        };
        Ok(Some(format!(
            "Azure Key Vault key {action} from [{vault}] by [{caller}]"
        )))
    }

    fn alert_context(&self, record: &Record) -> Result<Map<String, Value>, RuleError> {
        let mut ctx = Map::new();
        let field = |key: &str, default: &str| {
            record
                .get(key)
                .cloned()
                .unwrap_or_else(|| Value::String(default.to_string()))
        };
        let resource_id = field("resourceId", "<UNKNOWN_RESOURCE_ID>");
        ctx.insert("resource_id".into(), resource_id.clone());
        ctx.insert(
            "caller_ip".into(),
            field("callerIpAddress", "<UNKNOWN_CALLER_IP>"),
        );
        ctx.insert(
            "operation_name".into(),
            field("operationName", "<UNKNOWN_OPERATION_NAME>"),
        );
        ctx.insert(
            "result_type".into(),
            field("resultType", "<UNKNOWN_RESULT_TYPE>"),
        );
        ctx.insert(
            "correlation_id".into(),
            field("correlationId", "<UNKNOWN_CORRELATION_ID>"),
        );
        ctx.insert("location".into(), field("location", "<UNKNOWN_LOCATION>"));
        ctx.insert("tenant_id".into(), field("tenantId", "<UNKNOWN_TENANT_ID>"));
        let mut put_segment = |key: &str, marker: &str| -> Result<(), RuleError> {
            if let Some(seg) = segment_after(&resource_id, marker)? {
                if !seg.is_empty() {
                    ctx.insert(key.into(), Value::String(seg.to_string()));
                }
            }
            Ok(())
        };
        put_segment("storage_account_name", "storageAccounts")?;
        put_segment("resource_group", "resourceGroups")?;
        if let Some(props) = record.get("properties").filter(|p| truthy(p)) {
            ctx.insert("properties".into(), props.clone());
        }
        if let Some(seg) = segment_after(&resource_id, "vaults")? {
            if !seg.is_empty() {
                ctx.insert("keyvault_name".into(), Value::String(seg.to_string()));
            }
        }
        if let Some(seg) = segment_after(&resource_id, "keys")? {
            if !seg.is_empty() {
                ctx.insert("key_name".into(), Value::String(seg.to_string()));
            }
        }
        Ok(ctx)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // Every matching operation, upper-cased, contains KEYS/RE; in pure-ASCII text without
        // escapes the raw spelling contains it too, in some casing.
        Some(vec!["keys/re".to_string()])
    }
}

/// The segment after the first segment equal (ignoring case) to `marker` that has a successor.
///
/// A falsy resource id (missing-with-empty-default, `null`, `""`) has no segments, like the
/// Python helper's `if not resource_id`; any other non-string cannot be split and is an error.
fn segment_after<'v>(resource_id: &'v Value, marker: &str) -> Result<Option<&'v str>, RuleError> {
    let id = match resource_id {
        Value::String(s) => s.as_str(),
        v if !truthy(v) => return Ok(None),
        other => {
            return Err(RuleError(format!(
                "resourceId is {}, not a string ('{}' object has no attribute 'split')",
                json_kind(other),
                python_type(other)
            )))
        }
    };
    let mut parts = id.split('/').peekable();
    while let Some(part) = parts.next() {
        let is_marker = if part.is_ascii() {
            part.eq_ignore_ascii_case(marker)
        } else {
            part.to_lowercase() == marker.to_ascii_lowercase()
        };
        if is_marker {
            if let Some(next) = parts.peek() {
                return Ok(Some(next));
            }
        }
    }
    Ok(None)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "ImmutableCaseInsensitiveDict",
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
        KeyVaultKeyAccessed.matches(&Record::new(&m))
    }

    #[test]
    fn matching_semantics() {
        let op = "Microsoft.KeyVault/vaults/keys/read/action";
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "Success"})),
            Ok(true)
        );
        assert_eq!(
            eval(json!({"OPERATIONNAME": op.to_uppercase(), "RESULTTYPE": "Succeeded"})),
            Ok(true)
        );
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "success"})),
            Ok(false)
        );
        assert_eq!(
            eval(json!({"operationName": op, "resultType": "Succeeded "})),
            Ok(false)
        );
        assert_eq!(
            eval(json!({"operationName": format!(" {op}"), "resultType": "Success"})),
            Ok(false)
        );
        assert_eq!(eval(json!({"operationName": op})), Ok(false));
        assert_eq!(eval(json!({"resultType": "Success"})), Ok(false));
        assert!(eval(json!({"operationName": null, "resultType": "Success"})).is_err());
        assert!(eval(json!({"operationName": 5, "resultType": "Success"})).is_err());
        // Python upper-cases the long s to S.
        assert_eq!(
            eval(
                json!({"operationName": "microſoft.keyvault/vaults/keys/recover/action", "resultType": "Success"})
            ),
            Ok(true)
        );
    }

    #[test]
    fn segments() {
        let id = json!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/VAULTS/MyVault/keys/k1");
        assert_eq!(segment_after(&id, "vaults"), Ok(Some("MyVault")));
        assert_eq!(segment_after(&id, "keys"), Ok(Some("k1")));
        assert_eq!(segment_after(&json!("/a/vaults"), "vaults"), Ok(None));
        assert_eq!(
            segment_after(&json!("/vaults/x/vaults"), "vaults"),
            Ok(Some("x"))
        );
        assert_eq!(segment_after(&Value::Null, "vaults"), Ok(None));
        assert!(segment_after(&json!(7), "vaults").is_err());
    }
}
