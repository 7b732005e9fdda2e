//! The complete lines of one downloaded range of an archive blob, and where each came from.
//! They go through the same pipeline as the live path, which (with `[context]` on) also writes
//! their Key Vault operations to the context store before their events count as delivered.

use super::listing::ArchiveBlob;
use crate::alert::Origin;
use std::borrow::Cow;

/// One complete line of an archive blob.
#[derive(Debug)]
pub(super) struct ArchiveLine<'a> {
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
pub(super) struct RecordBatch<'a> {
    pub container: &'a str,
    pub blob: &'a str,
    pub lines: Vec<ArchiveLine<'a>>,
}

impl<'a> RecordBatch<'a> {
    /// An empty batch of `blob`.
    pub(super) fn of(blob: &'a ArchiveBlob) -> Self {
        RecordBatch {
            container: &blob.container,
            blob: &blob.name,
            lines: Vec::new(),
        }
    }

    /// The alert `source` of the batch's lines, at no line yet; [`Self::place`] moves it to
    /// each in turn, so the two names are copied once per batch, not once per line.
    pub(super) fn source(&self) -> Origin {
        Origin::Blob {
            container: self.container.to_string(),
            blob: self.blob.to_string(),
            line: 0,
            offset: 0,
            record_index: None,
        }
    }

    /// Moves a [`Self::source`] to `line`.
    pub(super) fn place(source: &mut Origin, line: &ArchiveLine<'_>) {
        if let Origin::Blob {
            line: l, offset, ..
        } = source
        {
            *l = line.line;
            *offset = line.offset;
        }
    }
}
