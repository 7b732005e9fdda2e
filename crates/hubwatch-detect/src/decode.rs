//! Splitting an Event Hubs body into records without copying them.
//!
//! A body is UTF-8 JSON: `{"records": [...]}` (what Azure diagnostic settings send), a bare
//! record object, or an array of records. It may hold several such documents, back to back or
//! separated by whitespace, as log forwarders send newline-delimited batches: each document is
//! decoded on its own, and records are numbered across the whole body.
//!
//! Where Python's `json` (Panther's parser) accepts a document, the records are the ones it
//! reads: of duplicate `"records"` keys the last wins, and the arrays it replaces are reported
//! (never dropped silently). Where it does not, nothing passes silently: the document, or the
//! part of it that cannot be read, is reported with the reason.
//!
//! Three readers, each taking what the one before gives up on. [`fast`] validates the documents
//! of a well-formed body in one hand-written pass and borrows each record's text. Any other
//! body is read by `serde_json`, a stream over the body, which reports the problem and gives
//! the same records where both read a body. When a document fails there (bad UTF-8, a syntax
//! error), [`salvage`] finds its record boundaries with a tolerant scanner so that one bad
//! record costs only itself: the others are still evaluated.

mod envelope;
mod fast;
mod salvage;

use envelope::{valid_envelope, Envelope};
pub(crate) use fast::string_run;

use serde_json::value::RawValue;

/// Default largest body accepted: Event Hubs' own limit for one event is 1 MB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How much of an over-long body a dead-letter entry keeps.
pub const DEAD_LETTER_HEAD: usize = 4096;

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

/// Why a whole body, or one part of it, was rejected.
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
    /// The document around its records is malformed; the intact records were still evaluated.
    #[error("body is not valid JSON outside its records: {message}; its {evaluated} intact record(s) were evaluated")]
    InvalidEnvelope { message: String, evaluated: usize },
    /// An earlier `"records"` array of a document that repeats the key.
    #[error("a later \"records\" key replaces this array (Python's json keeps the last), so its records are not evaluated")]
    ShadowedRecords,
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
            BodyError::InvalidEnvelope { .. } => "invalid_envelope",
            BodyError::ShadowedRecords => "records_shadowed",
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
    /// `index` is where a record would follow the comma.
    #[error("the list of records ends with a comma after record {} (not valid JSON)", .index.saturating_sub(1))]
    TrailingComma { index: usize },
}

impl RecordError {
    /// The record's position in its body.
    pub fn index(&self) -> usize {
        match self {
            RecordError::NotObject { index, .. }
            | RecordError::InvalidJson { index, .. }
            | RecordError::InvalidUtf8 { index, .. }
            | RecordError::Unterminated { index, .. }
            | RecordError::TrailingComma { index } => *index,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::NotObject { .. } => "record_not_object",
            RecordError::InvalidJson { .. } => "record_invalid_json",
            RecordError::InvalidUtf8 { .. } => "record_invalid_utf8",
            RecordError::Unterminated { .. } => "record_unterminated",
            RecordError::TrailingComma { .. } => "record_trailing_comma",
        }
    }
}

/// A rejected record and its raw bytes (for the dead-letter file).
#[derive(Debug, Clone)]
pub struct BadRecord<'a> {
    pub error: RecordError,
    pub raw: &'a [u8],
}

/// A part of a body rejected as a whole: a document that cannot be read, bytes between
/// documents that are not JSON, a replaced `"records"` array, a malformed envelope.
#[derive(Debug, Clone)]
pub struct BadPart<'a> {
    pub error: BodyError,
    pub raw: &'a [u8],
    /// Byte offset of `raw` in the body.
    pub at: usize,
}

/// One record that is a JSON object, borrowed from the body.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Position of the record within its body, from 0 (counted across documents).
    pub index: usize,
    /// The record's JSON text, exactly as received.
    pub text: &'a str,
}

/// A body split into records.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    pub records: Vec<RawRecord<'a>>,
    pub bad: Vec<BadRecord<'a>>,
    /// Parts of the body rejected whole (each is dead-lettered as a body entry).
    pub parts: Vec<BadPart<'a>>,
    /// Byte ranges of the documents whose records are in `records` and `bad`.
    pub documents: Vec<std::ops::Range<usize>>,
}

