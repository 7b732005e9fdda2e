//! Port of Panther's `azure_storage_sas_external_access.py`
//! (`Azure.MonitorActivity.Storage.SASTokenExternalAccess`).
//!
//! What the Python does that a port must repeat:
//! - `statusCode in [200, 201, 202, 204]` is numeric equality: `200.0` (or `2e2`) is in the list,
//!   `True` is not.
//! - `"sig=" in uri` and `":" in caller` are substring tests on strings, membership on lists,
//!   case-insensitive key lookups on nested objects, and raise on numbers and booleans; a
//!   list or object caller holding `":"` then raises on `.split`, one without is returned as is.
//! - `ipaddress.ip_address` on the caller: the caller never holds `:` (it is cut there), so only
//!   a strict dotted IPv4 address parses (Python 3.11.7's private ranges); anything else,
//!   including the `str()` of a list or object, is "external".
//! - `urlparse` (severity, context) raises on a non-string (`'ImmutableList' object has no
//!   attribute 'decode'`) and on bad bracketed hosts and netlocs (`urlsplit`'s checks, with
//!   Python's messages); `parse_qs` keeps the first non-empty value of a name, `+` and `%XX`
//!   decoded per ASCII run with UTF-8 replacement.

use super::helpers::extract_caller_ip;
use crate::record::{python_repr, Record};
use crate::rules::builtin::{Meta, Port};
use crate::rules::py::{self, EMPTY};
use crate::rules::spec::Severity;
use crate::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Panther `Filename` this built-in is bound to.
pub const FILENAME: &str = "azure_storage_sas_external_access.py";

pub(super) const PORT: Option<Port> = Some(Port {
    filename: FILENAME,
    meta: Meta {
        rule_id: "Azure.MonitorActivity.Storage.SASTokenExternalAccess",
        display_name: "Azure Storage SAS Token Access from External IP",
        enabled: true,
        severity: Severity::Low,
        description:
            "A storage request signed with a SAS token succeeded from a public IP address.",
        reference:
            "https://learn.microsoft.com/en-us/azure/defender-for-cloud/alerts-azure-storage",
        dedup_period_minutes: Some(60),
        threshold: None,
        create_alert: true,
        summary_attributes: &["callerIpAddress", "properties:accountName", "operationName"],
        mitre: &["TA0010:T1567", "TA0006:T1552.001"],
    },
    logic,
});

fn logic() -> Arc<dyn Logic> {
    Arc::new(SasExternalAccess)
}

#[derive(Debug, Clone, Copy)]
pub struct SasExternalAccess;

const CATEGORIES: [&str; 3] = ["StorageRead", "StorageWrite", "StorageDelete"];
const SUCCESS_CODES: [i64; 4] = [200, 201, 202, 204];

/// `status_code in [200, 201, 202, 204]`: Python's `==` between numbers.
fn success_status(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => SUCCESS_CODES.contains(&i),
            (None, Some(_)) => false,
            (None, None) => n
                .as_f64()
                .is_some_and(|f| SUCCESS_CODES.iter().any(|&c| c as f64 == f)),
        },
        _ => false,
    }
}

/// `extract_caller_ip(event) or default`.
fn caller_or(event: &Record, default: &str) -> Result<Value, RuleError> {
    let ip = extract_caller_ip(event)?;
    Ok(if py::truthy(&ip) { ip } else { py::s(default) })
}

/// Python 3.11.7's `IPv4Network`s of `_private_networks` (loopback is among them).
const PRIVATE_V4: [(u32, u32); 14] = [
    (0x0000_0000, 8),
    (0x0a00_0000, 8),
    (0x7f00_0000, 8),
    (0xa9fe_0000, 16),
    (0xac10_0000, 12),
    (0xc000_0000, 29),
    (0xc000_00aa, 31),
    (0xc000_0200, 24),
    (0xc0a8_0000, 16),
    (0xc612_0000, 15),
    (0xc633_6400, 24),
    (0xcb00_7100, 24),
    (0xf000_0000, 4),
    (0xffff_ffff, 32),
];

