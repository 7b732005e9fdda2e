//! A record's text into its fields: the map `serde_json::from_str` gives, built faster.
//!
//! Every record a rule reads is parsed into a `serde_json::Map` (insertion-ordered). With the
//! whole Azure Activity pack loaded that is a fifth of the records, and `serde_json`'s own
//! `Value` visitor spent most of its time growing maps and vectors one member at a time. Here
//! each object's members are gathered on one reused stack and moved into a map allocated at its
//! final size, and plain strings (no escape) are copied straight from the text.
//!
//! Exact by construction: a string with an escape and every number are read by `serde_json`
//! from their own text (`String` and `Number`); anything the grammar refuses (a trailing byte,
//! nesting deeper than `serde_json`'s limit, any error) sends the whole record to
//! `serde_json::from_str`, which then gives its error. Duplicate keys keep the first position
//! and the last value, as `Map::insert` does for `serde_json` and a `dict` for Python.
//!
//! One difference is deliberate: `serde_json`'s `Value` reads an object whose first key is one
//! of its private tokens (`$serde_json::private::Number`, `...::RawValue`) as a number or raw
//! value, so a record could turn a field into a number, or fail to parse at all, by naming one.
//! Python's `json.loads`, which Panther runs, sees a plain object; so does this builder, which
//! answers for every record `serde_json` accepts. The tests below (examples and a proptest),
//! the fuzz target `record_parse` and the panther_core differential tests hold it.

use crate::decode::{next_nonws, string_run};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;

/// Deepest nesting of a record, `serde_json`'s: it refuses the 128th nested container, so a
/// deeper record goes to it and gets its error.
const MAX_DEPTH: usize = 127;

/// The prefix of the keys `serde_json`'s `Value` reads specially (`arbitrary_precision`,
/// `raw_value`); found by the `record_parse` fuzz target.
const PRIVATE: &str = "$serde_json::private::";

/// Members the stack keeps room for between records; a record with more (a hostile one) does
/// not leave its stack allocated for the life of the thread.
const KEPT_MEMBERS: usize = 4096;

thread_local! {
    /// Members of the objects being built, innermost last; empty between records.
    static MEMBERS: RefCell<Vec<(String, Value)>> = const { RefCell::new(Vec::new()) };
}

/// Parses a record that must be a JSON object as `serde_json::from_str` would, private-token
/// keys kept plain (see the module doc).
pub fn parse_object(text: &str) -> Result<Map<String, Value>, serde_json::Error> {
    match build(text, MAX_DEPTH, |b| {
        if b.next_nonws()? != b'{' {
            return None;
        }
        b.object(0)
    }) {
        Some(map) => Ok(map),
        None => serde_json::from_str(text),
    }
}

/// Any JSON document (whitespace around it allowed), containers nested at most `max_depth`
/// deep, private-token keys plain: `None` for anything else. What Python's `json.loads` gives
/// for the text, up to the differences [`json_loads`](crate::rules::py::json_loads) names.
pub fn parse_document(text: &str, max_depth: usize) -> Option<Value> {
    build(text, max_depth, |b| b.value(0))
}

/// Runs `parse` over the whole of `text` on the thread's member stack.
fn build<T>(
    text: &str,
    max_depth: usize,
    parse: impl FnOnce(&mut Builder<'_, '_>) -> Option<T>,
) -> Option<T> {
    MEMBERS.with(|members| {
        let mut members = members.borrow_mut();
        let mut b = Builder {
            text,
            i: 0,
            max_depth,
            members: &mut members,
        };
        // Only whitespace may follow the document.
        let out = parse(&mut b).filter(|_| b.next_nonws().is_none());
        // A document given up half-way leaves members behind.
        members.clear();
        if members.capacity() > KEPT_MEMBERS {
            *members = Vec::new();
        }
        out
    })
}

/// Whether a key anywhere in `v` starts with `$serde_json::private::`: where `serde_json::from_str` and
/// this builder differ on purpose (for differential tests).
pub fn names_private(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.starts_with(PRIVATE) || names_private(v)),
        Value::Array(a) => a.iter().any(names_private),
        _ => false,
    }
}

struct Builder<'a, 'm> {
    text: &'a str,
    i: usize,
    /// Containers nested deeper than this are refused.
    max_depth: usize,
    members: &'m mut Vec<(String, Value)>,
}