impl<'a> Decoded<'a> {
    /// Every record the body held, good or bad.
    pub fn total(&self) -> usize {
        self.records.len() + self.bad.len()
    }

    /// The accounting check behind the property tests and the fuzz target: the first byte of
    /// `body` (past a byte order mark) that is not whitespace and lies in no document and no
    /// rejected part, or the first record whose index breaks the numbering `0..total()`, or
    /// the first record outside the documents. `None` when everything is accounted for.
    pub fn unaccounted(&self, body: &[u8]) -> Option<String> {
        let start = if body.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        let mut spans: Vec<std::ops::Range<usize>> = self.documents.clone();
        spans.extend(self.parts.iter().map(|p| p.at..p.at + p.raw.len()));
        spans.sort_by_key(|s| s.start);
        let mut pos = start;
        for s in &spans {
            if let Some(gap) = (pos..s.start).find(|&i| !body[i].is_ascii_whitespace()) {
                return Some(format!(
                    "byte {gap} is in no document and no dead-lettered part"
                ));
            }
            pos = pos.max(s.end);
        }
        if let Some(gap) = (pos..body.len()).find(|&i| !body[i].is_ascii_whitespace()) {
            return Some(format!(
                "byte {gap} is in no document and no dead-lettered part"
            ));
        }
        let mut indexes: Vec<usize> = self.records.iter().map(|r| r.index).collect();
        indexes.extend(self.bad.iter().map(|b| b.error.index()));
        indexes.sort_unstable();
        if let Some((want, got)) = indexes.iter().enumerate().find(|(i, n)| i != *n) {
            return Some(format!("record index {got} where {want} was due"));
        }
        let inside = |raw: &[u8]| {
            offset_in(body, raw).is_some_and(|a| {
                let end = a + raw.len();
                self.documents.iter().any(|d| d.start <= a && end <= d.end)
            })
        };
        let records = self.records.iter().map(|r| (r.index, r.text.as_bytes()));
        let bad = self.bad.iter().map(|b| (b.error.index(), b.raw));
        for (index, raw) in records.chain(bad) {
            if !inside(raw) {
                return Some(format!("record {index} lies outside the documents"));
            }
        }
        None
    }

