//! `AlertContext` and `GroupBy`: what a simple detection adds to its alerts.
//!
//! `AlertContext` is a list of `{KeyName: name, KeyValue: {KeyPath: a.b}}` entries (`KeyValue`
//! may use `Key` or `DeepKey` instead). The context holds the entries in the listed order; a
//! missing field gives JSON `null`, a `[*]` path the list of values it reaches, and a repeated
//! `KeyName` keeps its first position with the last value (as a Python dict would).
//!
//! `GroupBy` is a list of key specifiers (`{KeyPath: ...}`, `{Key: ...}`, `{DeepKey: [...]}`)
//! whose values, rendered as Python's `str()` (missing: empty) and joined with `:`, form the
//! dedup string; when all of them are empty the dedup string is empty, and the rule falls back
//! to Panther's `defaultDedupString:{RuleID}`.

use super::expr::{parse_key_spec, yaml_kind};
use super::path::KeyPath;
use super::SimpleError;
use crate::record::python_str;
use serde_json::{Map, Value};
use serde_norway::Value as Yaml;

/// Separator between the `GroupBy` values of a dedup string.
pub const GROUP_BY_SEPARATOR: &str = ":";

/// One `AlertContext` entry.
#[derive(Debug, Clone)]
pub struct ContextEntry {
    pub name: String,
    pub path: KeyPath,
}

/// Parses a mapping holding only a key specifier; `what` names it in messages.
fn parse_spec_mapping(value: &Yaml, what: &str) -> Result<KeyPath, SimpleError> {
    let Yaml::Mapping(map) = value else {
        return Err(SimpleError::new(
            format!(
                "{what} must be a mapping with KeyPath, Key or DeepKey, found {}",
                yaml_kind(value)
            ),
            what,
        ));
    };
    let (mut key, mut deep, mut path) = (None, None, None);
    for (k, v) in map {
        match k {
            Yaml::String(s) if s == "Key" => key = Some(v),
            Yaml::String(s) if s == "DeepKey" => deep = Some(v),
            Yaml::String(s) if s == "KeyPath" => path = Some(v),
            Yaml::String(s) => {
                return Err(SimpleError::new(
                    format!("unknown key {s:?} in {what} (expected KeyPath, Key or DeepKey)"),
                    s.clone(),
                ))
            }
            other => {
                return Err(SimpleError::new(
                    format!("{what} has a key that is {}", yaml_kind(other)),
                    what,
                ))
            }
        }
    }
    if key.is_none() && deep.is_none() && path.is_none() {
        return Err(SimpleError::new(
            format!("{what} needs KeyPath, Key or DeepKey"),
            what,
        ));
    }
    parse_key_spec(key, deep, path)
}

/// Parses `AlertContext`.
pub fn parse_context(value: &Yaml) -> Result<Vec<ContextEntry>, SimpleError> {
    let Yaml::Sequence(items) = value else {
        return Err(SimpleError::new(
            "AlertContext must be a list of {KeyName, KeyValue} entries",
            "AlertContext",
        ));
    };
    let mut entries = Vec::new();
    for item in items {
        let Yaml::Mapping(map) = item else {
            return Err(SimpleError::new(
                format!(
                    "AlertContext entries must be mappings with KeyName and KeyValue, found {}",
                    yaml_kind(item)
                ),
                "AlertContext",
            ));
        };
        let (mut name, mut key_value) = (None, None);
        for (k, v) in map {
            match k {
                Yaml::String(s) if s == "KeyName" => name = Some(v),
                Yaml::String(s) if s == "KeyValue" => key_value = Some(v),
                Yaml::String(s) => {
                    return Err(SimpleError::new(
                        format!(
                            "unknown key {s:?} in AlertContext entry (expected KeyName, KeyValue)"
                        ),
                        s.clone(),
                    ))
                }
                other => {
                    return Err(SimpleError::new(
                        format!("AlertContext entry has a key that is {}", yaml_kind(other)),
                        "AlertContext",
                    ))
                }
            }
        }
        let name = match name {
            Some(Yaml::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(SimpleError::new(
                    format!(
                        "AlertContext KeyName must be a non-empty string, found {}",
                        yaml_kind(other)
                    ),
                    "KeyName",
                ))
            }
            None => {
                return Err(SimpleError::new(
                    "AlertContext entry has no KeyName",
                    "AlertContext",
                ))
            }
        };
        let Some(key_value) = key_value else {
            return Err(SimpleError::new(
                format!("AlertContext entry {name:?} has no KeyValue"),
                name,
            ));
        };
        let path = parse_spec_mapping(key_value, "KeyValue").map_err(|e| {
            SimpleError::new(format!("AlertContext {name:?}: {}", e.message), e.anchor)
        })?;
        entries.push(ContextEntry { name, path });
    }
    Ok(entries)
}

/// Parses `GroupBy`.
pub fn parse_group_by(value: &Yaml) -> Result<Vec<KeyPath>, SimpleError> {
    let Yaml::Sequence(items) = value else {
        return Err(SimpleError::new(
            "GroupBy must be a list of key specifiers such as {KeyPath: a.b}",
            "GroupBy",
        ));
    };
    if items.is_empty() {
        return Err(SimpleError::new("GroupBy is an empty list", "GroupBy"));
    }
    items
        .iter()
        .map(|item| parse_spec_mapping(item, "GroupBy entry"))
        .collect()
}

/// The alert context of a record.
pub fn context(entries: &[ContextEntry], record: &Map<String, Value>) -> Map<String, Value> {
    let mut ctx = Map::new();
    for entry in entries {
        ctx.insert(
            entry.name.clone(),
            entry.path.value(record).unwrap_or(Value::Null),
        );
    }
    ctx
}

/// The dedup string of a record.
///
/// When every value is missing or renders empty the result is empty, so that the rule falls
/// back to Panther's default dedup string instead of grouping unrelated records under `::`.
pub fn group_key(paths: &[KeyPath], record: &Map<String, Value>) -> String {
    let parts: Vec<String> = paths
        .iter()
        .map(|p| p.value(record).map(|v| python_str(&v)).unwrap_or_default())
        .collect();
    if parts.iter().all(String::is_empty) {
        return String::new();
    }
    parts.join(GROUP_BY_SEPARATOR)
}
