//! Replay's input in blocks: a buffer of whole lines read straight from the input, the lines
//! found in it as ranges. Lines are not copied out one by one (the copy and a `Vec` per line were
//! 5-10% of a replay, and freeing lines on another thread than the one that allocated them cost
//! system time with `-j 2`); a block is evaluated where it is and its buffer is used again.
//!
//! The lines are exactly [`LineReader`](crate::source::lines::LineReader)'s: every `\n` ends a
//! line (a `\r` before it is dropped), bytes after the last `\n` are a final line, and a line
//! longer than the limit keeps only its first
//! [`TOO_LONG_HEAD`](crate::source::lines::TOO_LONG_HEAD) bytes and its length, without
//! being held in memory. A property test compares the two.

use crate::source::lines::{without_cr, BoundedLine};
use std::io::{self, Read};
use std::ops::Range;

/// Bytes a block is read in (it grows, up to the line limit, for a longer line). With `-j 2`,
/// 1 MiB blocks took 10% less CPU than 256 KiB ones (fewer hand-overs, so fewer thread
/// wake-ups) and the same with one job (bench/README.md, section 9).
pub(super) const BLOCK_BYTES: usize = 1024 * 1024;

/// One line of a block.
pub(super) enum Piece {
    /// A line within the limit: its bytes in the block, without `\n` or `\r\n`.
    Body(Range<usize>),
    /// A line over the limit: its length and its first bytes.
    TooLong { len: usize, head: Vec<u8> },
}

