//! The fast path for the common body: UTF-8 text holding `{"records": [...]}` envelopes, bare
//! record objects or arrays of records, each valid JSON. One hand-written pass validates the
//! documents and finds the records' spans, at 1.6 times the speed of `serde_json`'s streaming
//! deserializer over the same text (2.4 against 1.5 GiB/s: `cargo bench --bench pipeline --
//! decode`, bench/README.md).
//!
//! It is exact by construction: it accepts only what `serde_json` accepts (the grammar
//! `serde_json` checks when it skips a value: strict JSON, `\u` escapes of any four hex digits,
//! no control character in a string), and it reports the same spans. Everything else gives up
//! (`None`), and [`decode_body`](super::decode_body) takes the `serde_json` path, which then
//! also describes the problem: bodies that are not UTF-8 or not valid JSON, scalar documents, a
//! `"records"` that is not an array or that is repeated, an envelope key written with escapes,
//! nesting deeper than [`MAX_DEPTH`]. A body that fails late costs both passes, at most twice
//! a valid body's. The differential property tests (`fast/tests.rs`) and the `decode_body`
//! fuzz target compare the two paths.

use super::Decoded;

/// Deepest nesting the fast path follows (a bit per level); deeper values go to `serde_json`.
const MAX_DEPTH: u32 = 128;

