//! Match expressions: parsing the `Detection:` list and evaluating it on a record.
//!
//! An expression is either a key/value match (`Key`, `KeyPath` or `DeepKey`, with `Condition`
//! and `Value`/`Values` as the condition needs) or a combinator holding a list of expressions:
//! `All` (every one), `Any` (at least one), `OnlyOne` (exactly one) and `None` (not one). The
//! `Detection:` list itself is an implicit `All`.

use super::condition::{Condition, Given, Literal, Num, Operand, CONDITIONS};
use super::path::{KeyPath, Step};
use super::SimpleError;
use serde_json::{Map, Value};
use serde_norway::Value as Yaml;

/// Combinators may nest this deep; more is almost certainly a mistake and would only cost stack.
pub const MAX_DEPTH: usize = 32;

/// A parsed match expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Match { path: KeyPath, condition: Condition },
    All(Vec<Expr>),
    Any(Vec<Expr>),
    OnlyOne(Vec<Expr>),
    None(Vec<Expr>),
}

const COMBINATORS: [&str; 4] = ["All", "Any", "OnlyOne", "None"];
const MATCH_KEYS: [&str; 6] = ["Key", "DeepKey", "KeyPath", "Condition", "Value", "Values"];

impl Expr {
    /// Whether the expression holds for the record.
    pub fn eval(&self, record: &Map<String, Value>) -> bool {
        match self {
            Expr::Match { path, condition } => condition.holds(&path.resolve(record)),
            Expr::All(items) => items.iter().all(|e| e.eval(record)),
            Expr::Any(items) => items.iter().any(|e| e.eval(record)),
            Expr::OnlyOne(items) => {
                let mut found = false;
                for e in items {
                    if e.eval(record) {
                        if found {
                            return false;
                        }
                        found = true;
                    }
                }
                found
            }
            Expr::None(items) => !items.iter().any(|e| e.eval(record)),
        }
    }

    /// Substrings one of which is in the raw text of every record the expression matches.
    pub fn needles(&self) -> Option<Vec<String>> {
        match self {
            Expr::Match { condition, .. } => condition.needles(),
            Expr::All(items) => all_needles(items),
            Expr::Any(items) | Expr::OnlyOne(items) => {
                // Matching implies some child matched: every child must promise needles.
                let mut union = Vec::new();
                for item in items {
                    union.extend(item.needles()?);
                }
                dedup(union)
            }
            Expr::None(_) => None,
        }
    }
}

/// For a conjunction any child's needles will do: the most selective, judged by the length of
/// its shortest needle (ties: fewer needles).
pub fn all_needles(items: &[Expr]) -> Option<Vec<String>> {
    items
        .iter()
        .filter_map(Expr::needles)
        .filter(|n| !n.is_empty())
        .max_by(|a, b| {
            let shortest = |n: &Vec<String>| n.iter().map(String::len).min().unwrap_or(0);
            shortest(a)
                .cmp(&shortest(b))
                .then_with(|| b.len().cmp(&a.len()))
        })
        .and_then(dedup)
}

