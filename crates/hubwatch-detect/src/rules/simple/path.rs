//! Key specifiers: which event values an expression, title placeholder or context entry reads.
//!
//! Panther names event keys three ways: `Key: name` (one top-level field, taken literally even if
//! it contains dots), `DeepKey: [a, b, c]` (a list of nested keys; integers index arrays) and
//! `KeyPath: a.b[*].c` (a dot path where `[N]` picks an array element and `[*]` every element).
//! `Key` together with `DeepKey` reads the `DeepKey` path under the `Key` field.
//!
//! Every object step uses [`crate::record::lookup`], so keys are case-insensitive at every level.
//! Resolution yields the values that exist: a missing key, a key under a non-object, an index out
//! of range or a `[*]` over a non-array contribute nothing. A JSON `null` is a value.

use crate::record::lookup;
use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object key (case-insensitive).
    Key(String),
    /// An array element by position.
    Index(usize),
    /// Every element of an array.
    All,
}

/// A parsed key specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    steps: Vec<Step>,
    /// The text the rule wrote, for messages.
    text: String,
}

impl KeyPath {
    /// `Key: name`: one top-level field, dots included.
    pub fn key(name: &str) -> KeyPath {
        KeyPath {
            steps: vec![Step::Key(name.to_string())],
            text: name.to_string(),
        }
    }

    /// A path from explicit steps (`DeepKey`).
    pub fn from_steps(steps: Vec<Step>, text: String) -> KeyPath {
        KeyPath { steps, text }
    }

    /// `KeyPath: a.b[*].c[0]`.
    pub fn parse(text: &str) -> Result<KeyPath, String> {
        let mut steps = Vec::new();
        if text.is_empty() {
            return Err("KeyPath is empty".into());
        }
        for segment in text.split('.') {
            let (name, mut rest) = match segment.find('[') {
                Some(i) => (&segment[..i], &segment[i..]),
                None => (segment, ""),
            };
            if name.contains(']') {
                return Err(format!("KeyPath {text:?}: unexpected ']' in {segment:?}"));
            }
            if name.is_empty() && (rest.is_empty() || steps.is_empty()) {
                return Err(format!("KeyPath {text:?} has an empty key name"));
            }
            if !name.is_empty() {
                steps.push(Step::Key(name.to_string()));
            }
            while !rest.is_empty() {
                let Some(body) = rest.strip_prefix('[') else {
                    return Err(format!(
                        "KeyPath {text:?}: expected '[' or '.' after ']' in {segment:?}"
                    ));
                };
                let Some(close) = body.find(']') else {
                    return Err(format!("KeyPath {text:?}: unclosed '[' in {segment:?}"));
                };
                let inner = body[..close].trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else {
                    let index = inner.parse::<usize>().map_err(|_| {
                        format!(
                            "KeyPath {text:?}: array index {inner:?} is neither '*' nor a \
                             non-negative integer"
                        )
                    })?;
                    steps.push(Step::Index(index));
                }
                rest = &body[close + 1..];
            }
        }
        Ok(KeyPath {
            steps,
            text: text.to_string(),
        })
    }

    /// Whether the path can yield more than one value.
    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::All)
    }

    /// The path as the rule wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every existing value the path reaches, in document order.
    pub fn resolve<'a>(&self, record: &'a Map<String, Value>) -> Vec<&'a Value> {
        let mut current: Vec<&'a Value> = Vec::new();
        let mut steps = self.steps.iter();
        // The first step applies to the record object itself.
        match steps.next() {
            Some(Step::Key(k)) => current.extend(lookup(record, k)),
            // A record is an object: indexes and wildcards reach nothing.
            Some(_) | None => return current,
        }
        for step in steps {
            if current.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for value in current {
                match (step, value) {
                    (Step::Key(k), Value::Object(map)) => next.extend(lookup(map, k)),
                    (Step::Index(i), Value::Array(items)) => next.extend(items.get(*i)),
                    (Step::All, Value::Array(items)) => next.extend(items.iter()),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// The single value of a path without wildcards (`None` when missing); for a wildcard path,
    /// the list of every value reached.
    pub fn value(&self, record: &Map<String, Value>) -> Option<Value> {
        let found = self.resolve(record);
        if self.has_wildcard() {
            Some(Value::Array(found.into_iter().cloned().collect()))
        } else {
            found.first().map(|v| (*v).clone())
        }
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
    fn parses_paths() {
        let p = KeyPath::parse("a.b[*].c[0][1]").unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::All,
                Step::Key("c".into()),
                Step::Index(0),
                Step::Index(1)
            ]
        );
        assert!(p.has_wildcard());
        for bad in [
            "", "a..b", ".a", "a.", "a[", "a[x]", "a[-1]", "a]b", "a[0]x", "[0]",
        ] {
            assert!(KeyPath::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn resolves_case_insensitively_with_wildcards() {
        let rec = obj(json!({
            "Records": [{"X": 1}, {"x": null}, {"y": 3}, 5],
            "props": {"Id": "k"},
            "a.b": "dotted"
        }));
        let p = KeyPath::parse("records[*].x").unwrap();
        assert_eq!(p.resolve(&rec), vec![&json!(1), &json!(null)]);
        assert_eq!(
            KeyPath::parse("PROPS.id").unwrap().resolve(&rec),
            vec![&json!("k")]
        );
        assert_eq!(
            KeyPath::parse("records[3]").unwrap().resolve(&rec),
            vec![&json!(5)]
        );
        assert!(KeyPath::parse("records[9]")
            .unwrap()
            .resolve(&rec)
            .is_empty());
        assert!(KeyPath::parse("props[*]").unwrap().resolve(&rec).is_empty());
        assert!(KeyPath::parse("a.b").unwrap().resolve(&rec).is_empty());
        assert_eq!(KeyPath::key("A.B").resolve(&rec), vec![&json!("dotted")]);
        assert_eq!(p.value(&rec), Some(json!([1, null])));
        assert_eq!(KeyPath::key("missing").value(&rec), None);
    }
}
