//! `HUBWATCH_*` environment overrides: a variable names a key path with `__` between levels
//! and its value is read as TOML when it parses as such, else as a string. A value read as a
//! number or boolean for a key that takes a string (`HUBWATCH_SINKS__0__NAME=2024`) is given
//! to it as the string it was ([`Override::as_string`]).

use super::{ConfigError, ENV_PREFIX};

/// One applied override, kept to name it in errors and to retry it as a string.
pub(super) struct Override {
    pub var: String,
    path: Vec<String>,
    raw: String,
    /// Whether the value was read as something other than a string.
    typed: bool,
}

impl Override {
    /// The key as deserialization errors name it: `sinks[0].name`.
    pub(super) fn key(&self) -> String {
        let mut key = String::new();
        for seg in &self.path {
            if seg.parse::<usize>().is_ok() {
                key.push_str(&format!("[{seg}]"));
            } else {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(seg);
            }
        }
        key
    }

    /// Sets the value again as the string it was written as; false when it already was one.
    pub(super) fn as_string(&mut self, tree: &mut toml::Table) -> bool {
        if !self.typed {
            return false;
        }
        self.typed = false;
        set(tree, &self.path, toml::Value::String(self.raw.clone())).is_ok()
    }
}

pub(super) fn apply_env(
    tree: &mut toml::Table,
    var: &str,
    value: &str,
) -> Result<Override, ConfigError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|p| p.to_ascii_lowercase())
        .collect();
    let parsed = parse_env_value(value);
    let typed = !parsed.is_str();
    set(tree, &path, parsed).map_err(|message| ConfigError::Env {
        var: var.to_string(),
        message,
    })?;
    Ok(Override {
        var: var.to_string(),
        path,
        raw: value.to_string(),
        typed,
    })
}

fn set(tree: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let mut root = toml::Value::Table(std::mem::take(tree));
    let result = set_path(&mut root, path, value);
    if let toml::Value::Table(t) = root {
        *tree = t;
    }
    result
}

/// Sets `path` below `node`, creating tables (and appending to arrays) on the way.
fn set_path(node: &mut toml::Value, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((seg, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    if seg.is_empty() {
        return Err("empty key segment".into());
    }
    let child = match node {
        toml::Value::Table(t) => t
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new())),
        toml::Value::Array(a) => {
            let idx: usize = seg
                .parse()
                .map_err(|_| format!("{seg:?} is not an index into an array"))?;
            if idx > a.len() {
                return Err(format!(
                    "index {idx} skips entries (the array has {})",
                    a.len()
                ));
            }
            if idx == a.len() {
                a.push(toml::Value::Table(toml::Table::new()));
            }
            &mut a[idx]
        }
        _ => return Err(format!("{seg:?} is below a key that is not a table")),
    };
    set_path(child, rest, value)
}

/// A TOML scalar or array when the text is one, else the text as a string.
fn parse_env_value(value: &str) -> toml::Value {
    let doc = format!("v = {value}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.to_string())),
        Err(_) => toml::Value::String(value.to_string()),
    }
}
