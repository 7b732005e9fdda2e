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
        let mut buf = Vec::new();
        let mut len = 0usize;
        let mut too_long = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if len == 0 {
                    return Ok(None);
                }
                break;
            }
            let (part, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (&chunk[..i], Some(i + 1)),
                None => (chunk, None),
            };
            len += part.len();
            if !too_long && len > self.max {
                too_long = true;
                buf.truncate(TOO_LONG_HEAD);
            }
            if too_long {
                let room = TOO_LONG_HEAD.saturating_sub(buf.len());
                buf.extend_from_slice(&part[..part.len().min(room)]);
            } else {
                buf.extend_from_slice(part);
            }
            let consumed = done.unwrap_or(chunk.len());
            self.inner.consume(consumed);
            if done.is_some() {
                // An empty final line after the last newline is not a line.
                if len == 0 && !too_long {
                    return Ok(Some(Line::Body(buf)));
                }
                break;
            }
        }
        if too_long {
            return Ok(Some(Line::TooLong { len, head: buf }));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(Line::Body(buf)))
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