/// `is_private_ip(ip)` for a truthy caller: `is_private or is_loopback` of what
/// `ipaddress.ip_address` parses, `False` when it raises `ValueError`. A caller reaching here
/// is a string without `:` (so never IPv6) or a list or object, whose `str()` never parses.
fn is_private_ip(ip: &Value) -> bool {
    let Value::String(s) = ip else {
        return false;
    };
    ipv4(s).is_some_and(|a| {
        PRIVATE_V4
            .iter()
            .any(|&(net, len)| (a ^ net) >> (32 - len) == 0)
    })
}

/// `IPv4Address(s)`: four strict decimal octets (no leading zeros, at most 255).
fn ipv4(s: &str) -> Option<u32> {
    let octets: Vec<&str> = s.split('.').collect();
    if octets.len() != 4 {
        return None;
    }
    let mut ip = 0u32;
    for o in octets {
        let valid = !o.is_empty()
            && o.len() <= 3
            && o.bytes().all(|b| b.is_ascii_digit())
            && (o == "0" || !o.starts_with('0'));
        let n: u32 = o.parse().ok().filter(|&n| valid && n <= 255)?;
        ip = ip << 8 | n;
    }
    Some(ip)
}

/// `IPv6Address(s)` succeeds (scope id, `::` and an IPv4 tail as Python 3.11.7 accepts them).
fn ipv6_valid(s: &str) -> bool {
    if s.contains('/') {
        return false;
    }
    let addr = match s.split_once('%') {
        Some((_, scope)) if scope.is_empty() || scope.contains('%') => return false,
        Some((addr, _)) => addr,
        None => s,
    };
    let mut parts: Vec<&str> = addr.split(':').collect();
    if addr.is_empty() || parts.len() < 3 {
        return false;
    }
    let mut tail = 0;
    if parts.last().is_some_and(|p| p.contains('.')) {
        if parts.pop().and_then(ipv4).is_none() {
            return false;
        }
        tail = 2;
    }
    let len = parts.len() + tail;
    if len > 9 {
        return false;
    }
    // With an IPv4 tail, the last two parts are valid hextets and never empty.
    let empty = |i: usize| i < parts.len() && parts[i].is_empty();
    let mut skip = None;
    for i in 1..len - 1 {
        if empty(i) {
            if skip.is_some() {
                return false;
            }
            skip = Some(i);
        }
    }
    let (hi, lo) = match skip {
        Some(skip) => {
            let (mut hi, mut lo) = (skip, len - skip - 1);
            if empty(0) {
                hi -= 1;
                if hi > 0 {
                    return false;
                }
            }
            if empty(len - 1) {
                lo -= 1;
                if lo > 0 {
                    return false;
                }
            }
            if hi + lo >= 8 {
                return false;
            }
            (hi, lo)
        }
        None if len != 8 || empty(0) || empty(len - 1) => return false,
        None => (len, 0),
    };
    let hextet =
        |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_hexdigit());
    (0..hi)
        .chain(len - lo..len)
        .all(|i| i >= parts.len() || hextet(parts[i]))
}

fn value_error(message: &str) -> RuleError {
    RuleError::python("ValueError", message)
}

/// `urllib.parse._check_bracketed_host`.
fn check_bracketed_host(host: &str) -> Result<(), RuleError> {
    if let Some(rest) = host.strip_prefix('v') {
        // re.match(r"\Av[a-fA-F0-9]+\..+\Z", host); newlines are already removed.
        let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        let future = hex > 0 && rest[hex..].strip_prefix('.').is_some_and(|r| !r.is_empty());
        return match future {
            true => Ok(()),
            false => Err(value_error("IPvFuture address is invalid")),
        };
    }
    if ipv4(host).is_some() {
        return Err(value_error("An IPv4 address cannot be in brackets"));
    }
    if ipv6_valid(host) {
        return Ok(());
    }
    Err(value_error(&format!(
        "{} does not appear to be an IPv4 or IPv6 address",
        python_repr(&py::s(host))
    )))
}