/// Decodes `text[from..]`, or `None` when the body needs the `serde_json` path.
pub(super) fn decode(text: &str, from: usize) -> Option<Decoded<'_>> {
    let mut out = Decoded::default();
    let mut p = Parser { text, i: from };
    let mut items = Vec::new();
    loop {
        let start = match p.next_nonws() {
            None => return Some(out),
            Some(b'{') => p.i,
            Some(b'[') => {
                let start = p.i;
                p.array_items(&mut items)?;
                out.documents.push(start..p.i);
                out.classify(items.drain(..));
                continue;
            }
            Some(_) => return None,
        };
        // An object: an envelope when it has a `"records"` key, else a bare record.
        p.i += 1;
        let mut records = false;
        if p.next_nonws()? == b'}' {
            p.i += 1;
        } else {
            loop {
                let key = p.envelope_key()?;
                if p.next_nonws()? != b':' {
                    return None;
                }
                p.i += 1;
                if key == b"records" {
                    // A repeated key (the last wins) is left to the `serde_json` path.
                    if records || p.next_nonws()? != b'[' {
                        return None;
                    }
                    records = true;
                    p.array_items(&mut items)?;
                } else {
                    p.value()?;
                }
                match p.next_nonws()? {
                    b',' => p.i += 1,
                    b'}' => {
                        p.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        out.documents.push(start..p.i);
        if records {
            out.classify(items.drain(..));
        } else {
            let index = out.total();
            let text = text.get(start..p.i)?;
            out.records.push(super::RawRecord { index, text });
        }
    }
}

/// A cursor over the body's bytes. Every method returns `None` on anything it does not accept.
struct Parser<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not JSON whitespace, not consumed.
    #[inline]
    fn next_nonws(&mut self) -> Option<u8> {
        super::next_nonws(self.text.as_bytes(), &mut self.i)
    }

    /// An array at `i` (its `[`): the text of each element; `i` ends past the `]`.
    fn array_items(&mut self, items: &mut Vec<&'a str>) -> Option<()> {
        self.i += 1;
        if self.next_nonws()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.next_nonws()?;
            let start = self.i;
            self.value()?;
            // Both ends are next to ASCII bytes, so `get` finds char boundaries.
            items.push(self.text.get(start..self.i)?);
            match self.next_nonws()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A key of a document's own object, which must be written without escapes (the
    /// `serde_json` path unescapes it to compare it with `records`): its bytes.
    fn envelope_key(&mut self) -> Option<&'a [u8]> {
        if self.next_nonws()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let (end, quote) = string_run(self.bytes(), start);
        if !quote {
            return None;
        }
        self.i = end + 1;
        Some(&self.bytes()[start..end])
    }

    /// One value at `i` (whitespace skipped), nested to any depth up to [`MAX_DEPTH`]; `i` ends
    /// past it. A bit per open container says whether it is an object, the innermost in the
    /// lowest bit (shifts by one, not by the depth: a variable shift of a `u128` was several
    /// instructions a token). It runs on a copy of the cursor, which stays in registers.
    fn value(&mut self) -> Option<()> {
        let mut p = Parser {
            text: self.text,
            i: self.i,
        };
        let mut objects: u128 = 0;
        let mut depth: u32 = 0;
        loop {
            // A value is due.
            match p.next_nonws()? {
                b'"' => {
                    p.i += 1;
                    p.string()?;
                }
                open @ (b'{' | b'[') => {
                    let object = open == b'{';
                    p.i += 1;
                    if p.next_nonws()? == if object { b'}' } else { b']' } {
                        p.i += 1;
                    } else {
                        if depth == MAX_DEPTH {
                            return None;
                        }
                        objects = objects << 1 | u128::from(object);
                        depth += 1;
                        if object {
                            p.key()?;
                        }
                        continue;
                    }
                }
                b't' => p.literal(b"true")?,
                b'f' => p.literal(b"false")?,
                b'n' => p.literal(b"null")?,
                _ => p.number()?,
            }
            // A value ended: close containers until one continues.
            loop {
                if depth == 0 {
                    self.i = p.i;
                    return Some(());
                }
                let object = objects & 1 != 0;
                // Compact JSON has the comma or the close right after the value.
                let next = match p.bytes().get(p.i) {
                    Some(&c @ (b',' | b'}' | b']')) => c,
                    _ => p.next_nonws()?,
                };
                match next {
                    b',' => {
                        p.i += 1;
                        if object {
                            p.key()?;
                        }
                        break;
                    }
                    close @ (b'}' | b']') if (close == b'}') == object => {
                        p.i += 1;
                        depth -= 1;
                        objects >>= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// `"key" :` inside a value.
    #[inline(always)]
    fn key(&mut self) -> Option<()> {
        if self.next_nonws()? != b'"' {
            return None;
        }
        self.i += 1;
        self.string()?;
        // Compact JSON, as Azure writes it, has the colon right after the key.
        if self.bytes().get(self.i) != Some(&b':') && self.next_nonws()? != b':' {
            return None;
        }
        self.i += 1;
        Some(())
    }

    /// The rest of a string whose `"` is consumed; `i` ends past the closing `"`.
    #[inline(always)]
    fn string(&mut self) -> Option<()> {
        loop {
            let (at, quote) = string_run(self.bytes(), self.i);
            if quote {
                self.i = at + 1;
                return Some(());
            }
            match *self.bytes().get(at)? {
                b'\\' => self.i = at + 1 + escape(self.bytes(), at + 1)?,
                _ => return None, // a control character
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes().get(self.i..self.i + word.len())? != word {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as `serde_json` skips a number.
    fn number(&mut self) -> Option<()> {
        let b = self.bytes();
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match *b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(b, i + 1),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            let end = digits(b, i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(b, i);
            if end == i {
                return None;
            }
            i = end;
        }
        // `01`: serde_json rejects a digit after a leading zero; a container's next byte is
        // checked by the caller.
        if b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        self.i = i;
        Some(())
    }
}

/// Length of the escape whose letter is at `at` (after the backslash): what `serde_json`
/// accepts when it skips a string, which takes any four hex digits after `\u`.
fn escape(b: &[u8], at: usize) -> Option<usize> {
    match *b.get(at)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(1),
        b'u' => {
            let hex = b.get(at + 1..at + 5)?;
            hex.iter().all(u8::is_ascii_hexdigit).then_some(5)
        }
        _ => None,
    }
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// The position of the first byte from `i` that ends a run of plain string bytes: `"`, `\` or
/// a control character (below 0x20), or `b.len()`; and whether it is the `"`. Sixteen bytes at a
/// time with SSE2, which every x86-64 CPU has (so no runtime detection is needed); a byte at a
/// time elsewhere. Telling the quote from its mask spares reloading the byte, a dependent load
/// that was the hottest instruction of decoding.
// Always inlined: left to the compiler it was once called out of line from `Parser::value`
// (+0.2% instructions of a replay).
#[inline(always)]
pub(crate) fn string_run(b: &[u8], mut i: usize) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is part of the x86-64 baseline; the load reads b[i..i + 16], in
            // bounds by the loop condition, and `loadu` has no alignment requirement.
            let (quotes, ends) = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                // Unsigned v <= 0x1f: max(v, 0x1f) == 0x1f.
                let limit = _mm_set1_epi8(0x1f);
                let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
                let ends = _mm_or_si128(_mm_or_si128(quote, backslash), control);
                (_mm_movemask_epi8(quote), _mm_movemask_epi8(ends))
            };
            if ends != 0 {
                let at = ends.trailing_zeros();
                return (i + at as usize, quotes >> at & 1 == 1);
            }
            i += 16;
        }
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return (i, c == b'"');
        }
        i += 1;
    }
    (i, false)
}

#[cfg(test)]
mod tests;
