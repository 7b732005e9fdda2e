//! The slow path: a document the parser rejected is delimited with a tolerant, iterative
//! scanner and its records are validated one by one, so one bad record costs only itself.
//!
//! What cannot be evaluated is reported, never dropped: a bad record, a list that cannot be
//! delimited, a trailing comma, an earlier `"records"` array of a repeated key, and an envelope
//! that is malformed around intact records (checked by parsing the document with its list of
//! records emptied). A document with nothing to salvage is reported whole.

use super::{
    describe, kind_of_first_byte, valid_envelope, BadRecord, BodyError, Decoded, RawRecord,
    RecordError,
};
use serde::de::IgnoredAny;
use std::borrow::Cow;
use std::ops::Range;

/// Salvages the document starting at `at` (which `serde_json` rejected with `error`) into
/// `out`; returns where the document ends.
pub(super) fn document<'a>(body: &'a [u8], at: usize, error: &str, out: &mut Decoded<'a>) -> usize {
    let end = extent(body, at);
    let doc = at..end;
    let salvaged = match body[at] {
        b'{' | b'[' => records(body, doc.clone(), out.total()),
        _ => None,
    };
    match salvaged {
        Some(s) => {
            out.documents.push(doc);
            out.records.extend(s.records);
            out.bad.extend(s.bad);
            for (error, span) in s.parts {
                out.part(error, body, span);
            }
        }
        None => {
            // Bytes that are not JSON, next to others, make one entry.
            if let Some(last) = out.parts.last_mut() {
                let last_end = last.at + last.raw.len();
                let adjacent = last_end <= at && body[last_end..at].iter().all(is_ws);
                if adjacent && matches!(last.error, BodyError::InvalidJson(_)) {
                    last.raw = &body[last.at..end];
                    return end;
                }
            }
            out.part(BodyError::InvalidJson(error.to_string()), body, doc);
        }
    }
    end
}