/// The characters whose NFKC form (Unicode 14.0, Python 3.11's) holds one of `/?#@:`.
const NFKC_DELIMITERS: &[char] = &[
    '\u{2047}', '\u{2048}', '\u{2049}', '\u{2100}', '\u{2101}', '\u{2105}', '\u{2106}', '\u{2a74}',
    '\u{fe13}', '\u{fe16}', '\u{fe55}', '\u{fe56}', '\u{fe5f}', '\u{fe6b}', '\u{ff03}', '\u{ff0f}',
    '\u{ff1a}', '\u{ff1f}', '\u{ff20}',
];

/// `urllib.parse._checknetloc`: raises when NFKC normalization of the netloc (without `@:#?`)
/// brings in a delimiter, i.e. when it holds one of [`NFKC_DELIMITERS`].
fn check_netloc(netloc: &str) -> Result<(), RuleError> {
    if netloc.is_ascii() || !netloc.contains(NFKC_DELIMITERS) {
        return Ok(());
    }
    Err(value_error(&format!(
        "netloc '{netloc}' contains invalid characters under NFKC normalization"
    )))
}

/// `urlparse(uri).query`, raising where `urlparse` raises.
fn url_query(uri: &Value) -> Result<String, RuleError> {
    let Value::String(url) = uri else {
        return Err(py::no_attribute(uri, "decode"));
    };
    let url: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = url.as_str();
    if let Some(i) = rest.find(':') {
        let scheme = &rest[..i];
        let scheme_char = |c: char| c.is_ascii_alphanumeric() || "+-.".contains(c);
        if i > 0
            && rest.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(scheme_char)
        {
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        (netloc, rest) = after.split_at(end);
        let (open, close) = (netloc.contains('['), netloc.contains(']'));
        if open != close {
            return Err(value_error("Invalid IPv6 URL"));
        }
        if let Some((_, bracketed)) = netloc.split_once('[') {
            if close {
                check_bracketed_host(bracketed.split(']').next().unwrap_or(""))?;
            }
        }
    }
    if let Some((before, _)) = rest.split_once('#') {
        rest = before;
    }
    let query = rest.split_once('?').map(|(_, q)| q).unwrap_or("");
    check_netloc(netloc)?;
    Ok(query.to_string())
}

/// `parse_qs(query)[name][0]`: the first pair named `name` with a non-empty value.
fn first_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (!v.is_empty() && unquote(&k.replace('+', " ")) == name)
            .then(|| unquote(&v.replace('+', " ")))
    })
}

/// `urllib.parse.unquote`: `%XX` escapes decoded per run of ASCII characters, as UTF-8 with
/// replacement; other characters kept.
fn unquote(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        let ascii = rest.starts_with(|c: char| c.is_ascii());
        let end = rest
            .find(|c: char| c.is_ascii() != ascii)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        if ascii {
            out.push_str(&String::from_utf8_lossy(&unquote_to_bytes(run)));
        } else {
            out.push_str(run);
        }
        rest = tail;
    }
    out
}

fn unquote_to_bytes(run: &str) -> Vec<u8> {
    let mut bits = run.split('%');
    let mut out = bits.next().unwrap_or("").as_bytes().to_vec();
    for item in bits {
        let b = item.as_bytes();
        match b.get(..2).filter(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            Some(h) => {
                let hex = std::str::from_utf8(h).ok();
                out.extend(hex.and_then(|h| u8::from_str_radix(h, 16).ok()));
                out.extend_from_slice(&b[2..]);
            }
            None => {
                out.push(b'%');
                out.extend_from_slice(b);
            }
        }
    }
    out
}

