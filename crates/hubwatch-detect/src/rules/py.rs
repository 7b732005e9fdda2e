//! Python semantics for rule ports: what Panther's Python rules do to a record, step by step.
//!
//! A port of a Panther rule must give the same answer as the Python code on every record JSON
//! allows, including the odd ones: a `null` where a string is expected (Python raises), a number
//! in an f-string (rendered as Python renders it), a nested object (Panther wraps it in an
//! `ImmutableCaseInsensitiveDict`, so its lookups ignore case and its `str()` names the wrapper).
//! The functions here reproduce those steps; a port calls them in the order the Python does, so
//! that the first exception raised is the same one.
//!
//! Values seen through the event (`event.get`, `event.deep_get`) are *wrapped*; values produced
//! by `json.loads` inside a rule (see `azure_parse_json_string`) are *plain* Python objects:
//! their dict lookups are case-sensitive and their `str()` is the plain `repr`.

use super::RuleError;
use crate::record::{lookup, python_repr, truthy as json_truthy};
use serde_json::{Map, Value};

/// Python's `str.upper()` and `str.lower()` are what rules call most; both raise on anything
/// but a string.
pub fn upper(v: &Value) -> Result<String, RuleError> {
    match v {
        Value::String(s) => Ok(crate::record::py_upper(s)),
        other => Err(no_attribute(other, "upper")),
    }
}

/// Python's `str.lower()`.
pub fn lower(v: &Value) -> Result<String, RuleError> {
    match v {
        Value::String(s) => Ok(crate::record::py_lower(s)),
        other => Err(no_attribute(other, "lower")),
    }
}

/// A string method called on a value that is not a string, as Python words it.
pub fn no_attribute(v: &Value, attr: &str) -> RuleError {
    RuleError::python(
        "AttributeError",
        &format!("'{}' object has no attribute '{attr}'", type_name(v)),
    )
}

/// The Python type name of a value seen through the event (containers are Panther's wrappers).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if is_int(n) => "int",
        Value::Number(_) => "float",
        Value::String(_) => "str",
        Value::Array(_) => "ImmutableList",
        Value::Object(_) => "ImmutableCaseInsensitiveDict",
    }
}

/// The Python type name of a plain value (from `json.loads` inside a rule).
pub fn plain_type_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        other => type_name(other),
    }
}

fn is_int(n: &serde_json::Number) -> bool {
    crate::record::is_integer(n)
}

/// `event.get(key)` on the record or on a wrapped nested dict: `None` when missing.
pub fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    lookup(map, key)
}

/// `event.get(key, default)` where the default is a string.
pub fn get_or<'a>(map: &'a Map<String, Value>, key: &str, default: &'a Value) -> &'a Value {
    lookup(map, key).unwrap_or(default)
}

/// `event.deep_get(*keys, default=...)`: walks wrapped dicts; anything missing, a non-dict on
/// the way, or a final `None` gives the default (returned here as `None`).
///
/// Panther's `reduce` passes the default to each `.get`, so a missing key in the middle makes
/// the walk continue on the default; a default that is not a dict (all ports use strings or
/// `None`) then ends it, which is what returning `None` here means.
pub fn deep_get<'a>(map: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    let mut current: Option<&Value> = None;
    let mut dict = map;
    for (i, key) in keys.iter().enumerate() {
        let v = lookup(dict, key)?;
        if i + 1 == keys.len() {
            current = Some(v);
        } else {
            match v {
                Value::Object(m) => dict = m,
                _ => return None,
            }
        }
    }
    current.filter(|v| !v.is_null())
}

/// `deep_get(..., default=D)` with a string default, as a value.
pub fn deep_get_or<'a>(
    map: &'a Map<String, Value>,
    keys: &[&str],
    default: &'a Value,
) -> &'a Value {
    deep_get(map, keys).unwrap_or(default)
}

/// A dict lookup on a plain dict (from `json.loads`): case-sensitive, exact key.
pub fn plain_get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key)
}

/// Python truthiness.
pub fn truthy(v: &Value) -> bool {
    json_truthy(v)
}

