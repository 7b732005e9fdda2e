//! Panther's `panther_azureactivity_helpers`, ported function by function.
//!
//! Each function takes what the Python takes and fails where the Python raises (for example
//! `extract_resource_name_from_id` on a truthy resource id that is not a string), so a port
//! that calls them in the Python's order raises the same exception first.

use crate::record::{py_lower, Record};
use crate::rules::py::{self, plain_dict_get, EMPTY};
use crate::rules::RuleError;
use serde_json::{Map, Value};

/// `extract_resource_name_from_id(resource_id, resource_type, default)`: the segment after the
/// first segment equal to `resource_type` ignoring case that has a successor; `None` stands for
/// the caller's default (a falsy id, or no such segment).
pub fn extract_resource_name_from_id<'a>(
    resource_id: &'a Value,
    resource_type: &str,
) -> Result<Option<&'a str>, RuleError> {
    if !py::truthy(resource_id) {
        return Ok(None);
    }
    let Value::String(id) = resource_id else {
        return Err(py::no_attribute(resource_id, "split"));
    };
    let marker = py_lower(resource_type);
    let ascii = marker.is_ascii();
    let mut parts = id.split('/');
    while let Some(part) = parts.next() {
        // Ids are ASCII: compare without lower-casing a copy of each segment.
        let same = if ascii && part.is_ascii() {
            part.eq_ignore_ascii_case(&marker)
        } else {
            py_lower(part) == marker
        };
        if same {
            if let Some(next) = parts.clone().next() {
                return Ok(Some(next));
            }
        }
    }
    Ok(None)
}

/// `azure_activity_alert_context(event)`.
pub fn azure_activity_alert_context(event: &Record) -> Result<Map<String, Value>, RuleError> {
    let f = event.fields();
    let mut ctx = Map::new();
    let mut put = |key: &str, field: &str, default: &str| {
        let v = py::get(f, field).cloned().unwrap_or_else(|| py::s(default));
        ctx.insert(key.to_string(), v);
    };
    put("resource_id", "resourceId", "<UNKNOWN_RESOURCE_ID>");
    put("caller_ip", "callerIpAddress", "<UNKNOWN_CALLER_IP>");
    put(
        "operation_name",
        "operationName",
        "<UNKNOWN_OPERATION_NAME>",
    );
    put("result_type", "resultType", "<UNKNOWN_RESULT_TYPE>");
    put(
        "correlation_id",
        "correlationId",
        "<UNKNOWN_CORRELATION_ID>",
    );
    put("location", "location", "<UNKNOWN_LOCATION>");
    put("tenant_id", "tenantId", "<UNKNOWN_TENANT_ID>");
    let resource_id = py::get_or(f, "resourceId", &EMPTY);
    if let Some(name) = extract_resource_name_from_id(resource_id, "storageAccounts")? {
        if !name.is_empty() {
            ctx.insert("storage_account_name".into(), py::s(name));
        }
    }
    if let Some(name) = extract_resource_name_from_id(resource_id, "resourceGroups")? {
        if !name.is_empty() {
            ctx.insert("resource_group".into(), py::s(name));
        }
    }
    let properties = py::get_or(f, "properties", &EMPTY);
    if py::truthy(properties) {
        ctx.insert("properties".into(), properties.clone());
    }
    Ok(ctx)
}

/// `azure_activity_success(event)`: `resultType` is exactly `Success` or `Succeeded`.
pub fn azure_activity_success(event: &Record) -> bool {
    let result = py::get_or(event.fields(), "resultType", &EMPTY);
    py::eq_str(result, "Success") || py::eq_str(result, "Succeeded")
}

/// `azure_resource_logs_success(event)`: `properties.metricResponseType` is `Success`.
pub fn azure_resource_logs_success(event: &Record) -> bool {
    let v = py::deep_get_or(
        event.fields(),
        &["properties", "metricResponseType"],
        &EMPTY,
    );
    py::eq_str(v, "Success")
}

/// `azure_resource_logs_failure(event)`.
pub fn azure_resource_logs_failure(event: &Record) -> bool {
    !azure_resource_logs_success(event)
}

/// `azure_parse_json_string(json_str)`: a JSON string parsed with `json.loads` (any JSON value,
/// a *plain* Python object), else `{}`.
///
/// A nested object reached through the event is Panther's `ImmutableCaseInsensitiveDict`, which
/// is not a `dict`, so the helper returns `{}` for it too: only strings are parsed.
///
/// See [`py::json_loads`] for where `json.loads` and this differ.
pub fn azure_parse_json_string(json_str: Option<&Value>) -> Result<Value, RuleError> {
    match json_str {
        Some(Value::String(s)) => {
            Ok(py::json_loads(s)?.unwrap_or_else(|| Value::Object(Map::new())))
        }
        _ => Ok(Value::Object(Map::new())),
    }
}

/// `azure_parse_json_string(event.deep_get("properties", "requestbody", default=None))`, what
/// every request-body rule starts from.
pub fn request_body(event: &Record) -> Result<Value, RuleError> {
    azure_parse_json_string(py::deep_get(event.fields(), &["properties", "requestbody"]))
}