impl Logic for SasExternalAccess {
    fn matches(&self, event: &Record) -> Result<bool, RuleError> {
        let f = event.fields();
        let category = py::get(f, "category");
        if !category.is_some_and(|c| CATEGORIES.iter().any(|k| py::eq_str(c, k))) {
            return Ok(false);
        }
        if !success_status(py::get(f, "statusCode")) {
            return Ok(false);
        }
        let uri = py::get_or(f, "uri", &EMPTY);
        if !py::truthy(uri) || !py::str_contains(uri, "sig=")? {
            return Ok(false);
        }
        let caller_ip = extract_caller_ip(event)?;
        Ok(py::truthy(&caller_ip) && !is_private_ip(&caller_ip))
    }

    fn title(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let f = event.fields();
        let caller_ip = py::str_of(&caller_or(event, "<UNKNOWN_IP>")?);
        let unknown = py::s("<UNKNOWN_ACCOUNT>");
        let account = py::str_of(py::deep_get_or(f, &["properties", "accountName"], &unknown));
        let unknown = py::s("<UNKNOWN_OPERATION>");
        let operation = py::str_of(py::get_or(f, "operationName", &unknown));
        Ok(Some(format!(
            "Azure Storage SAS token used from external IP [{caller_ip}] \
             to access [{account}] with operation [{operation}]"
        )))
    }

    fn dedup(&self, event: &Record) -> Result<Option<String>, RuleError> {
        let caller_ip = py::str_of(&caller_or(event, "unknown")?);
        let unknown = py::s("unknown");
        let account = py::deep_get_or(event.fields(), &["properties", "accountName"], &unknown);
        Ok(Some(format!("{}:{caller_ip}", py::str_of(account))))
    }

    fn severity(&self, event: &Record) -> Option<Result<String, RuleError>> {
        let f = event.fields();
        let severity = || -> Result<&str, RuleError> {
            let operation = py::lower(py::get_or(f, "operationName", &EMPTY))?;
            let uri = py::get_or(f, "uri", &EMPTY);
            if py::truthy(uri) {
                let permissions = first_param(&url_query(uri)?, "sp").unwrap_or_default();
                if ["w", "d", "a"].iter().any(|p| permissions.contains(p)) {
                    return Ok("HIGH");
                }
            }
            if operation.contains("delete") {
                return Ok("HIGH");
            }
            if ["put", "write", "create", "set"]
                .iter()
                .any(|op| operation.contains(op))
            {
                return Ok("MEDIUM");
            }
            Ok("LOW")
        };
        Some(severity().map(str::to_string))
    }

    fn alert_context(&self, event: &Record) -> Result<Map<String, Value>, RuleError> {
        let f = event.fields();
        let unknown = py::s("<UNKNOWN>");
        let properties = |key: &str| py::deep_get_or(f, &["properties", key], &unknown).clone();
        let mut context = Map::new();
        context.insert("caller_ip".into(), caller_or(event, "<UNKNOWN>")?);
        context.insert("storage_account".into(), properties("accountName"));
        let unknown_operation = py::s("<UNKNOWN_OPERATION>");
        let operation = py::get_or(f, "operationName", &unknown_operation);
        context.insert("operation".into(), operation.clone());
        context.insert("object_key".into(), properties("objectKey"));
        context.insert("user_agent".into(), properties("userAgentHeader"));
        let unknown_uri = py::s("<UNKNOWN_URI>");
        context.insert("uri".into(), py::get_or(f, "uri", &unknown_uri).clone());
        for (key, field) in [("status_code", "statusCode"), ("category", "category")] {
            context.insert(
                key.into(),
                py::get(f, field).cloned().unwrap_or(Value::Null),
            );
        }
        let uri = py::get_or(f, "uri", &EMPTY);
        if py::truthy(uri) {
            let query = url_query(uri)?;
            for (key, param) in [("sas_permissions", "sp"), ("sas_expiry", "se")] {
                if let Some(v) = first_param(&query, param) {
                    context.insert(key.into(), py::s(v));
                }
            }
        }
        Ok(context)
    }

