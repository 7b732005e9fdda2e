//! Reading one archive blob: ranged downloads from the cursor's offset, splitting into lines
//! (bounded by `service.max_body_bytes`), the record hook, detection and delivery through the
//! pipeline, and the blob's cursor, which moves only past lines whose alerts are all
//! acknowledged or dead-lettered.
//!
//! The rule for the last line: bytes after the last newline are an incomplete line while the
//! hour is open and are read again from that offset next time; once the hour is closed
//! (`closed_after_minutes` past its end) they are processed as the final line and the blob is
//! marked done.

use super::batch::{ArchiveLine, RecordBatch};
use super::cursor::{BlobCursor, Cursor};
use super::listing::ArchiveBlob;
use super::progress::Counters;
use crate::azure::blob::BlobContainer;
use crate::decode::BodyError;
use crate::pipeline::Pipeline;
use crate::progress::Progress;
use crate::source::lines::{without_cr, BoundedLine, Line};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// How often a reader waiting for sinks moves its cursor to what they acknowledged.
const TICK: Duration = Duration::from_millis(100);

/// Lines without alerts taken in between two moves of the cursor (a line with alerts moves it
/// at once).
const CHECKPOINT_LINES: usize = 256;

/// What every blob reader shares.
pub(super) struct Reader {
    pub pipeline: Arc<Pipeline>,
    pub cursor: Arc<Cursor>,
    pub counters: Arc<Counters>,
    pub range_bytes: u64,
    pub max_body_bytes: usize,
    pub closed_after: time::Duration,
    pub shutdown_grace: Duration,
}

/// A blob could not be read to the end; its cursor keeps what was delivered.
#[derive(Debug, thiserror::Error)]
pub(super) enum BlobError {
    #[error("{blob}: {source}")]
    Storage {
        blob: String,
        source: azure_core::Error,
    },
}

/// A line being assembled across chunks and ranges, and the blob offset it starts at.
#[derive(Default)]
struct Partial {
    start: u64,
    line: BoundedLine,
}

/// A blob read to its end (or stopped), whose lines may still wait for the sinks.
pub(super) struct Tail {
    key: String,
    out: Delivered,
    etag: Option<String>,
    length: u64,
    /// Read to the end of a closed hour: done once every line is delivered.
    done_when_delivered: bool,
    result: Result<(), BlobError>,
}

/// The blob's lines taken in and not yet checkpointed.
struct Delivered {
    progress: Progress<(u64, u64)>,
    /// End offsets of lines that raised alerts, not yet passed by the cursor.
    alert_ends: VecDeque<u64>,
    /// Lines taken in since the cursor was last moved.
    since_checkpoint: usize,
}