/// Removes needles that repeat (ignoring ASCII case); `None` for an empty list.
fn dedup(needles: Vec<String>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in needles {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&n)) {
            out.push(n);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Parses a list of expressions (the `Detection:` block or a combinator's list).
pub fn parse_list(value: &Yaml, what: &str, depth: usize) -> Result<Vec<Expr>, SimpleError> {
    if depth > MAX_DEPTH {
        return Err(SimpleError::new(
            format!("{what}: combinators nest deeper than {MAX_DEPTH} levels"),
            what,
        ));
    }
    let Yaml::Sequence(items) = value else {
        return Err(SimpleError::new(
            format!("{what} must be a list of match expressions"),
            what,
        ));
    };
    if items.is_empty() {
        return Err(SimpleError::new(
            format!("{what} is an empty list of match expressions"),
            what,
        ));
    }
    items.iter().map(|item| parse_expr(item, depth)).collect()
}

/// Parses one expression.
pub fn parse_expr(value: &Yaml, depth: usize) -> Result<Expr, SimpleError> {
    let Yaml::Mapping(map) = value else {
        return Err(SimpleError::new(
            format!(
                "a match expression must be a mapping (Key/KeyPath/DeepKey with Condition, or \
                 one of {}), found {}",
                COMBINATORS.join(", "),
                yaml_kind(value)
            ),
            "Detection",
        ));
    };
    let mut fields: Vec<(&str, &Yaml)> = Vec::new();
    for (k, v) in map {
        let Yaml::String(k) = k else {
            return Err(SimpleError::new(
                format!("match expression key {} is not a string", yaml_kind(k)),
                "Detection",
            ));
        };
        fields.push((k.as_str(), v));
    }
    let get = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    if let Some((name, list)) = fields.iter().find(|(k, _)| COMBINATORS.contains(k)) {
        if let Some((other, _)) = fields.iter().find(|(k, _)| k != name) {
            return Err(SimpleError::new(
                format!("combinator {name} cannot share its mapping with {other:?}"),
                *other,
            ));
        }
        let items = parse_list(list, name, depth + 1)?;
        return Ok(match *name {
            "All" => Expr::All(items),
            "Any" => Expr::Any(items),
            "OnlyOne" => Expr::OnlyOne(items),
            _ => Expr::None(items),
        });
    }
    if let Some((unknown, _)) = fields.iter().find(|(k, _)| !MATCH_KEYS.contains(k)) {
        return Err(SimpleError::new(
            format!(
                "unknown key {unknown:?} in match expression (expected {} or a combinator {}; \
                 list comprehension, multi-key and enrichment expressions are not supported)",
                MATCH_KEYS.join(", "),
                COMBINATORS.join(", ")
            ),
            *unknown,
        ));
    }
    let path = parse_key_spec(get("Key"), get("DeepKey"), get("KeyPath"))?;
    let shown = path.text().to_string();
    // Text that occurs in the file: the Key, else the KeyPath, else the last DeepKey name.
    let anchor = match (get("Key"), get("KeyPath"), get("DeepKey")) {
        (Some(Yaml::String(k)), _, _) | (None, Some(Yaml::String(k)), _) => k.clone(),
        (None, None, Some(Yaml::Sequence(parts))) => parts
            .iter()
            .rev()
            .find_map(|p| match p {
                Yaml::String(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "DeepKey".to_string()),
        _ => shown.clone(),
    };
    let Some(cond_value) = get("Condition") else {
        return Err(SimpleError::new(
            format!("match expression on {shown:?} has no Condition"),
            anchor,
        ));
    };
    let Yaml::String(cond_name) = cond_value else {
        return Err(SimpleError::new(
            format!("Condition of {shown:?} must be a condition name"),
            anchor,
        ));
    };
    let Some((name, operand, _)) = Condition::lookup(cond_name) else {
        let known: Vec<&str> = CONDITIONS.iter().map(|(n, _, _)| *n).collect();
        return Err(SimpleError::new(
            format!(
                "unknown Condition {cond_name:?} on {shown:?} (supported: {})",
                known.join(", ")
            ),
            cond_name.clone(),
        ));
    };
    let given = parse_operand(name, operand, get("Value"), get("Values"))
        .map_err(|m| SimpleError::new(format!("{m} (on {shown:?})"), anchor.clone()))?;
    let condition = Condition::build(name, given)
        .map_err(|m| SimpleError::new(format!("{m} (on {shown:?})"), anchor.clone()))?;
    Ok(Expr::Match { path, condition })
}

/// Parses `Key`, `DeepKey` and `KeyPath` (also used by alert context and group-by entries).
pub fn parse_key_spec(
    key: Option<&Yaml>,
    deep: Option<&Yaml>,
    key_path: Option<&Yaml>,
) -> Result<KeyPath, SimpleError> {
    let text = |v: &Yaml, what: &str| match v {
        Yaml::String(s) if !s.is_empty() => Ok(s.clone()),
        other => Err(SimpleError::new(
            format!(
                "{what} must be a non-empty string, found {}",
                yaml_kind(other)
            ),
            what,
        )),
    };
    match (key, deep, key_path) {
        (Some(_), _, Some(p)) | (_, Some(_), Some(p)) => {
            let p = text(p, "KeyPath")?;
            Err(SimpleError::new(
                format!("KeyPath {p:?} cannot be combined with Key or DeepKey: use one of them"),
                p,
            ))
        }
        (None, None, Some(p)) => {
            let p = text(p, "KeyPath")?;
            KeyPath::parse(&p).map_err(|m| SimpleError::new(m, p))
        }
        (key, Some(deep), None) => {
            let mut steps = Vec::new();
            let mut shown = Vec::new();
            if let Some(k) = key {
                let k = text(k, "Key")?;
                shown.push(k.clone());
                steps.push(Step::Key(k));
            }
            let Yaml::Sequence(parts) = deep else {
                return Err(SimpleError::new(
                    format!("DeepKey must be a list of keys, found {}", yaml_kind(deep)),
                    "DeepKey",
                ));
            };
            if parts.is_empty() {
                return Err(SimpleError::new("DeepKey is an empty list", "DeepKey"));
            }
            for part in parts {
                match part {
                    Yaml::String(s) => {
                        shown.push(s.clone());
                        steps.push(Step::Key(s.clone()));
                    }
                    Yaml::Number(n) if n.as_u64().is_some() => {
                        let i = n.as_u64().unwrap_or(0);
                        match shown.last_mut() {
                            Some(last) => last.push_str(&format!("[{i}]")),
                            None => shown.push(format!("[{i}]")),
                        }
                        steps.push(Step::Index(usize::try_from(i).unwrap_or(usize::MAX)));
                    }
                    other => {
                        return Err(SimpleError::new(
                            format!(
                                "DeepKey entries must be key names or array indexes, found {}",
                                yaml_kind(other)
                            ),
                            "DeepKey",
                        ))
                    }
                }
            }
            if matches!(steps.first(), Some(Step::Index(_))) {
                return Err(SimpleError::new(
                    "DeepKey must start with a key name, not an index",
                    "DeepKey",
                ));
            }
            Ok(KeyPath::from_steps(steps, shown.join(".")))
        }
        (Some(k), None, None) => Ok(KeyPath::key(&text(k, "Key")?)),
        (None, None, None) => Err(SimpleError::new(
            format!(
                "match expression needs a key (Key, KeyPath or DeepKey) or a combinator ({})",
                COMBINATORS.join(", ")
            ),
            "Detection",
        )),
    }
}

/// Checks `Value`/`Values` against what the condition needs.
fn parse_operand(
    name: &str,
    operand: Operand,
    value: Option<&Yaml>,
    values: Option<&Yaml>,
) -> Result<Given, String> {
    match operand {
        Operand::None => {
            if value.is_some() || values.is_some() {
                return Err(format!("{name} takes no Value or Values"));
            }
            Ok(Given::None)
        }
        Operand::Scalars | Operand::Strs => {
            if value.is_some() {
                return Err(format!("{name} takes Values (a list), not Value"));
            }
            let Some(values) = values else {
                return Err(format!("{name} needs Values (a list)"));
            };
            let Yaml::Sequence(items) = values else {
                return Err(format!(
                    "{name} needs Values to be a list, found {}",
                    yaml_kind(values)
                ));
            };
            if items.is_empty() {
                return Err(format!("{name} has an empty Values list"));
            }
            let literals = items
                .iter()
                .map(|v| literal(name, v))
                .collect::<Result<Vec<_>, _>>()?;
            if operand == Operand::Strs && !literals.iter().all(|l| matches!(l, Literal::Str(_))) {
                return Err(format!("{name} needs every entry of Values to be a string"));
            }
            Ok(Given::Many(literals))
        }
        Operand::Scalar | Operand::Str | Operand::Number | Operand::Cidr => {
            if values.is_some() {
                return Err(format!("{name} takes a single Value, not Values"));
            }
            let Some(value) = value else {
                return Err(format!("{name} needs a Value"));
            };
            let lit = literal(name, value)?;
            let ok = match operand {
                Operand::Str | Operand::Cidr => matches!(lit, Literal::Str(_)),
                Operand::Number => matches!(lit, Literal::Num(_)),
                _ => true,
            };
            if !ok {
                let want = if operand == Operand::Number {
                    "a number"
                } else {
                    "a string"
                };
                return Err(format!(
                    "{name} needs Value to be {want}, found {}",
                    yaml_kind(value)
                ));
            }
            Ok(Given::One(lit))
        }
    }
}

/// A YAML scalar as a literal: string, number or boolean.
fn literal(name: &str, value: &Yaml) -> Result<Literal, String> {
    match value {
        Yaml::String(s) => Ok(Literal::Str(s.clone())),
        Yaml::Bool(b) => Ok(Literal::Bool(*b)),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Literal::Num(Num::Int(i128::from(i))))
            } else if let Some(u) = n.as_u64() {
                Ok(Literal::Num(Num::Int(i128::from(u))))
            } else {
                n.as_f64()
                    .map(|f| Literal::Num(Num::Float(f)))
                    .ok_or_else(|| format!("{name}: unreadable number"))
            }
        }
        Yaml::Null => Err(format!(
            "{name} has an empty (null) value; use IsNull/IsNotNull to test for null"
        )),
        other => Err(format!(
            "{name} compares with scalars (string, number, boolean), found {}",
            yaml_kind(other)
        )),
    }
}

/// A short name of a YAML node's kind, for messages.
pub fn yaml_kind(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}