/// `str(v)` (and an f-string's `{v}`) of a value seen through the event.
///
/// Strings are themselves; scalars render as Python renders them; a list or dict reached
/// through the event is one of Panther's immutable wrappers, whose `repr` is
/// `ImmutableList((...))` (a tuple inside) or `ImmutableCaseInsensitiveDict({...})`, with the
/// plain Python objects inside.
pub fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("ImmutableList({})", tuple_repr(items)),
        Value::Object(_) => format!("ImmutableCaseInsensitiveDict({})", python_repr(v)),
        other => python_repr(other),
    }
}

/// `str(v)` of a plain value (from `json.loads`).
pub fn plain_str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn tuple_repr(items: &[Value]) -> String {
    match items {
        [] => "()".to_string(),
        [one] => format!("({},)", python_repr(one)),
        _ => {
            let list = python_repr(&Value::Array(items.to_vec()));
            format!("({})", &list[1..list.len() - 1])
        }
    }
}

/// Python's `a == "literal"`: only an equal string is equal.
pub fn eq_str(v: &Value, s: &str) -> bool {
    matches!(v, Value::String(x) if x == s)
}

/// Python's `needle in v` for a string `v`; any other type raises (`in` on a dict or list is
/// membership, which ports spell out themselves).
pub fn str_contains(v: &Value, needle: &str) -> Result<bool, RuleError> {
    match v {
        Value::String(s) => Ok(s.contains(needle)),
        Value::Null | Value::Bool(_) | Value::Number(_) => Err(RuleError::python(
            "TypeError",
            &format!("argument of type '{}' is not iterable", type_name(v)),
        )),
        Value::Array(items) => Ok(items.iter().any(|i| eq_str(i, needle))),
        Value::Object(m) => Ok(lookup(m, needle).is_some()),
    }
}

/// Python's `str.split(sep)` on a string value.
pub fn split<'a>(v: &'a Value, sep: &str) -> Result<Vec<&'a str>, RuleError> {
    match v {
        Value::String(s) => Ok(s.split(sep).collect()),
        other => Err(no_attribute(other, "split")),
    }
}

/// A string value: `Value::String`.
pub fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// The empty string, the default most `event.get` calls use.
pub static EMPTY: Value = Value::String(String::new());

/// Python's `len()` of `json.dumps(v)` with its defaults (`ensure_ascii=True`, separators
/// `", "` and `": "`): Panther replaces an alert context longer than 200 KiB characters.
pub fn json_dumps_len(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => python_number_json(n).len(),
        Value::String(s) => json_str_len(s),
        Value::Array(items) => {
            2 + items.iter().map(json_dumps_len).sum::<usize>() + 2 * items.len().saturating_sub(1)
        }
        Value::Object(m) => json_dumps_object_len(m),
    }
}

/// [`json_dumps_len`] of an object.
pub fn json_dumps_object_len(m: &serde_json::Map<String, Value>) -> usize {
    2 + m
        .iter()
        .map(|(k, v)| json_str_len(k) + 2 + json_dumps_len(v))
        .sum::<usize>()
        + 2 * m.len().saturating_sub(1)
}

fn python_number_json(n: &serde_json::Number) -> String {
    // json.dumps renders floats with float.__repr__ and ints exactly, as str() does.
    python_repr(&Value::Number(n.clone()))
}

fn json_str_len(s: &str) -> usize {
    // Most strings are printable ASCII without a quote or backslash: one character a byte.
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        return 2 + s.len();
    }
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            // json.dumps escapes everything outside space..tilde, DEL included.
            c if (c as u32) < 0x20 || c == '\u{7f}' => 6,
            c if c.is_ascii() => 1,
            c if (c as u32) > 0xffff => 12,
            _ => 6,
        })
        .sum::<usize>()
}

/// `d.get(key)` on a plain value (from `json.loads`): a case-sensitive lookup on a dict; any
/// other type raises, as Python's attribute lookup does (`'list' object has no attribute 'get'`).
pub fn plain_dict_get<'a>(d: &'a Value, key: &str) -> Result<Option<&'a Value>, RuleError> {
    match d {
        Value::Object(m) => Ok(plain_get(m, key)),
        other => Err(RuleError::python(
            "AttributeError",
            &format!("'{}' object has no attribute 'get'", plain_type_name(other)),
        )),
    }
}

