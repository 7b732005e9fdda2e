//! Splitting an Event Hubs body into records without copying them.
//!
//! A body is UTF-8 JSON: `{"records": [...]}` (what Azure diagnostic settings send), a bare
//! record object, or an array of records. The fast path validates the whole body in one
//! `serde_json` pass and borrows each record's text. When that pass fails (bad UTF-8, a syntax
//! error, nesting beyond the depth limit) a tolerant scanner finds the record boundaries so that
//! one bad record costs only itself: the others are still evaluated.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Default largest body accepted: Event Hubs' own limit for one event is 1 MB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Limits applied to every body.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_body_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Why a whole body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("empty body")]
    Empty,
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("body is a JSON {0}, not an object or an array of records")]
    NotRecords(&'static str),
    #[error("\"records\" is a JSON {0}, not an array")]
    RecordsNotArray(&'static str),
    #[error("event body is not a single AMQP data section")]
    NotData,
}

impl BodyError {
    /// A short stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            BodyError::Empty => "empty",
            BodyError::TooLarge { .. } => "too_large",
            BodyError::InvalidJson(_) => "invalid_json",
            BodyError::NotRecords(_) => "not_records",
            BodyError::RecordsNotArray(_) => "records_not_array",
            BodyError::NotData => "not_data",
        }
    }
}

/// Why one record of an otherwise readable body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record {index} is a JSON {found}, not an object")]
    NotObject { index: usize, found: &'static str },
    #[error("record {index} is not valid JSON: {message}")]
    InvalidJson { index: usize, message: String },
    #[error("record {index} is not valid UTF-8 (at byte {at} of the record)")]
    InvalidUtf8 { index: usize, at: usize },
    #[error("records after record {index} could not be delimited: {message}")]
    Unterminated { index: usize, message: String },
}

impl RecordError {
    /// The record's position in its body.
    pub fn index(&self) -> usize {
        match self {
            RecordError::NotObject { index, .. }
            | RecordError::InvalidJson { index, .. }
            | RecordError::InvalidUtf8 { index, .. }
            | RecordError::Unterminated { index, .. } => *index,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::NotObject { .. } => "record_not_object",
            RecordError::InvalidJson { .. } => "record_invalid_json",
            RecordError::InvalidUtf8 { .. } => "record_invalid_utf8",
            RecordError::Unterminated { .. } => "record_unterminated",
        }
    }
}

/// A rejected record and its raw bytes (for the dead-letter file).
#[derive(Debug, Clone)]
pub struct BadRecord<'a> {
    pub error: RecordError,
    pub raw: &'a [u8],
}

/// One record that is a JSON object, borrowed from the body.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Position of the record within its body, from 0.
    pub index: usize,
    /// The record's JSON text, exactly as received.
    pub text: &'a str,
}

/// A body split into records.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    pub records: Vec<RawRecord<'a>>,
    pub bad: Vec<BadRecord<'a>>,
}

impl Decoded<'_> {
    /// Every record the body held, good or bad.
    pub fn total(&self) -> usize {
        self.records.len() + self.bad.len()
    }
}

/// Splits a body into records.
pub fn decode_body<'a>(body: &'a [u8], limits: &DecodeLimits) -> Result<Decoded<'a>, BodyError> {
    if body.len() > limits.max_body_bytes {
        return Err(BodyError::TooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(BodyError::Empty);
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope::Records(items)) => Ok(classify(items)),
        Ok(Envelope::Bare) => {
            // The whole body is one object; from_slice has validated it as UTF-8 JSON.
            let text = std::str::from_utf8(trim(body))
                .map_err(|e| BodyError::InvalidJson(e.to_string()))?;
            Ok(Decoded {
                records: vec![RawRecord { index: 0, text }],
                bad: Vec::new(),
            })
        }
        Ok(Envelope::NotRecords(kind)) => Err(BodyError::NotRecords(kind)),
        Ok(Envelope::RecordsNotArray(kind)) => Err(BodyError::RecordsNotArray(kind)),
        Err(e) => salvage(body).ok_or_else(|| BodyError::InvalidJson(e.to_string())),
    }
}