fn is_ws(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where the document starting at `at` ends: after its closing bracket (or the body's end when
/// it never closes); for anything else, at the next whitespace or bracket, at least one byte.
fn extent(body: &[u8], at: usize) -> usize {
    let mut s = Scanner { b: body, pos: at };
    match body[at] {
        b'{' | b'[' => {
            if s.skip_value() {
                s.pos
            } else {
                body.len()
            }
        }
        b'"' => {
            if s.skip_string() {
                s.pos
            } else {
                body.len()
            }
        }
        _ => {
            let run = body[at + 1..]
                .iter()
                .position(|b| is_ws(b) || matches!(b, b'{' | b'['))
                .map_or(body.len(), |p| at + 1 + p);
            run.max(at + 1)
        }
    }
}

/// What a salvaged document holds.
struct Salvaged<'a> {
    records: Vec<RawRecord<'a>>,
    bad: Vec<BadRecord<'a>>,
    parts: Vec<(BodyError, Range<usize>)>,
}

/// The records of a document (an array, or an object with `records`), numbered from `base`.
/// `None` when the document has no recognisable list of records, or only one bad part.
fn records(body: &[u8], doc: Range<usize>, base: usize) -> Option<Salvaged<'_>> {
    let mut s = Scanner {
        b: &body[..doc.end],
        pos: doc.start,
    };
    let mut out = Salvaged {
        records: Vec::new(),
        bad: Vec::new(),
        parts: Vec::new(),
    };
    let list_start = if body[doc.start] == b'[' {
        doc.start
    } else {
        let (last, earlier) = s.records_members()?;
        for span in earlier {
            out.parts.push((BodyError::ShadowedRecords, span));
        }
        last
    };
    let b = s.b;
    s.pos = list_start + 1;
    let mut index = base;
    let mut closed = None;
    loop {
        s.skip_ws();
        match s.peek() {
            Some(b']') => {
                closed = Some(s.pos);
                break;
            }
            None => {
                out.bad.push(BadRecord {
                    error: RecordError::Unterminated {
                        index,
                        message: "the list of records is not closed".into(),
                    },
                    raw: &b[b.len()..],
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
                raw: &b[start..],
            });
            break;
        }
        let raw = &b[start..s.pos];
        match check_record(index, raw) {
            Ok(text) => out.records.push(RawRecord { index, text }),
            Err(error) => out.bad.push(BadRecord { error, raw }),
        }
        index += 1;
        s.skip_ws();
        match s.peek() {
            Some(b',') => {
                let comma = s.pos;
                s.pos += 1;
                s.skip_ws();
                if s.peek() == Some(b']') {
                    out.bad.push(BadRecord {
                        error: RecordError::TrailingComma { index },
                        raw: &b[comma..=s.pos],
                    });
                    closed = Some(s.pos);
                    break;
                }
            }
            Some(b']') => {
                closed = Some(s.pos);
                break;
            }
            _ => {
                out.bad.push(BadRecord {
                    error: RecordError::Unterminated {
                        index,
                        message: format!("expected ',' or ']' at byte {}", s.pos),
                    },
                    raw: &b[s.pos..],
                });
                break;
            }
        }
    }
    // A document whose every part is bad gives nothing to salvage: report it whole.
    if out.records.is_empty() && out.bad.len() <= 1 {
        return None;
    }
    if let Some(close) = closed {
        if let Err(message) = check_envelope(body, &doc, list_start, close) {
            let evaluated = out.records.len();
            out.parts
                .push((BodyError::InvalidEnvelope { message, evaluated }, doc));
        }
    }
    Some(out)
}

/// Parses the document with its list of records emptied: whatever fails is in the envelope.
fn check_envelope(
    body: &[u8],
    doc: &Range<usize>,
    open: usize,
    close: usize,
) -> Result<(), String> {
    let mut text = Vec::with_capacity(doc.len() - (close - open) + 1);
    text.extend_from_slice(&body[doc.start..=open]);
    text.extend_from_slice(&body[close..doc.end]);
    valid_envelope(&text).map_err(|e| {
        let message = describe(&e, &text, 0);
        // Offsets after the emptied list are short by the list's length.
        match message.rsplit_once(" at byte ") {
            Some((what, n)) => match n.parse::<usize>() {
                Ok(n) if n > open - doc.start => {
                    format!("{what} at byte {}", n + doc.start + (close - open - 1))
                }
                Ok(n) => format!("{what} at byte {}", n + doc.start),
                Err(_) => message,
            },
            None => message,
        }
    })
}

fn check_record(index: usize, raw: &[u8]) -> Result<&str, RecordError> {
    let text = std::str::from_utf8(raw).map_err(|e| RecordError::InvalidUtf8 {
        index,
        at: e.valid_up_to(),
    })?;
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| RecordError::InvalidJson {
        index,
        message: describe(&e, raw, 0),
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
        while self.peek().as_ref().is_some_and(is_ws) {
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

    /// In an object at `pos`, its `records` members as far as they can be delimited: the
    /// position of the last one's `[` (Python's json keeps the last of duplicate keys) and
    /// the spans of the earlier ones that are arrays. `None` when the last is not an array.
    fn records_members(&mut self) -> Option<(usize, Vec<Range<usize>>)> {
        self.pos += 1;
        let mut values = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                break;
            }
            let key_start = self.pos;
            if !self.skip_string() {
                break;
            }
            let key = serde_json::from_slice::<Cow<str>>(&self.b[key_start..self.pos]);
            let is_records = key.is_ok_and(|k| k == "records");
            self.skip_ws();
            if self.peek() != Some(b':') {
                break;
            }
            self.pos += 1;
            self.skip_ws();
            let value_start = self.pos;
            let complete = self.skip_value();
            if is_records {
                values.push(value_start..self.pos);
            }
            self.skip_ws();
            if !complete || self.peek() != Some(b',') {
                break;
            }
            self.pos += 1;
        }
        let last = values.pop()?;
        if self.b.get(last.start) != Some(&b'[') {
            return None;
        }
        // As on the `serde_json` path, an empty earlier array holds nothing to report.
        let earlier = values
            .into_iter()
            .filter(|v| {
                let inner = &self.b[v.start..v.end];
                inner.first() == Some(&b'[') && inner[1..].iter().any(|b| !is_ws(b) && *b != b']')
            })
            .collect();
        Some((last.start, earlier))
    }
}
