//! The one place every archive line passes through before detection and before the cursor
//! can move past it: [`RecordHook::batch`], called once per downloaded range of a blob with
//! its complete lines. The context store (Key Vault operations for runbook answers) is meant
//! to be written from here; until it exists the backfill runs with [`NoHook`].
//!
//! A hook that fails stops that blob: its cursor stays before the batch, so the batch is read
//! (and handed to the hook) again on the next run.

use crate::alert::Source;
use crate::decode::{decode_body, DecodeLimits, RawRecord};
use std::borrow::Cow;

/// One complete line of an archive blob.
#[derive(Debug)]
pub struct ArchiveLine<'a> {
    /// 1-based line number in the blob.
    pub line: u64,
    /// Byte offset of the line's start in the blob.
    pub offset: u64,
    /// Byte offset just past the line's newline (where the next line starts).
    pub end: u64,
    /// The line without its newline (one record, or a `{"records": [...]}` document).
    pub body: Cow<'a, [u8]>,
    /// `Some(length)`: the line is longer than `service.max_body_bytes`; `body` holds only
    /// its first bytes and the line is dead-lettered, not decoded.
    pub too_long: Option<usize>,
}

/// The complete lines of one downloaded range of one blob, in order.
#[derive(Debug)]
pub struct RecordBatch<'a> {
    pub container: &'a str,
    pub blob: &'a str,
    pub lines: Vec<ArchiveLine<'a>>,
}

impl RecordBatch<'_> {
    /// The alert `source` of a line of this batch.
    pub fn source(&self, line: &ArchiveLine<'_>) -> Source {
        Source::Blob {
            container: self.container.to_string(),
            blob: self.blob.to_string(),
            line: line.line,
            offset: line.offset,
            record_index: None,
        }
    }

    /// Calls `f` with every record of the batch that is a JSON object (decoded as detection
    /// decodes it: JSON Lines, `records` envelopes, several documents on a line), with its
    /// source. What does not decode is skipped here; detection dead-letters it.
    pub fn for_each_record(&self, limits: &DecodeLimits, mut f: impl FnMut(Source, RawRecord<'_>)) {
        for line in self.lines.iter().filter(|l| l.too_long.is_none()) {
            if let Ok(decoded) = decode_body(&line.body, limits) {
                let source = self.source(line);
                for r in decoded.records {
                    f(source.with_record(r.index), r);
                }
            }
        }
    }
}

/// A failure of the hook; the blob stops before the batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

/// Receives every batch before its lines go to detection and before the cursor passes them.
pub trait RecordHook: Send + Sync {
    fn batch(&self, batch: &RecordBatch<'_>) -> Result<(), HookError>;
}

/// The hook while there is no context store: does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHook;

impl RecordHook for NoHook {
    fn batch(&self, _batch: &RecordBatch<'_>) -> Result<(), HookError> {
        Ok(())
    }
}