fn classify(items: Vec<&RawValue>) -> Decoded<'_> {
    let mut out = Decoded {
        records: Vec::with_capacity(items.len()),
        bad: Vec::new(),
    };
    for (index, raw) in items.into_iter().enumerate() {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'{') => out.records.push(RawRecord { index, text }),
            first => out.bad.push(BadRecord {
                error: RecordError::NotObject {
                    index,
                    found: kind_of_first_byte(first.copied()),
                },
                raw: text.as_bytes(),
            }),
        }
    }
    out
}

fn kind_of_first_byte(b: Option<u8>) -> &'static str {
    match b {
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't') | Some(b'f') => "boolean",
        Some(b'n') => "null",
        Some(b'{') => "object",
        _ => "number",
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

/// What the fast path learns about a body's shape.
enum Envelope<'a> {
    Records(Vec<&'a RawValue>),
    Bare,
    NotRecords(&'static str),
    RecordsNotArray(&'static str),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Envelope<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Envelope::Records(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "records" && records.is_none() {
                records = Some(map.next_value::<RecordsField<'de>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(match records {
            None => Envelope::Bare,
            Some(RecordsField::Array(items)) => Envelope::Records(items),
            Some(RecordsField::Other(kind)) => Envelope::RecordsNotArray(kind),
        })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("null"))
    }
}

/// The value of `records`: an array of raw records, or the kind of whatever else it was.
enum RecordsField<'a> {
    Array(Vec<&'a RawValue>),
    Other(&'static str),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RecordsField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RecordsVisitor)
    }
}

struct RecordsVisitor;

impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = RecordsField<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(RecordsField::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RecordsField::Other("object"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("null"))
    }
}

/// The slow path: find each record's bytes with a tolerant, iterative scanner and validate the
/// records one by one. `None` when the body has no recognisable list of records (then the whole
/// body is the error).
fn salvage(body: &[u8]) -> Option<Decoded<'_>> {
    let mut s = Scanner { b: body, pos: 0 };
    s.skip_ws();
    let list_start = match s.peek()? {
        b'[' => s.pos,
        b'{' => s.find_records_array()?,
        _ => return None,
    };
    s.pos = list_start + 1;
    let mut out = Decoded::default();
    let mut index = 0;
    loop {
        s.skip_ws();
        match s.peek() {
            Some(b']') => break,
            None => {
                out.bad.push(BadRecord {
                    error: RecordError::Unterminated {
                        index,
                        message: "the list of records is not closed".into(),
                    },
                    raw: &body[body.len()..],
                });
                break;
            }
            _ => {}
        }
        let start = s.pos;
        if !s.skip_value() {
            out.bad.push(BadRecord {
                error: RecordError::Unterminated {
                    index,
                    message: "a string or bracket is not closed".into(),
                },
                raw: &body[start..],
            });
            break;
        }
        let raw = &body[start..s.pos];
        match check_record(index, raw) {
            Ok(text) => out.records.push(RawRecord { index, text }),
            Err(error) => out.bad.push(BadRecord { error, raw }),
        }
        index += 1;
        s.skip_ws();
        match s.peek() {
            Some(b',') => s.pos += 1,
            Some(b']') => break,
            _ => {
                out.bad.push(BadRecord {
                    error: RecordError::Unterminated {
                        index,
                        message: format!("expected ',' or ']' at byte {}", s.pos),
                    },
                    raw: &body[s.pos..],
                });
                break;
            }
        }
    }
    // A body whose every part is bad gives nothing to salvage: report the body itself.
    if out.records.is_empty() && out.bad.len() <= 1 {
        return None;
    }
    Some(out)
}