    /// How this decoding differs from `other` of the same body (records, bad records and parts
    /// by position and error, documents), or `None`: the differential tests' comparison.
    #[doc(hidden)]
    pub fn differs_from(&self, other: &Decoded<'_>) -> Option<String> {
        let span = |s: &[u8]| (s.as_ptr() as usize, s.len());
        let records = |d: &Decoded<'_>| -> Vec<_> {
            d.records
                .iter()
                .map(|r| (r.index, span(r.text.as_bytes())))
                .collect()
        };
        let bad = |d: &Decoded<'_>| -> Vec<_> {
            d.bad
                .iter()
                .map(|b| (b.error.clone(), span(b.raw)))
                .collect()
        };
        let parts = |d: &Decoded<'_>| -> Vec<_> {
            d.parts
                .iter()
                .map(|p| (p.error.clone(), p.at, p.raw.len()))
                .collect()
        };
        if records(self) != records(other) {
            return Some(format!("records {:?} vs {:?}", self.records, other.records));
        }
        if bad(self) != bad(other) {
            return Some(format!("bad records {:?} vs {:?}", self.bad, other.bad));
        }
        if parts(self) != parts(other) {
            return Some(format!("parts {:?} vs {:?}", self.parts, other.parts));
        }
        (self.documents != other.documents)
            .then(|| format!("documents {:?} vs {:?}", self.documents, other.documents))
    }

    fn part(&mut self, error: BodyError, body: &'a [u8], span: std::ops::Range<usize>) {
        self.parts.push(BadPart {
            error,
            raw: &body[span.clone()],
            at: span.start,
        });
    }

    /// Adds a document the `serde_json` path read; `text` is the body from `text_at` on when
    /// that part is known to be UTF-8.
    fn add(
        &mut self,
        envelope: Envelope<'a>,
        body: &'a [u8],
        text: Option<(&'a str, usize)>,
        span: std::ops::Range<usize>,
    ) {
        match envelope {
            Envelope::Records { items, shadowed } => {
                self.documents.push(span);
                for items in &shadowed {
                    if let Some(array) = array_span(body, items) {
                        self.part(BodyError::ShadowedRecords, body, array);
                    }
                }
                self.classify(items.into_iter().map(RawValue::get));
            }
            // Checked UTF-8 once for the whole body, or the parser validated keys and values
            // (raw values are UTF-8-checked when borrowed from bytes): either way the text is
            // UTF-8 JSON, and a span's ends are ASCII, so `get` finds char boundaries.
            Envelope::Bare => match text
                .and_then(|(text, at)| text.get(span.start - at..span.end - at))
                .map_or_else(|| std::str::from_utf8(&body[span.clone()]), Ok)
            {
                Ok(text) => {
                    self.documents.push(span);
                    let index = self.total();
                    self.records.push(RawRecord { index, text });
                }
                Err(e) => {
                    let message = format!("invalid UTF-8 at byte {}", span.start + e.valid_up_to());
                    self.part(BodyError::InvalidJson(message), body, span);
                }
            },
            Envelope::NotRecords(kind) => self.part(BodyError::NotRecords(kind), body, span),
            Envelope::RecordsNotArray(kind) => {
                self.part(BodyError::RecordsNotArray(kind), body, span)
            }
        }
    }

    /// Adds the elements of a document's array of records: objects are records, anything else
    /// is a bad record.
    fn classify(&mut self, items: impl ExactSizeIterator<Item = &'a str>) {
        self.records.reserve(items.len());
        let base = self.total();
        for (i, text) in items.enumerate() {
            let index = base + i;
            match text.as_bytes().first() {
                Some(b'{') => self.records.push(RawRecord { index, text }),
                first => self.bad.push(BadRecord {
                    error: RecordError::NotObject {
                        index,
                        found: kind_of_first_byte(first.copied()),
                    },
                    raw: text.as_bytes(),
                }),
            }
        }
    }

    /// A body that is one failed part and nothing else failed as a whole.
    fn into_result(mut self) -> Result<Decoded<'a>, BodyError> {
        if self.documents.is_empty() && self.total() == 0 && self.parts.len() == 1 {
            if let Some(part) = self.parts.pop() {
                return Err(part.error);
            }
        }
        Ok(self)
    }
}

/// Splits a body into records.
pub fn decode_body<'a>(body: &'a [u8], limits: &DecodeLimits) -> Result<Decoded<'a>, BodyError> {
    decode(body, limits, true)
}

/// [`decode_body`] without the [`fast`] path: the reference the differential tests and the fuzz
/// target compare it with.
#[doc(hidden)]
pub fn decode_body_with_serde_json<'a>(
    body: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Decoded<'a>, BodyError> {
    decode(body, limits, false)
}

fn decode<'a>(body: &'a [u8], limits: &DecodeLimits, fast: bool) -> Result<Decoded<'a>, BodyError> {
    if body.len() > limits.max_body_bytes {
        return Err(BodyError::TooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    // Python's json reads bytes as `utf-8-sig`: a leading byte order mark is not content.
    let start = if body.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    if body[start..].iter().all(|b| b.is_ascii_whitespace()) {
        return Err(BodyError::Empty);
    }
    // Nearly every body is valid UTF-8: checked once here (not again for each document the
    // salvage path restarts from), it lets the parsers read the body as text.
    let text = simdutf8::basic::from_utf8(body).ok();
    if let Some(decoded) = text.filter(|_| fast).and_then(|t| fast::decode(t, start)) {
        return Ok(decoded);
    }
    let mut out = Decoded::default();
    let mut pos = start;
    while pos < body.len() {
        let (failed_at, error) = match read_documents(body, text, pos, &mut out) {
            Some(failure) => failure,
            None => break,
        };
        pos = salvage::document(body, failed_at, &error, &mut out);
    }
    out.into_result()
}

/// Reads documents from `from` with `serde_json` until the body ends (`None`) or a document
/// fails: then its start and the parser's description of the problem.
fn read_documents<'a>(
    body: &'a [u8],
    text: Option<&'a str>,
    from: usize,
    out: &mut Decoded<'a>,
) -> Option<(usize, String)> {
    // Read as text, the parser skips the per-key and per-value UTF-8 checks reading bytes needs
    // (a third of decoding's cost). A body that is not UTF-8 (or a restart inside a character)
    // is read as bytes, so that its valid documents and records are still found; the documents
    // read are the same either way.
    match text.and_then(|t| t.get(from..)) {
        Some(rest) => stream_documents(
            serde_json::Deserializer::from_str(rest).into_iter(),
            body,
            Some((rest, from)),
            from,
            out,
        ),
        None => stream_documents(
            serde_json::Deserializer::from_slice(&body[from..]).into_iter(),
            body,
            None,
            from,
            out,
        ),
    }
}