/// `extract_caller_ip(event)`, which two upstream rules define alike: `""` for a falsy caller,
/// the part before the first `:` of one that holds a colon (a string, or a list or dict holding
/// the element or key `":"`), else the caller itself.
pub fn extract_caller_ip(event: &Record) -> Result<Value, RuleError> {
    let caller = py::get_or(event.fields(), "callerIpAddress", &EMPTY);
    if !py::truthy(caller) {
        return Ok(py::s(""));
    }
    if py::str_contains(caller, ":")? {
        let parts = py::split(caller, ":")?;
        return Ok(py::s(parts.first().copied().unwrap_or("")));
    }
    Ok(caller.clone())
}

/// `a.get(k1) or a.get(k2)` on a plain dict.
fn plain_get_either<'a>(d: &'a Value, k1: &str, k2: &str) -> Result<Option<&'a Value>, RuleError> {
    let first = plain_dict_get(d, k1)?;
    if first.is_some_and(py::truthy) {
        return Ok(first);
    }
    plain_dict_get(d, k2)
}

/// The request body's `Properties` (or `properties`) when truthy.
fn request_properties(request_body: &Value) -> Result<Option<&Value>, RuleError> {
    if !py::truthy(request_body) {
        return Ok(None);
    }
    Ok(plain_get_either(request_body, "Properties", "properties")?.filter(|p| py::truthy(p)))
}

/// `get_role_definition_id(request_body)`; `None` is Python's `None` (a falsy value found is
/// returned as found, as `a or b` does).
pub fn get_role_definition_id(request_body: &Value) -> Result<Option<&Value>, RuleError> {
    match request_properties(request_body)? {
        None => Ok(None),
        Some(props) => plain_get_either(props, "RoleDefinitionId", "roleDefinitionId"),
    }
}

/// `match_role_name(role_def_id, role_mappings)`: the first mapping whose id, lower-cased, is a
/// substring of `str(role_def_id).lower()`.
pub fn match_role_name(
    role_def_id: Option<&Value>,
    role_mappings: &[(&str, &'static str)],
) -> Option<&'static str> {
    let id = role_def_id.filter(|v| py::truthy(v))?;
    let lowered = py_lower(&py::plain_str_of(id));
    role_mappings
        .iter()
        .find(|(role_id, _)| lowered.contains(&py_lower(role_id)))
        .map(|(_, name)| *name)
}

/// `add_role_assignment_fields(context, request_body)`.
pub fn add_role_assignment_fields(
    context: &mut Map<String, Value>,
    request_body: &Value,
) -> Result<(), RuleError> {
    let Some(props) = request_properties(request_body)? else {
        return Ok(());
    };
    let role_def_id = plain_get_either(props, "RoleDefinitionId", "roleDefinitionId")?;
    let principal_id = plain_get_either(props, "PrincipalId", "principalId")?;
    let principal_type = plain_get_either(props, "PrincipalType", "principalType")?;
    for (key, v) in [
        ("role_definition_id", role_def_id),
        ("principal_id", principal_id),
        ("principal_type", principal_type),
    ] {
        if let Some(v) = v.filter(|v| py::truthy(v)) {
            context.insert(key.to_string(), v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_names() {
        let id = json!("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV");
        assert_eq!(extract_resource_name_from_id(&id, "vaults"), Ok(Some("KV")));
        assert_eq!(
            extract_resource_name_from_id(&id, "resourceGroups"),
            Ok(Some("RG"))
        );
        assert_eq!(
            extract_resource_name_from_id(&json!("/a/vaults"), "vaults"),
            Ok(None)
        );
        assert_eq!(extract_resource_name_from_id(&json!(0), "vaults"), Ok(None));
        assert!(extract_resource_name_from_id(&json!(7), "vaults").is_err());
    }

    #[test]
    fn role_ids() {
        let body = azure_parse_json_string(Some(&json!(
            r#"{"Properties": {"RoleDefinitionId": "/x/roleDefinitions/8E3AF657-A8FF-443C-A75C-2FE8C4BCB635"}}"#
        )))
        .unwrap_or_default();
        let id = get_role_definition_id(&body).ok().flatten();
        let roles = [("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner")];
        assert_eq!(match_role_name(id, &roles), Some("Owner"));
        // A wrapped object from the event is not a dict: the helper gives {}.
        assert_eq!(
            azure_parse_json_string(Some(&json!({"a": 1}))),
            Ok(json!({}))
        );
        assert!(get_role_definition_id(&json!([1])).is_err());
        // json.loads nests past serde_json's usual 128 levels; deeper than Python's recursion
        // limit it raises.
        let nested = |d: usize| json!(format!("{}{}", "[".repeat(d), "]".repeat(d)));
        assert!(azure_parse_json_string(Some(&nested(500))).is_ok_and(|v| v.is_array()));
        assert!(azure_parse_json_string(Some(&nested(2000))).is_err());
    }
}