impl Reader {
    /// Reads `blob` from its cursor to its end (or to its last complete line while its hour is
    /// open) and hands its lines to the pipeline; `None` when it was done already. Waiting for
    /// the sinks is [`Reader::finish`], which the caller runs while the next blob is read.
    pub(super) async fn take_in(
        &self,
        client: &BlobContainer,
        blob: &ArchiveBlob,
        cancel: &CancellationToken,
    ) -> Option<Tail> {
        let key = blob.key();
        let mut at = self.cursor.get(&key);
        if at.done && blob.length <= at.length {
            self.counters.blobs_done.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if blob.length < at.offset {
            tracing::warn!(blob = %key, offset = at.offset, length = blob.length,
                "blob is shorter than the cursor (replaced?); reading it from the start");
            at = BlobCursor::default();
        }
        let closed =
            OffsetDateTime::now_utc() >= blob.hour + time::Duration::HOUR + self.closed_after;
        let mut out = Delivered {
            progress: Progress::new(1, Duration::from_secs(3600)),
            alert_ends: VecDeque::new(),
            since_checkpoint: 0,
        };
        let mut partial = Partial {
            start: at.offset,
            ..Partial::default()
        };
        let mut pos = at.offset;
        let mut lines = at.lines;
        let mut length = at.length.max(blob.length);
        let mut etag = at.etag.clone();
        let mut result = Ok(());
        let mut stopped = false;
        loop {
            if cancel.is_cancelled() {
                stopped = true;
                break;
            }
            let range = match client.get_range(&blob.name, pos, self.range_bytes).await {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(source) => {
                    result = Err(BlobError::Storage {
                        blob: key.clone(),
                        source,
                    });
                    break;
                }
            };
            length = range.blob_length;
            etag = range.etag.clone();
            let size = range.byte_len();
            if size == 0 {
                break;
            }
            self.counters.bytes_read.fetch_add(size, Ordering::Relaxed);
            let mut batch = RecordBatch::of(blob);
            for chunk in &range.chunks {
                split(
                    chunk,
                    pos,
                    &mut partial,
                    &mut lines,
                    self.max_body_bytes,
                    &mut batch,
                );
                pos += chunk.len() as u64;
            }
            if !self
                .deliver(&batch, &mut out, cancel, &key, &etag, length)
                .await
            {
                stopped = true;
                break;
            }
            if pos >= length {
                break;
            }
        }
        let complete = result.is_ok() && !stopped && pos >= length;
        if complete && closed && !partial.line.is_empty() {
            // The hour is closed: what follows the last newline is the final line.
            lines += 1;
            let last = std::mem::take(&mut partial);
            let mut batch = RecordBatch::of(blob);
            batch.lines.push(ArchiveLine::owned(
                lines,
                last.start,
                pos,
                last.line.finish(),
            ));
            if !self
                .deliver(&batch, &mut out, cancel, &key, &etag, length)
                .await
            {
                stopped = true;
            }
        }
        Some(Tail {
            key,
            out,
            etag,
            length,
            done_when_delivered: complete && closed && !stopped,
            result,
        })
    }

    /// Waits for the sinks (as long as they take, unless stopping), moving the blob's cursor as
    /// acknowledgements come in; marks the blob done when it was read to the end of a closed
    /// hour and everything is delivered.
    pub(super) async fn finish(
        &self,
        tail: Tail,
        cancel: &CancellationToken,
    ) -> Result<(), BlobError> {
        let Tail {
            key,
            mut out,
            etag,
            length,
            done_when_delivered,
            result,
        } = tail;
        let mut stop_at: Option<tokio::time::Instant> = None;
        while out.progress.in_flight() > 0 {
            if cancel.is_cancelled() && stop_at.is_none() {
                stop_at = Some(tokio::time::Instant::now() + self.shutdown_grace);
            }
            let now = tokio::time::Instant::now();
            if stop_at.is_some_and(|t| now >= t) {
                break;
            }
            out.progress.drain(now + TICK).await;
            self.checkpoint(&key, &mut out, &etag, length, false, false);
        }
        let done = done_when_delivered && out.progress.in_flight() == 0;
        self.checkpoint(&key, &mut out, &etag, length, true, done);
        if done {
            self.counters.blobs_done.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Hands the batch's lines to the pipeline; `false` when cancelled.
    async fn deliver(
        &self,
        batch: &RecordBatch<'_>,
        out: &mut Delivered,
        cancel: &CancellationToken,
        key: &str,
        etag: &Option<String>,
        length: u64,
    ) -> bool {
        let mut source = batch.source();
        for line in &batch.lines {
            RecordBatch::place(&mut source, line);
            let handled = async {
                if let Some(size) = line.too_long {
                    let e = BodyError::TooLarge {
                        size,
                        limit: self.max_body_bytes,
                    };
                    self.pipeline
                        .reject(e, &line.body, &source, cancel)
                        .await
                        .map(|p| (p, 0))
                } else {
                    self.pipeline
                        .process_with_stats(&line.body, &source, cancel)
                        .await
                        .map(|(p, s)| {
                            self.counters.count(&s);
                            (p, s.alerts)
                        })
                }
            };
            tokio::pin!(handled);
            // A full sink queue holds this line back while earlier lines may be acknowledged:
            // the cursor follows them meanwhile.
            let result = match futures::poll!(&mut handled) {
                std::task::Poll::Ready(r) => r,
                std::task::Poll::Pending => loop {
                    tokio::select! {
                        r = &mut handled => break r,
                        _ = tokio::time::sleep(TICK) => {
                            self.checkpoint(key, out, etag, length, false, false)
                        }
                    }
                },
            };
            let Ok((pending, alerts)) = result else {
                return false;
            };
            let end = line.end;
            if alerts > 0 {
                out.alert_ends.push_back(end);
            }
            out.progress.push((end, line.line), pending);
            out.since_checkpoint += 1;
            if alerts > 0 || out.since_checkpoint >= CHECKPOINT_LINES {
                self.checkpoint(key, out, etag, length, false, false);
            }
        }
        self.checkpoint(key, out, etag, length, false, false);
        true
    }

    /// Moves the blob's cursor to the newest delivered line, if any.
    fn checkpoint(
        &self,
        key: &str,
        out: &mut Delivered,
        etag: &Option<String>,
        length: u64,
        force: bool,
        done: bool,
    ) {
        out.since_checkpoint = 0;
        let Some((offset, lines)) = out.progress.due(force) else {
            if done {
                let mut c = self.cursor.get(key);
                c.done = true;
                c.length = length;
                c.etag = etag.clone();
                self.cursor.set(key, c, true);
            }
            return;
        };
        let mut urgent = false;
        while out.alert_ends.front().is_some_and(|&e| e <= offset) {
            out.alert_ends.pop_front();
            urgent = true;
        }
        self.cursor.set(
            key,
            BlobCursor {
                offset: if done { length.max(offset) } else { offset },
                lines,
                length,
                etag: etag.clone(),
                done,
            },
            urgent || done,
        );
    }
}

/// Adds the complete lines of downloaded bytes (starting at blob offset `base`) to `batch`;
/// the bytes after the last newline stay in `partial`, which a line split between two chunks
/// or ranges is assembled in. A line longer than `max` keeps only its head.
fn split<'a>(
    data: &'a [u8],
    base: u64,
    partial: &mut Partial,
    lines: &mut u64,
    max: usize,
    batch: &mut RecordBatch<'a>,
) {
    let mut start = 0usize;
    for nl in memchr::memchr_iter(b'\n', data) {
        let piece = &data[start..nl];
        *lines += 1;
        let end = base + nl as u64 + 1;
        let line = if partial.line.is_empty() && piece.len() <= max {
            ArchiveLine {
                line: *lines,
                offset: base + start as u64,
                end,
                too_long: None,
                body: Cow::Borrowed(without_cr(piece)),
            }
        } else {
            let mut p = std::mem::take(partial);
            if p.line.is_empty() {
                p.start = base + start as u64;
            }
            p.line.push(piece, max);
            ArchiveLine::owned(*lines, p.start, end, p.line.finish())
        };
        batch.lines.push(line);
        start = nl + 1;
    }
    if start < data.len() {
        if partial.line.is_empty() {
            partial.start = base + start as u64;
        }
        partial.line.push(&data[start..], max);
    }
}

impl ArchiveLine<'_> {
    /// A line put together from pieces, or over the limit.
    fn owned(line: u64, offset: u64, end: u64, bounded: Line) -> Self {
        let (too_long, body) = match bounded {
            Line::Body(b) => (None, b),
            Line::TooLong { len, head } => (Some(len), head),
        };
        ArchiveLine {
            line,
            offset,
            end,
            too_long,
            body: Cow::Owned(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob() -> ArchiveBlob {
        ArchiveBlob {
            container: "c".into(),
            name: "b".into(),
            hour: OffsetDateTime::UNIX_EPOCH,
            length: 0,
        }
    }

    #[test]
    fn lines_across_ranges() {
        let b = blob();
        let mut partial = Partial::default();
        let mut n = 0;
        let data = b"{\"a\":1}\r\n{\"b\"";
        let mut batch = RecordBatch::of(&b);
        split(data, 0, &mut partial, &mut n, 100, &mut batch);
        assert_eq!(batch.lines.len(), 1);
        assert_eq!(&*batch.lines[0].body, b"{\"a\":1}");
        assert_eq!(partial.start, 9);
        let mut batch = RecordBatch::of(&b);
        split(
            b":2}\n\n0123456789AB\n",
            14,
            &mut partial,
            &mut n,
            10,
            &mut batch,
        );
        let got: Vec<(u64, u64, &[u8], Option<usize>)> = batch
            .lines
            .iter()
            .map(|l| (l.line, l.offset, &*l.body, l.too_long))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, 9, &b"{\"b\":2}"[..], None),
                (3, 18, &b""[..], None),
                (4, 19, &b"0123456789AB"[..], Some(12)),
            ]
        );
        assert!(partial.line.is_empty());
    }
}
