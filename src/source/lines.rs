//! Reading newline-delimited bodies with a bound on line length.
//!
//! A line longer than the limit is not held in memory: its first bytes are kept for the
//! dead-letter excerpt and the rest is skipped up to the next newline.

use std::io::{self, BufRead};

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line without its `\n` or `\r\n`.
    Body(Vec<u8>),
    /// A line over the limit: its length and its first bytes.
    TooLong { len: usize, head: Vec<u8> },
}

/// How much of an over-long line is kept for the dead-letter entry.
pub(crate) const TOO_LONG_HEAD: usize = crate::decode::DEAD_LETTER_HEAD;

/// Reads lines of at most `max` bytes each.
pub(crate) struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader { inner, max }
    }

    /// The next line, or `None` at end of input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut line = BoundedLine::default();
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                // An empty final line after the last newline is not a line.
                if line.is_empty() {
                    return Ok(None);
                }
                break;
            }
            let (part, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (&chunk[..i], Some(i + 1)),
                None => (chunk, None),
            };
            line.push(part, self.max);
            let consumed = done.unwrap_or(chunk.len());
            self.inner.consume(consumed);
            if done.is_some() {
                break;
            }
        }
        Ok(Some(line.finish()))
    }
}

/// A line within the limit as every reader gives it: without the `\r` of a `\r\n` ending.
pub(crate) fn without_cr(raw: &[u8]) -> &[u8] {
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

/// A line put together from pieces (reads, blocks, downloaded chunks) and bounded by a limit:
/// past it only the first [`TOO_LONG_HEAD`] bytes and the length are kept. The file source,
/// replay's blocks and the backfill's ranges all bound their lines with it, so they agree on
/// what is too long (the length before a final `\r` is dropped) and on the head kept.
#[derive(Debug, Default)]
pub(crate) struct BoundedLine {
    bytes: Vec<u8>,
    /// `Some(length so far)` once over the limit (`bytes` then holds only the head).
    too_long: Option<usize>,
}

impl BoundedLine {
    /// The line `raw`, whole.
    pub(crate) fn of(raw: &[u8], max: usize) -> Self {
        let mut line = BoundedLine::default();
        line.push(raw, max);
        line
    }

    /// Adds the next bytes of the line (without its `\n`).
    pub(crate) fn push(&mut self, piece: &[u8], max: usize) {
        let len = self.len() + piece.len();
        if len > max {
            self.bytes.truncate(TOO_LONG_HEAD);
            let room = TOO_LONG_HEAD - self.bytes.len();
            self.bytes
                .extend_from_slice(&piece[..piece.len().min(room)]);
            self.too_long = Some(len);
        } else {
            self.bytes.extend_from_slice(piece);
        }
    }

    /// Bytes so far, including those not kept.
    pub(crate) fn len(&self) -> usize {
        self.too_long.unwrap_or(self.bytes.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its length and the bytes kept: all of them within the limit, the head past it.
    pub(crate) fn into_parts(self) -> (usize, Vec<u8>) {
        (self.len(), self.bytes)
    }

    /// The line, its final `\r` dropped when it is within the limit.
    pub(crate) fn finish(mut self) -> Line {
        match self.too_long {
            Some(len) => Line::TooLong {
                len,
                head: self.bytes,
            },
            None => {
                self.bytes.truncate(without_cr(&self.bytes).len());
                Line::Body(self.bytes)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let data = b"ab\r\ncdefgh\n\nxy";
        let mut r = LineReader::new(io::BufReader::with_capacity(2, &data[..]), 4);
        assert_eq!(
            r.next_line().ok().flatten(),
            Some(Line::Body(b"ab".to_vec()))
        );
        assert_eq!(
            r.next_line().ok().flatten(),
            Some(Line::TooLong {
                len: 6,
                head: b"cdefgh".to_vec()
            })
        );
        assert_eq!(r.next_line().ok().flatten(), Some(Line::Body(Vec::new())));
        assert_eq!(
            r.next_line().ok().flatten(),
            Some(Line::Body(b"xy".to_vec()))
        );
        assert_eq!(r.next_line().ok().flatten(), None);
    }
}