    fn needles(&self) -> Option<Vec<String>> {
        // A match needs `"sig=" in uri`: a string holding it, a list with an element equal to
        // it, or an object with a key equal to it ignoring case. In pure-ASCII text without
        // escapes each spells `sig=` in some casing.
        Some(vec!["sig=".to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else {
            unreachable!("object")
        };
        m
    }

    fn base(caller: Value, uri: Value) -> Map<String, Value> {
        record(
            json!({"category": "StorageRead", "statusCode": 200.0, "uri": uri,
            "callerIpAddress": caller, "operationName": "GetBlob",
            "properties": {"accountName": "acct"}}),
        )
    }

    #[test]
    fn matching_semantics() {
        let uri = json!("https://a.blob.core.windows.net/c/b?sv=1&sp=r&sig=x");
        let eval =
            |caller: Value| SasExternalAccess.matches(&Record::new(&base(caller, uri.clone())));
        assert_eq!(eval(json!("8.8.8.8:443")), Ok(true));
        assert_eq!(eval(json!("10.1.2.3:443")), Ok(false));
        assert_eq!(eval(json!("127.0.0.1")), Ok(false));
        assert_eq!(eval(json!("192.0.0.171")), Ok(false));
        assert_eq!(eval(json!("100.64.0.1")), Ok(true));
        assert_eq!(eval(json!("010.1.2.3")), Ok(true));
        assert_eq!(eval(json!(":443")), Ok(false));
        assert_eq!(eval(json!(["a"])), Ok(true));
        assert!(eval(json!([":"])).is_err());
        assert!(eval(json!(5)).is_err());
        let m = base(json!("8.8.8.8"), json!({"SIG=": 1}));
        assert_eq!(SasExternalAccess.matches(&Record::new(&m)), Ok(true));
        let m = base(json!("8.8.8.8"), json!(true));
        assert!(SasExternalAccess.matches(&Record::new(&m)).is_err());
    }

    #[test]
    fn url_parsing() {
        let q = |u: &str| url_query(&py::s(u));
        assert_eq!(q(" http://h/p?a=1#f?x"), Ok("a=1".to_string()));
        assert_eq!(q("http://[::1]/p?a"), Ok("a".to_string()));
        assert_eq!(q("http://[v1.x]/p?a"), Ok("a".to_string()));
        assert!(q("http://[1.2.3.4]/").is_err());
        assert!(q("http://[::1/").is_err());
        assert!(q("http://[v1]/").is_err());
        assert_eq!(
            q("http://[zz]/"),
            Err(RuleError::python(
                "ValueError",
                "'zz' does not appear to be an IPv4 or IPv6 address"
            ))
        );
        assert!(q("http://a\u{ff0f}b/").is_err());
        assert_eq!(q("http://\u{e9}/?x=1"), Ok("x=1".to_string()));
        assert!(url_query(&json!(["sig="])).is_err());
        assert_eq!(
            first_param("sp=&sp=r%2bw+x&sp=d", "sp"),
            Some("r+w x".to_string())
        );
        assert_eq!(first_param("s%70=a", "sp"), Some("a".to_string()));
        assert_eq!(unquote("%e9%zz%4"), "\u{fffd}%zz%4");
        assert_eq!(unquote("%C3%A9\u{e9}%C3"), "\u{e9}\u{e9}\u{fffd}");
    }

    #[test]
    fn ipv6_forms() {
        for ok in [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "::ffff:1.2.3.4",
            "fe80::1%eth0",
            "1:2:3:4:5:6:1.2.3.4",
        ] {
            assert!(ipv6_valid(ok), "{ok}");
        }
        for bad in [
            ":",
            "1:2",
            ":::",
            "1:::2",
            "1::2::3",
            "1:2:3:4:5:6:7:8:9",
            ":1::2",
            "1::2:",
            "12345::",
            "::g",
            "::1%",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::1.2.3",
        ] {
            assert!(!ipv6_valid(bad), "{bad}");
        }
    }
}