fn check_record(index: usize, raw: &[u8]) -> Result<&str, RecordError> {
    let text = std::str::from_utf8(raw).map_err(|e| RecordError::InvalidUtf8 {
        index,
        at: e.valid_up_to(),
    })?;
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| RecordError::InvalidJson {
        index,
        message: e.to_string(),
    })?;
    match raw.first() {
        Some(b'{') => Ok(text),
        other => Err(RecordError::NotObject {
            index,
            found: kind_of_first_byte(other.copied()),
        }),
    }
}

/// A byte scanner that knows strings and brackets, nothing more; never recursive.
struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Skips a string starting at `pos` (on the quote); false when unterminated.
    fn skip_string(&mut self) -> bool {
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'"' => return true,
                _ => {}
            }
        }
        false
    }

    /// Skips one value of any kind; false when it runs off the end.
    fn skip_value(&mut self) -> bool {
        let mut depth = 0usize;
        loop {
            let Some(c) = self.peek() else {
                return false;
            };
            match c {
                b'"' => {
                    if !self.skip_string() {
                        return false;
                    }
                    if depth == 0 {
                        return true;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    if depth == 0 {
                        return true; // a scalar ended by the list's closing bracket
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return true;
                    }
                }
                b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return true,
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// In an object at `pos`, finds the `records` member whose value is an array; returns the
    /// position of its `[`.
    fn find_records_array(&mut self) -> Option<usize> {
        self.pos += 1;
        loop {
            self.skip_ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key_start = self.pos;
            if !self.skip_string() {
                return None;
            }
            let key: Cow<str> = serde_json::from_slice(&self.b[key_start..self.pos]).ok()?;
            self.skip_ws();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.skip_ws();
            if key == "records" && self.peek()? == b'[' {
                return Some(self.pos);
            }
            if !self.skip_value() {
                return None;
            }
            self.skip_ws();
            if self.peek()? != b',' {
                return None;
            }
            self.pos += 1;
        }
    }
}

/// A bounded, printable excerpt of raw input for logs and dead-letter reasons.
pub fn excerpt(raw: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n >= max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> Result<Decoded<'_>, BodyError> {
        decode_body(s, &DecodeLimits::default())
    }

    #[test]
    fn shapes() {
        let d = dec(br#"{"records":[{"a":1},{"b":2}]}"#).unwrap_or_default();
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.records[1].text, r#"{"b":2}"#);
        let d = dec(br#"[{"a":1}, 3, "x"]"#).unwrap_or_default();
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.bad.len(), 2);
        let d = dec(br#" {"a":1} "#).unwrap_or_default();
        assert_eq!(d.records[0].text, r#"{"a":1}"#);
        assert_eq!(dec(b"  ").err(), Some(BodyError::Empty));
        assert_eq!(dec(b"5").err(), Some(BodyError::NotRecords("number")));
        assert_eq!(
            dec(br#"{"records":{"a":1}}"#).err(),
            Some(BodyError::RecordsNotArray("object"))
        );
    }

    #[test]
    fn salvages_other_records() {
        let mut body = br#"{"records":[{"a":1},{"b":""#.to_vec();
        body.extend_from_slice(b"\xff\xfe");
        body.extend_from_slice(br#""},{"c":3}]}"#);
        let d = dec(&body).unwrap_or_default();
        assert_eq!(d.records.len(), 2, "{d:?}");
        assert_eq!(d.bad.len(), 1);
        assert!(matches!(
            d.bad[0].error,
            RecordError::InvalidUtf8 { index: 1, .. }
        ));

        let deep = format!(
            "[{{\"a\":1}},{}{},{{\"c\":3}}]",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let d = dec(deep.as_bytes()).unwrap_or_default();
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.bad.len(), 1);
    }

    #[test]
    fn invalid_json_body() {
        assert!(matches!(dec(b"{not json"), Err(BodyError::InvalidJson(_))));
        assert!(matches!(dec(b"\xff"), Err(BodyError::InvalidJson(_))));
    }

    #[test]
    fn excerpt_is_bounded() {
        assert_eq!(excerpt(b"ab\ncd", 3), "ab\\n…");
    }
}