impl Builder<'_, '_> {
    #[inline]
    fn next_nonws(&mut self) -> Option<u8> {
        next_nonws(self.text.as_bytes(), &mut self.i)
    }

    /// The object whose `{` is at `i`, nested in `depth` containers.
    fn object(&mut self, depth: usize) -> Option<Map<String, Value>> {
        if depth >= self.max_depth {
            return None;
        }
        self.i += 1;
        let base = self.members.len();
        if self.next_nonws()? != b'}' {
            loop {
                if self.next_nonws()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                if self.next_nonws()? != b':' {
                    return None;
                }
                self.i += 1;
                let value = self.value(depth + 1)?;
                self.members.push((key, value));
                match self.next_nonws()? {
                    b',' => self.i += 1,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.i += 1;
        let mut map = Map::with_capacity(self.members.len() - base);
        for (k, v) in self.members.drain(base..) {
            map.insert(k, v);
        }
        Some(map)
    }

    /// The array whose `[` is at `i`, nested in `depth` containers.
    fn array(&mut self, depth: usize) -> Option<Vec<Value>> {
        if depth >= self.max_depth {
            return None;
        }
        self.i += 1;
        let mut items = Vec::new();
        if self.next_nonws()? == b']' {
            self.i += 1;
            return Some(items);
        }
        loop {
            items.push(self.value(depth + 1)?);
            match self.next_nonws()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(items);
                }
                _ => return None,
            }
        }
    }

    /// One value inside `depth` containers (whitespace before it skipped); `i` ends past it.
    fn value(&mut self, depth: usize) -> Option<Value> {
        Some(match self.next_nonws()? {
            b'{' => Value::Object(self.object(depth)?),
            b'[' => Value::Array(self.array(depth)?),
            b'"' => Value::String(self.string()?),
            b't' => self.literal("true", Value::Bool(true))?,
            b'f' => self.literal("false", Value::Bool(false))?,
            b'n' => self.literal("null", Value::Null)?,
            _ => Value::Number(self.number()?),
        })
    }

    /// The string whose `"` is at `i`. One with an escape is unescaped by `serde_json`
    /// (surrogate pairs, lone surrogates refused).
    fn string(&mut self) -> Option<String> {
        let b = self.text.as_bytes();
        let start = self.i;
        let (at, quote) = string_run(b, start + 1);
        if quote {
            self.i = at + 1;
            return self.text.get(start + 1..at).map(str::to_owned);
        }
        // An escape (or a control character, which serde_json refuses): find the closing
        // quote, stepping over every escaped byte.
        let mut j = at;
        loop {
            match *b.get(j)? {
                b'"' => break,
                b'\\' => j += 2,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        serde_json::from_str(self.text.get(start..=j)?).ok()
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        let end = self.i + word.len();
        if self.text.as_bytes().get(self.i..end)? != word.as_bytes() {
            return None;
        }
        self.i = end;
        Some(value)
    }

    /// The number at `i`, read by `serde_json` from its text (`arbitrary_precision` keeps it as
    /// written).
    fn number(&mut self) -> Option<Number> {
        let b = self.text.as_bytes();
        let start = self.i;
        let mut j = start;
        while b
            .get(j)
            .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            j += 1;
        }
        self.i = j;
        self.text.get(start..j)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_strategies::{mutate, respell, value};
    use proptest::prelude::*;

    fn same(text: &str) {
        let ours = parse_object(text);
        let theirs: Result<Map<String, Value>, _> = serde_json::from_str(text);
        if let Ok(map) = &ours {
            if names_private(&Value::Object(map.clone())) {
                return;
            }
        }
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{text}");
                // Key order and number spelling too.
                assert_eq!(
                    serde_json::to_string(a).ok(),
                    serde_json::to_string(b).ok(),
                    "{text}"
                );
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
            _ => panic!("{text}: {ours:?} against {theirs:?}"),
        }
    }

    #[test]
    fn the_same_map_as_serde_json() {
        for text in [
            r#"{}"#,
            r#" { "a" : 1 , "b":[ ], "c":{ }, "d":[1,[2,{"e":null}]] } "#,
            r#"{"a":1,"A":2,"a":3}"#,
            r#"{"s":"plain","t":"esc\"aped\\ \/ \u00e9 \ud83d\ude00","u":"\n"}"#,
            r#"{"n":-0,"m":1.5e3,"o":-15096162171.497213,"p":123456789012345678901234567890}"#,
            r#"{"n":0.1E-5,"b":true,"f":false,"z":null}"#,
            r#"{"k\u0041y":"v","kAy":"w"}"#,
            "{\"caf\u{e9}\":\"\u{1f600}\"}",
        ] {
            same(text);
        }
    }

    /// Where serde_json's `Value` reads a number or a raw value (or fails), Python and this
    /// builder see a plain object, at any depth serde_json accepts.
    #[test]
    fn private_tokens_are_plain_keys() {
        let plain = |key: &str, v: &str| {
            let mut m = Map::new();
            m.insert(key.to_string(), Value::String(v.to_string()));
            Value::Object(m)
        };
        let number = "$serde_json::private::Number";
        let raw = "$serde_json::private::RawValue";
        for (text, a) in [
            (
                r#"{"a":{"$serde_json::private::Number":"12"}}"#,
                plain(number, "12"),
            ),
            (
                r#"{"a":{"$serde_json::private::Number":"99.9$x"}}"#,
                plain(number, "99.9$x"),
            ),
            (
                r#"{"a":{"\u0024serde_json::private::RawValue":"[1]"}}"#,
                plain(raw, "[1]"),
            ),
        ] {
            // serde_json reads the first as 12 and refuses the other two.
            assert_ne!(
                serde_json::from_str::<Map<String, Value>>(text).ok(),
                Some(Map::from_iter([("a".to_string(), a.clone())])),
                "{text}"
            );
            let ours = parse_object(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(ours.get("a"), Some(&a), "{text}");
            assert_eq!(
                parse_document(&format!(" [{text}] "), 3),
                Some(Value::Array(vec![Value::Object(ours)]))
            );
        }
        // The deepest record serde_json accepts is built here too.
        let depth = MAX_DEPTH - 1;
        let text = format!(
            "{}{}{}",
            "{\"a\":".repeat(depth),
            r#"{"$serde_json::private::Number":"1"}"#,
            "}".repeat(depth)
        );
        let mut v = &Value::Object(parse_object(&text).unwrap_or_default());
        for _ in 0..depth {
            v = &v["a"];
        }
        assert_eq!(v, &plain(number, "1"));
    }

    #[test]
    fn documents_of_any_kind_within_their_depth() {
        for (text, depth, expected) in [
            (" 1 ", 0, Some(serde_json::json!(1))),
            ("\"s\"", 0, Some(serde_json::json!("s"))),
            ("[[1]]", 2, Some(serde_json::json!([[1]]))),
            ("[[1]]", 1, None),
            (r#"{"a":{}}"#, 1, None),
            ("[1] x", 5, None),
            ("", 5, None),
        ] {
            assert_eq!(parse_document(text, depth), expected, "{text}");
        }
    }

    #[test]
    fn what_serde_json_refuses_it_refuses_the_same_way() {
        for text in [
            r#"{"a":"\ud800"}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":+1}"#,
            r#"{"a":1}x"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":tru}"#,
            "{\"a\":\"\u{1}\"}",
            r#"["not an object"]"#,
            r#"{"a":"unterminated"#,
            r#"{"a":"\"#,
        ] {
            same(text);
        }
    }

    #[test]
    fn a_huge_record_does_not_keep_its_stack() {
        let members: Vec<String> = (0..10_000).map(|i| format!("\"k{i}\":{i}")).collect();
        same(&format!("{{{}}}", members.join(",")));
        MEMBERS.with(|m| assert!(m.borrow().capacity() <= KEPT_MEMBERS));
    }

    #[test]
    fn deep_records_go_to_serde_json() {
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 127, 128, 129, 400] {
            let text = format!(
                "{}{}",
                "{\"a\":".repeat(depth),
                "1".to_string() + &"}".repeat(depth)
            );
            same(&text);
            let text = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
            same(&text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Records as producers write them (compact or pretty, escapes respelled), and the
        /// same records broken by a few byte edits.
        #[test]
        fn agrees_with_serde_json(
            v in value(),
            pretty in any::<bool>(),
            seed in any::<u64>(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let doc = serde_json::json!({"time": "t", "v": v});
            let text = if pretty {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            };
            let text = respell(&text.unwrap_or_default(), seed);
            same(&text);
            if let Some(broken) = mutate(&text, &edits) {
                same(&broken);
            }
        }
    }
}