/// A line as the rest of replay sees it.
pub(super) enum LineRef<'a> {
    Body(&'a [u8]),
    TooLong { len: usize, head: &'a [u8] },
}

/// Whole lines read from the input.
pub(super) struct Block {
    data: Vec<u8>,
    pieces: Vec<Piece>,
    /// 1-based number of the block's first line in the input.
    first_line: u64,
}

impl Block {
    /// The lines with their 1-based numbers in the input.
    pub(super) fn lines(&self) -> impl Iterator<Item = (u64, LineRef<'_>)> {
        self.pieces.iter().zip(self.first_line..).map(|(p, n)| {
            let line = match p {
                Piece::Body(r) => LineRef::Body(&self.data[r.clone()]),
                Piece::TooLong { len, head } => LineRef::TooLong { len: *len, head },
            };
            (n, line)
        })
    }

    /// The buffer, for the next block.
    pub(super) fn into_buffer(self) -> Vec<u8> {
        self.data
    }
}

/// Reads blocks of lines of at most `max` bytes each.
pub(super) struct BlockReader<R> {
    inner: R,
    max: usize,
    block: usize,
    /// The start of a line the previous block ended in.
    carry: Vec<u8>,
    /// A line over the limit, being skipped.
    skipping: Option<BoundedLine>,
    eof: bool,
    next_line: u64,
}

impl<R: Read> BlockReader<R> {
    pub(super) fn new(inner: R, max: usize) -> Self {
        Self::with_block(inner, max, BLOCK_BYTES)
    }

    fn with_block(inner: R, max: usize, block: usize) -> Self {
        BlockReader {
            inner,
            max,
            block: block.max(1),
            carry: Vec::new(),
            skipping: None,
            eof: false,
            next_line: 1,
        }
    }

    /// The next block of at least one line, read into `buffer` (a previous block's, or empty);
    /// `None` at the end of input. A block is returned when it is full or when a read returned
    /// less than asked for (a pipe with nothing more for now), so piped input is not held back.
    pub(super) fn next_block(&mut self, mut data: Vec<u8>) -> io::Result<Option<Block>> {
        if data.len() < self.block {
            data.resize(self.block, 0);
        }
        let mut filled = self.carry.len();
        if filled >= data.len() {
            data.resize(filled + 1, 0);
        }
        data[..filled].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut pieces = Vec::new();
        let (mut scanned, mut line_start) = (filled, 0);
        let mut short_read = false;
        loop {
            for nl in memchr::memchr_iter(b'\n', &data[scanned..filled]) {
                let nl = scanned + nl;
                pieces.push(self.piece(&data[line_start..nl], line_start));
                line_start = nl + 1;
            }
            let partial = line_start..filled;
            if let Some(skip) = &mut self.skipping {
                skip.push(&data[partial], self.max);
                filled = line_start;
            } else if partial.len() > self.max {
                self.skipping = Some(BoundedLine::of(&data[partial], self.max));
                filled = line_start;
            }
            scanned = filled;
            if self.eof {
                if let Some(skip) = self.skipping.take() {
                    pieces.push(Piece::from(skip));
                } else if filled > line_start {
                    let end = trim_cr(&data[line_start..filled], line_start);
                    pieces.push(Piece::Body(line_start..end));
                }
                break;
            }
            if !pieces.is_empty() && (filled == data.len() || short_read) {
                self.carry.extend_from_slice(&data[line_start..filled]);
                break;
            }
            if filled == data.len() {
                // No line ends in the block and the one it holds is within the limit: room for
                // more of it.
                let grown = (data.len() * 2).clamp(data.len() + 1, self.max.max(data.len()) + 1);
                data.resize(grown, 0);
            }
            let want = data.len() - filled;
            let n = loop {
                match self.inner.read(&mut data[filled..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.eof = n == 0;
            short_read = n < want;
            filled += n;
        }
        if pieces.is_empty() {
            return Ok(None);
        }
        let first_line = self.next_line;
        self.next_line += pieces.len() as u64;
        Ok(Some(Block {
            data,
            pieces,
            first_line,
        }))
    }

    /// The line `raw` (before its `\n`), which starts at `start` in the block.
    fn piece(&mut self, raw: &[u8], start: usize) -> Piece {
        if let Some(mut skip) = self.skipping.take() {
            skip.push(raw, self.max);
            return Piece::from(skip);
        }
        if raw.len() > self.max {
            return Piece::from(BoundedLine::of(raw, self.max));
        }
        Piece::Body(start..trim_cr(raw, start))
    }
}

impl From<BoundedLine> for Piece {
    /// A line over the limit (one within it is a range of its block instead).
    fn from(line: BoundedLine) -> Self {
        let (len, head) = line.into_parts();
        Piece::TooLong { len, head }
    }
}

/// The end of `raw` (which starts at `start`) without a final `\r`.
fn trim_cr(raw: &[u8], start: usize) -> usize {
    start + without_cr(raw).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::lines::{Line, LineReader, TOO_LONG_HEAD};
    use proptest::prelude::*;

    /// Hands out at most `step` bytes per read, like a pipe.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn blocks(data: &[u8], max: usize, block: usize, step: usize) -> Vec<(u64, Line)> {
        let mut r = BlockReader::with_block(Trickle { data, step }, max, block);
        let mut out = Vec::new();
        let mut buffer = Vec::new();
        while let Some(b) = r.next_block(buffer).unwrap() {
            for (n, line) in b.lines() {
                out.push((
                    n,
                    match line {
                        LineRef::Body(body) => Line::Body(body.to_vec()),
                        LineRef::TooLong { len, head } => Line::TooLong {
                            len,
                            head: head.to_vec(),
                        },
                    },
                ));
            }
            buffer = b.into_buffer();
        }
        out
    }

    fn lines(data: &[u8], max: usize) -> Vec<(u64, Line)> {
        let mut r = LineReader::new(io::BufReader::with_capacity(3, data), max);
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            out.push((out.len() as u64 + 1, line));
        }
        out
    }

    proptest! {
        /// The same lines as `LineReader`, whatever the block size, the reads and the limit.
        #[test]
        fn the_lines_of_the_line_reader(
            data in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n'), Just(b'\r')], 0..400),
            max in 0usize..40,
            block in 1usize..50,
            step in 1usize..60,
        ) {
            prop_assert_eq!(blocks(&data, max, block, step), lines(&data, max));
        }
    }

    #[test]
    fn a_long_line_keeps_its_head_and_length() {
        let mut data = vec![b'x'; TOO_LONG_HEAD + 500];
        data.extend_from_slice(b"\nok\r\n");
        let got = blocks(&data, 100, 64, 7);
        assert_eq!(got, lines(&data, 100));
        assert!(matches!(&got[0].1, Line::TooLong { len, head }
            if *len == TOO_LONG_HEAD + 500 && head.len() == TOO_LONG_HEAD));
        assert_eq!(got[1], (2, Line::Body(b"ok".to_vec())));
    }
}