/// `d.get(key, default)` on a plain value: the default applies only to a missing key.
pub fn plain_dict_get_or<'a>(
    d: &'a Value,
    key: &str,
    default: &'a Value,
) -> Result<&'a Value, RuleError> {
    Ok(plain_dict_get(d, key)?.unwrap_or(default))
}

/// Python's `json.loads(text)`: `Ok(Some(value))` (a *plain* object), `Ok(None)` where Python
/// raises `JSONDecodeError` (a `ValueError`), `Err` where it raises `RecursionError`.
///
/// `json.loads` nests as deep as Python's recursion limit allows (about 990 levels from a rule;
/// the exact figure depends on the caller's stack); here up to [`PY_MAX_JSON_DEPTH`] levels
/// parse and deeper raises. Lone surrogate escapes (`"\ud800"`), `NaN`, `Infinity` and numbers
/// beyond the float range, which Python accepts, are undecodable here.
pub fn json_loads(text: &str) -> Result<Option<Value>, RuleError> {
    if json_depth(text) > PY_MAX_JSON_DEPTH {
        return Err(RuleError::python(
            "RecursionError",
            "maximum recursion depth exceeded while decoding a JSON document",
        ));
    }
    // Not serde_json's `Value`, which reads an object keyed by its private tokens as a number.
    Ok(crate::record::parse_document(text, PY_MAX_JSON_DEPTH))
}

/// The deepest nesting [`json_loads`] parses.
pub const PY_MAX_JSON_DEPTH: usize = 900;

/// The deepest nesting of arrays and objects in JSON text (strings skipped), without parsing.
pub fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn upper_raises_like_python() {
        assert_eq!(upper(&json!("abc")), Ok("ABC".to_string()));
        let e = upper(&Value::Null).err().map(|e| e.0);
        assert_eq!(
            e.as_deref(),
            Some("AttributeError(\"'NoneType' object has no attribute 'upper'\")")
        );
    }

    #[test]
    fn deep_get_semantics() {
        let m = obj(json!({"Properties": {"A": {"b": 1}}, "n": null, "s": "x"}));
        assert_eq!(deep_get(&m, &["properties", "a", "B"]), Some(&json!(1)));
        assert_eq!(deep_get(&m, &["n"]), None);
        assert_eq!(deep_get(&m, &["s", "x"]), None);
        assert_eq!(deep_get(&m, &["missing", "x"]), None);
    }

    #[test]
    fn str_of_wrappers() {
        assert_eq!(str_of(&json!(["a", 1])), "ImmutableList(('a', 1))");
        assert_eq!(str_of(&json!(["a"])), "ImmutableList(('a',))");
        assert_eq!(str_of(&json!([])), "ImmutableList(())");
        assert_eq!(
            str_of(&json!({"k": [1]})),
            "ImmutableCaseInsensitiveDict({'k': [1]})"
        );
        assert_eq!(str_of(&json!(1.5)), "1.5");
    }

    #[test]
    fn dumps_len_matches_python() {
        // len(json.dumps({"a": [1, "é", None], "b": "x\n"})) == 38 in Python.
        assert_eq!(
            json_dumps_len(&json!({"a": [1, "é", null], "b": "x\n"})),
            38
        );
    }

    #[test]
    fn json_loads_as_python() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(matches!(json_loads(&deep(PY_MAX_JSON_DEPTH)), Ok(Some(_))));
        assert!(json_loads(&deep(PY_MAX_JSON_DEPTH + 1)).is_err());
        assert_eq!(json_loads(" \"x\" "), Ok(Some(json!("x"))));
        assert_eq!(json_loads("{\"a\":1,\"a\":2}"), Ok(Some(json!({"a": 2}))));
        assert_eq!(json_loads("[1,]"), Ok(None));
        // Python's dict, not serde_json's number.
        assert_eq!(
            json_loads(r#"{"k":{"$serde_json::private::Number":"1"}}"#),
            Ok(Some(json!({"k": {"$serde_json::private::Number": "1"}})))
        );
    }
}
