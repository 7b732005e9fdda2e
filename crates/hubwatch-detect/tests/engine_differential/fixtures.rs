//! Rust twins of `tests/python/engine_rules/*.py`, statement by statement through
//! `hubwatch_detect::rules::py`, so that they raise where the Python raises.

use hubwatch_detect::record::Record;
use hubwatch_detect::rules::builtin::{Meta, Port};
use hubwatch_detect::rules::py::{self, s};
use hubwatch_detect::rules::spec::Severity;
use hubwatch_detect::rules::{Logic, RuleError};
use serde_json::{Map, Value};
use std::sync::Arc;

const NONE: Value = Value::Null;

fn meta(rule_id: &'static str, display_name: &'static str, severity: Severity) -> Meta {
    Meta {
        rule_id,
        display_name,
        enabled: true,
        severity,
        description: "",
        reference: "",
        dedup_period_minutes: None,
        threshold: None,
        create_alert: true,
        summary_attributes: &[],
        mitre: &[],
    }
}

/// Every fixture, as ports bound to the Python file they twin.
pub fn ports() -> Vec<Port> {
    use Severity::*;
    let p = |filename, m, logic| Port {
        filename,
        meta: m,
        logic,
    };
    vec![
        p(
            "engine_render.py",
            meta("Engine.Render", "Engine: titles render event values", Info),
            || Arc::new(Render),
        ),
        p(
            "engine_title_errors.py",
            meta(
                "Engine.TitleErrors",
                "Engine: title raises or returns no string",
                Medium,
            ),
            || Arc::new(TitleErrors),
        ),
        p(
            "engine_long.py",
            meta("Engine.Long", "Engine: long titles and dedup strings", Low),
            || Arc::new(Long),
        ),
        p("engine_dedup.py", meta("Engine.Dedup", "", High), || {
            Arc::new(Dedup)
        }),
        p(
            "engine_context.py",
            meta("Engine.Context", "Engine: alert contexts", Info),
            || Arc::new(Context),
        ),
        p(
            "engine_severity.py",
            meta("Engine.Severity", "Engine: dynamic severity", Low),
            || Arc::new(Sev),
        ),
        p(
            "engine_case.py",
            meta("Engine.Case", "Engine: keys that differ only in case", Info),
            || Arc::new(Case),
        ),
        p(
            "engine_deep.py",
            meta("Engine.Deep", "Engine: deep_get", Medium),
            || Arc::new(Deep),
        ),
        p(
            "engine_rule_errors.py",
            meta(
                "Engine.RuleErrors",
                "Engine: rule() raises or returns no bool",
                High,
            ),
            || Arc::new(RuleErrors),
        ),
        p(
            "engine_json.py",
            meta("Engine.Json", "Engine: json.loads inside a rule", Critical),
            || Arc::new(Json),
        ),
    ]
}

fn kind_is(e: &Record, kind: &str) -> bool {
    py::eq_str(py::get_or(e.fields(), "kind", &NONE), kind)
}

fn get<'a>(e: &Record<'a>, key: &str) -> &'a Value {
    py::get_or(e.fields(), key, &NONE)
}

/// panther_core's check of what a rule function returned (`got`: the Python type's name).
fn returned(id: &str, function: &str, got: &str, expected: &str) -> RuleError {
    RuleError::python(
        "FunctionReturnTypeError",
        &format!("detection [{id}] function [{function}] returned [{got}], expected [{expected}]"),
    )
}

/// Python's `text * n`.
fn repeat(text: &str, n: &Value) -> Result<String, RuleError> {
    let times = match n {
        Value::Bool(b) => i64::from(*b),
        Value::Number(k) if k.is_i64() => k.as_i64().unwrap_or(0),
        other => {
            return Err(RuleError::python(
                "TypeError",
                &format!(
                    "can't multiply sequence by non-int of type '{}'",
                    py::type_name(other)
                ),
            ))
        }
    };
    Ok(text.repeat(times.clamp(0, 1_000_000) as usize))
}

