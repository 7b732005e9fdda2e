//! One log record as rules see it: a JSON object with Panther's field lookup.
//!
//! Panther wraps every record in a read-only, case-insensitive dictionary
//! (`panther_core.immutable.ImmutableCaseInsensitiveDict`). A lookup tries the exact key first
//! and then the first key, in the record's order, that is equal after Python's `str.lower()`
//! (its key map is built with `setdefault`, so the first spelling of a key wins). A default
//! applies only when a key is missing: a JSON `null` is a present value.

mod cased;
mod parse;
pub mod plain;
mod unprintable;

pub use parse::{names_private, parse_document, parse_object};

use serde_json::{Map, Value};

/// A record that is a JSON object, with Panther's case-insensitive field lookup.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    fields: &'a Map<String, Value>,
}

impl<'a> Record<'a> {
    pub fn new(fields: &'a Map<String, Value>) -> Self {
        Record { fields }
    }

    /// The underlying object.
    pub fn fields(&self) -> &'a Map<String, Value> {
        self.fields
    }

    /// Looks up `key` the way Panther's event dictionary does; `None` only when missing.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        lookup(self.fields, key)
    }

    /// `event.get(key, default)` for a string result: a missing key gives `default`.
    pub fn get_or<'d>(&self, key: &str, default: &'d Value) -> &'d Value
    where
        'a: 'd,
    {
        self.get(key).unwrap_or(default)
    }
}

/// Case-insensitive lookup in any JSON object (nested objects are case-insensitive too).
pub fn lookup<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(key) {
        return Some(v);
    }
    let ascii = key.is_ascii();
    let folded = if ascii { None } else { Some(py_lower(key)) };
    map.iter()
        .find(|(k, _)| match &folded {
            None if k.is_ascii() => k.eq_ignore_ascii_case(key),
            None => py_lower(k) == key.to_ascii_lowercase(),
            Some(f) => py_lower(k) == *f,
        })
        .map(|(_, v)| v)
}

/// Python's `str()` of a JSON value, as an f-string would render it.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

/// Python's `repr()` of a JSON value after `json.loads`.
pub fn python_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

fn write_repr(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&python_number(n)),
        Value::String(s) => write_str_repr(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(k, out);
                out.push_str(": ");
                write_repr(v, out);
            }
            out.push('}');
        }
    }
}

/// Python renders integers exactly and floats with `repr(float)` (shortest round trip, with
/// `.0` for integral values and an exponent from 1e16 upwards or below 1e-4).
fn python_number(n: &serde_json::Number) -> String {
    if is_integer(n) {
        // Python's int is unbounded: the digits as written (JSON allows no leading zeros or
        // plus sign), but `-0` is plain 0.
        let digits = n.to_string();
        return if digits == "-0" { "0".into() } else { digits };
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Rust prints `1e16` and `1.5e-7`; Python prints `1e+16` and `1.5e-07`.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn write_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_python_unprintable(c) => {
                let cp = c as u32;
                if cp <= 0xff {
                    out.push_str(&format!("\\x{cp:02x}"));
                } else if cp <= 0xffff {
                    out.push_str(&format!("\\u{cp:04x}"));
                } else {
                    out.push_str(&format!("\\U{cp:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether Rust, whose Unicode is newer than Python 3.11's, cases a character Python leaves
/// alone (the Latin and Cyrillic letters and the Garay script that Unicode 16 gave case pairs).
fn newer_cased(c: char) -> bool {
    !in_table(cased::CASED, c) && (c.is_lowercase() || c.is_uppercase())
}

/// Python's `str.upper()`.
pub fn py_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars()
        .flat_map(|c| {
            let keep = newer_cased(c);
            c.to_uppercase()
                .filter(move |_| !keep)
                .chain(keep.then_some(c))
        })
        .collect()
}

/// Python's `str.lower()` (with its final-sigma rule, which Rust's `str::to_lowercase` shares).
pub fn py_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    if !s.chars().any(newer_cased) {
        return s.to_lowercase();
    }
    s.chars()
        .flat_map(|c| {
            let keep = newer_cased(c);
            c.to_lowercase()
                .filter(move |_| !keep)
                .chain(keep.then_some(c))
        })
        .collect()
}

/// Python's `not str.isprintable()`: the characters `repr()` escapes (categories Cc, Cf, Cs,
/// Co, Cn, Zl, Zp and Zs but the space), from a table generated from Python itself.
fn is_python_unprintable(c: char) -> bool {
    in_table(unprintable::UNPRINTABLE, c)
}

/// Whether a JSON number is an integer to Python (`json.loads` makes an `int` of any number
/// written without fraction or exponent, however large).
pub fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || !n.to_string().contains(['.', 'e', 'E'])
}

/// Python truthiness of a JSON value.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn exact_key_wins_then_first_case_insensitive() {
        let m = obj(json!({"OPERATIONNAME": "a", "operationName": "b", "OperationName": "c"}));
        let r = Record::new(&m);
        assert_eq!(r.get("operationName"), Some(&json!("b")));
        assert_eq!(r.get("operationname"), Some(&json!("a")));
        assert_eq!(r.get("missing"), None);
    }

    #[test]
    fn null_is_present() {
        let m = obj(json!({"callerIpAddress": null}));
        assert_eq!(Record::new(&m).get("CALLERIPADDRESS"), Some(&Value::Null));
    }

    #[test]
    fn python_rendering() {
        assert_eq!(python_str(&json!(null)), "None");
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&json!(5)), "5");
        assert_eq!(python_str(&json!(1.0)), "1.0");
        assert_eq!(python_str(&json!(1e16)), "1e+16");
        assert_eq!(python_str(&json!(0.00001)), "1e-05");
        assert_eq!(python_str(&json!(0.5)), "0.5");
        assert_eq!(python_str(&json!(["a", 1, null])), "['a', 1, None]");
        assert_eq!(python_str(&json!({"k": "it's"})), "{'k': \"it's\"}");
        assert_eq!(python_str(&json!("x")), "x");
        // Unassigned, format and private-use characters are escaped as Python escapes them.
        assert_eq!(
            python_repr(&json!("\u{378}\u{61c}\u{e0001}")),
            "'\\u0378\\u061c\\U000e0001'"
        );
        assert_eq!(python_repr(&json!("é ü")), "'é ü'");
    }

    #[test]
    fn case_mappings_are_python_3_11s() {
        assert_eq!(py_upper("straße ſ"), "STRASSE S");
        assert_eq!(py_lower("ΟΔΟΣ"), "οδος");
        // U+1C8A and U+A7CB got case pairs in Unicode 16; Python 3.11 leaves them alone.
        assert_eq!(py_upper("\u{1c8a}a"), "\u{1c8a}A");
        assert_eq!(py_lower("\u{a7cb}A"), "\u{a7cb}a");
    }

    #[test]
    fn truthiness() {
        assert!(!truthy(&json!({})));
        assert!(!truthy(&json!("")));
        assert!(!truthy(&json!(0)));
        assert!(truthy(&json!({"a": 1})));
        assert!(truthy(&json!("x")));
    }
}