fn stream_documents<'a, R: serde_json::de::Read<'a>>(
    mut stream: serde_json::StreamDeserializer<'a, R, Envelope<'a>>,
    body: &'a [u8],
    text: Option<(&'a str, usize)>,
    from: usize,
    out: &mut Decoded<'a>,
) -> Option<(usize, String)> {
    loop {
        let before = from + stream.byte_offset();
        match stream.next() {
            None => return None,
            Some(Ok(envelope)) => {
                let end = from + stream.byte_offset();
                out.add(envelope, body, text, skip_ws(body, before)..end);
            }
            Some(Err(e)) => {
                let at = skip_ws(body, before);
                return (at < body.len()).then(|| (at, describe(&e, &body[from..], from)));
            }
        }
    }
}

fn skip_ws(body: &[u8], mut pos: usize) -> usize {
    next_nonws(body, &mut pos);
    pos
}

/// The first byte from `*pos` that is not JSON whitespace, `*pos` moved onto it; `None` at the
/// end. Shared by the decoder's fast path and the record builder, where it is the hottest
/// branch: one bounds check per byte.
#[inline(always)]
pub(crate) fn next_nonws(b: &[u8], pos: &mut usize) -> Option<u8> {
    loop {
        let c = *b.get(*pos)?;
        if !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
            return Some(c);
        }
        *pos += 1;
    }
}

/// A parser error with its position as a byte offset in the body (`text` starts at `offset`
/// of the body), not serde_json's line and column within the text it was given.
fn describe(e: &serde_json::Error, text: &[u8], offset: usize) -> String {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => full.as_str(),
    };
    if e.line() == 0 {
        return message.to_string();
    }
    let line_start = memchr_nth_newline(text, e.line() - 1).map_or(0, |p| p + 1);
    // Columns count from 1.
    let at = offset + line_start + e.column().saturating_sub(1);
    format!("{message} at byte {at}")
}

/// Position of the `n`th newline (from 1) of `text`.
fn memchr_nth_newline(text: &[u8], n: usize) -> Option<usize> {
    if n == 0 {
        return None;
    }
    text.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map(|(i, _)| i)
}

/// The byte range of a `[...]` array from its elements (borrowed from `body`): the parser does
/// not report where a value starts, but its elements' texts point into the body.
fn array_span(body: &[u8], items: &[&RawValue]) -> Option<std::ops::Range<usize>> {
    let first = offset_in(body, items.first()?.get().as_bytes())?;
    let last = items.last()?.get().as_bytes();
    let last_end = offset_in(body, last)? + last.len();
    let open = body[..first]
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())?;
    let close = last_end
        + body[last_end..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())?;
    (body[open] == b'[' && body[close] == b']').then_some(open..close + 1)
}

/// Where `text` (a slice of `body`) starts in `body`.
fn offset_in(body: &[u8], text: &[u8]) -> Option<usize> {
    let start = (text.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    (start + text.len() <= body.len()).then_some(start)
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

/// The first `max` bytes of `raw`, cut back to a character boundary when the cut would split
/// a character of otherwise valid UTF-8 (so the dead-letter entry stays readable text).
pub fn head(raw: &[u8], max: usize) -> &[u8] {
    let cut = &raw[..raw.len().min(max)];
    match std::str::from_utf8(cut) {
        Err(e) if e.error_len().is_none() => &cut[..e.valid_up_to()],
        _ => cut,
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
mod tests;