fn ctx(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[derive(Debug)]
struct Render;
impl Logic for Render {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "render"))
    }
    fn title(&self, e: &Record) -> Result<Option<String>, RuleError> {
        let none = s("<none>");
        let deep = py::deep_get_or(e.fields(), &["y", "z"], &none);
        let zero = Value::from(0);
        let n = py::get_or(e.fields(), "n", &zero);
        Ok(Some(format!(
            "x=[{}] deep=[{}] n=[{}]",
            py::str_of(get(e, "x")),
            py::str_of(deep),
            py::str_of(n)
        )))
    }
    fn alert_context(&self, e: &Record) -> Result<Map<String, Value>, RuleError> {
        let deep = py::deep_get(e.fields(), &["y", "z"])
            .cloned()
            .unwrap_or(NONE);
        Ok(ctx(vec![
            ("x", get(e, "x").clone()),
            ("deep", deep),
            ("missing", get(e, "nope").clone()),
        ]))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct TitleErrors;
impl Logic for TitleErrors {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "title"))
    }
    fn title(&self, e: &Record) -> Result<Option<String>, RuleError> {
        let mode = get(e, "mode");
        if py::eq_str(mode, "raw") {
            return match get(e, "x") {
                Value::String(t) => Ok(Some(t.clone())),
                other => Err(returned(
                    "Engine.TitleErrors",
                    "title",
                    py::type_name(other),
                    "str",
                )),
            };
        }
        if py::eq_str(mode, "empty") {
            return Ok(Some(String::new()));
        }
        py::upper(get(e, "x")).map(Some)
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct Long;
impl Logic for Long {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "long"))
    }
    fn title(&self, e: &Record) -> Result<Option<String>, RuleError> {
        repeat(&py::str_of(get(e, "unit")), get(e, "n")).map(Some)
    }
    fn dedup(&self, e: &Record) -> Result<Option<String>, RuleError> {
        let one = Value::from(1);
        let n2 = py::get_or(e.fields(), "n2", &one);
        Ok(Some(format!(
            "d:{}",
            repeat(&py::str_of(get(e, "unit")), n2)?
        )))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct Dedup;
impl Logic for Dedup {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "dedup"))
    }
    fn title(&self, _: &Record) -> Result<Option<String>, RuleError> {
        Ok(None)
    }
    fn dedup(&self, e: &Record) -> Result<Option<String>, RuleError> {
        let mode = get(e, "mode");
        if py::eq_str(mode, "empty") {
            return Ok(Some(String::new()));
        }
        if py::eq_str(mode, "none") {
            return Err(returned("Engine.Dedup", "dedup", "NoneType", "str"));
        }
        if py::eq_str(mode, "raise") {
            return py::lower(get(e, "x")).map(Some);
        }
        Ok(Some(py::str_of(get(e, "x")).repeat(3)))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct Context;
impl Context {
    /// `1 / n`.
    fn reciprocal(n: &Value) -> Result<Value, RuleError> {
        let zero = |what: &str| Err(RuleError::python("ZeroDivisionError", what));
        match n {
            Value::Bool(false) => zero("division by zero"),
            Value::Bool(true) => Ok(Value::from(1.0)),
            Value::Number(k) => {
                let f = k.as_f64().unwrap_or(0.0);
                match (f == 0.0, k.is_i64() || k.is_u64()) {
                    (true, true) => zero("division by zero"),
                    (true, false) => zero("float division by zero"),
                    (false, _) => Ok(Value::from(1.0 / f)),
                }
            }
            other => Err(RuleError::python(
                "TypeError",
                &format!(
                    "unsupported operand type(s) for /: 'int' and '{}'",
                    py::type_name(other)
                ),
            )),
        }
    }

    /// `x + 1`.
    fn plus_one(x: &Value) -> Result<Value, RuleError> {
        match x {
            Value::Bool(b) => Ok(Value::from(i64::from(*b) + 1)),
            Value::Number(k) if k.is_i64() || k.is_u64() => {
                let n = k
                    .as_i64()
                    .map(i128::from)
                    .or(k.as_u64().map(i128::from))
                    .unwrap_or(0)
                    + 1;
                // Python's int has no bound; beyond 64 bits there is no JSON number to compare.
                i64::try_from(n)
                    .map(Value::from)
                    .or_else(|_| u64::try_from(n).map(Value::from))
                    .map_err(|_| RuleError("int beyond 64 bits".into()))
            }
            Value::Number(k) => Ok(Value::from(k.as_f64().unwrap_or(0.0) + 1.0)),
            Value::String(_) => Err(RuleError::python(
                "TypeError",
                "can only concatenate str (not \"int\") to str",
            )),
            other => Err(RuleError::python(
                "TypeError",
                &format!(
                    "unsupported operand type(s) for +: '{}' and 'int'",
                    py::type_name(other)
                ),
            )),
        }
    }
}

impl Logic for Context {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "context"))
    }
    fn title(&self, _: &Record) -> Result<Option<String>, RuleError> {
        Ok(None)
    }
    fn alert_context(&self, e: &Record) -> Result<Map<String, Value>, RuleError> {
        let f = e.fields();
        let mode = get(e, "mode");
        if py::eq_str(mode, "key") {
            let v = py::get(f, "missing_key")
                .ok_or_else(|| RuleError::python("KeyError", "missing_key"))?;
            return Ok(ctx(vec![("v", v.clone())]));
        }
        if py::eq_str(mode, "attr") {
            return Ok(ctx(vec![("v", s(py::lower(get(e, "x"))?))]));
        }
        if py::eq_str(mode, "zero") {
            return Ok(ctx(vec![("v", Self::reciprocal(get(e, "n"))?)]));
        }
        if py::eq_str(mode, "add") {
            return Ok(ctx(vec![("v", Self::plus_one(get(e, "x"))?)]));
        }
        if py::eq_str(mode, "list") {
            return Err(returned(
                "Engine.Context",
                "alert_context",
                "list", // a plain list the rule built, not one of Panther's wrappers
                "Mapping",
            ));
        }
        if py::eq_str(mode, "big") {
            return Ok(ctx(vec![("blob", get(e, "blob").clone())]));
        }
        let a = py::deep_get(f, &["a", "b"]).cloned().unwrap_or(NONE);
        Ok(ctx(vec![
            ("z", get(e, "z").clone()),
            ("a", a),
            ("props", get(e, "properties").clone()),
            ("l", get(e, "l").clone()),
        ]))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct Sev;
impl Logic for Sev {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "severity"))
    }
    fn title(&self, _: &Record) -> Result<Option<String>, RuleError> {
        Ok(Some("severity".into()))
    }
    fn severity(&self, e: &Record) -> Option<Result<String, RuleError>> {
        if py::eq_str(get(e, "mode"), "raise") {
            return Some(py::upper(get(e, "sev")));
        }
        Some(match get(e, "sev") {
            Value::String(t) => Ok(t.clone()),
            other => Err(returned(
                "Engine.Severity",
                "severity",
                py::type_name(other),
                "str",
            )),
        })
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct Case;
impl Logic for Case {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "case"))
    }
    fn title(&self, e: &Record) -> Result<Option<String>, RuleError> {
        let f = e.fields();
        let dash = s("-");
        let parts = [
            get(e, "key"),
            get(e, "KEY"),
            py::get_or(f, "Key", &dash),
            py::deep_get_or(f, &["nest", "inner"], &dash),
            py::deep_get_or(f, &["NEST", "INNER"], &dash),
            py::get_or(f, "\u{212a}ey", &dash),
            py::get_or(f, "\u{17f}tatus", &dash),
            py::get_or(f, "status", &dash),
            py::get_or(f, "\u{1c8a}x", &dash),
        ];
        Ok(Some(
            parts
                .iter()
                .map(|v| py::str_of(v))
                .collect::<Vec<_>>()
                .join("|"),
        ))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct Deep;
impl Logic for Deep {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "deep"))
    }
    fn title(&self, e: &Record) -> Result<Option<String>, RuleError> {
        let f = e.fields();
        let d = s("D");
        let a = py::deep_get_or(f, &["a", "b", "c"], &d);
        let b = py::deep_get(f, &["a", "b"]).unwrap_or(&NONE);
        let c = py::deep_get(f, &["A", "B", "C"]).unwrap_or(&NONE);
        Ok(Some(format!(
            "{}|{}|{}",
            py::str_of(a),
            py::str_of(b),
            py::str_of(c)
        )))
    }
    fn alert_context(&self, e: &Record) -> Result<Map<String, Value>, RuleError> {
        let f = e.fields();
        let x = s("x");
        let abc = py::deep_get(f, &["a", "b", "c"]).cloned().unwrap_or(NONE);
        Ok(ctx(vec![
            ("abc", abc),
            ("ab", py::deep_get_or(f, &["a", "b"], &x).clone()),
        ]))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct RuleErrors;
impl Logic for RuleErrors {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        let mode = get(e, "kind");
        if py::eq_str(mode, "rule_raise") {
            return match get(e, "x") {
                Value::String(t) => Ok(t.starts_with('a')),
                other => Err(py::no_attribute(other, "startswith")),
            };
        }
        if py::eq_str(mode, "rule_nonbool") {
            return match get(e, "x") {
                Value::Bool(b) => Ok(*b),
                other => Err(returned(
                    "Engine.RuleErrors",
                    "rule",
                    py::type_name(other),
                    "bool",
                )),
            };
        }
        if py::eq_str(mode, "rule_key") {
            let v =
                py::get(e.fields(), "nope").ok_or_else(|| RuleError::python("KeyError", "nope"))?;
            return Ok(match v {
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() == Some(1.0),
                _ => false,
            });
        }
        Ok(false)
    }
    fn title(&self, e: &Record) -> Result<Option<String>, RuleError> {
        Ok(Some(format!(
            "rule error fixture {}",
            py::str_of(get(e, "x"))
        )))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug)]
struct Json;
impl Logic for Json {
    fn matches(&self, e: &Record) -> Result<bool, RuleError> {
        Ok(kind_is(e, "json"))
    }
    fn title(&self, e: &Record) -> Result<Option<String>, RuleError> {
        let Value::String(text) = get(e, "s") else {
            return Err(RuleError::python(
                "TypeError",
                "the JSON object must be str, bytes or bytearray",
            ));
        };
        Ok(Some(match py::json_loads(text)? {
            Some(v) => py::plain_str_of(&v),
            None => "invalid".into(),
        }))
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}
