//! The dead-letter file: what could not be evaluated or delivered, kept for a person or `redrive`.
//!
//! One JSON object per line: the reason, the time, where the item came from, and the item itself
//! (the raw body or record, or the alert a sink refused). Every write is fsynced before it
//! returns, because a dead-lettered item counts as handled and its checkpoint may then advance.

pub use hubwatch_detect::dead_letter::{DeadLetter, EntryKind};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A dead-letter write that failed: the item is not handled and must not be checkpointed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write dead-letter file {path}: {source}")]
pub struct DeadLetterError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// An append-only, fsynced JSON-lines file.
#[derive(Debug)]
pub struct DeadLetterFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl DeadLetterFile {
    /// Opens lazily: nothing is created until the first entry.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeadLetterFile {
            path: path.into(),
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends entries and fsyncs; returns once they are durable.
    pub fn write(&self, entries: &[DeadLetter]) -> Result<(), DeadLetterError> {
        if entries.is_empty() {
            return Ok(());
        }
        let err = |source| DeadLetterError {
            path: self.path.clone(),
            source,
        };
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e).map_err(|e| err(e.into()))?;
            buf.push(b'\n');
        }
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(err)?;
            *guard = Some(f);
        }
        let result = match guard.as_mut() {
            Some(f) => f.write_all(&buf).and_then(|_| f.sync_data()),
            None => Ok(()),
        };
        if let Err(e) = result {
            // Reopen next time: the handle may be in a bad state (e.g. after ENOSPC).
            *guard = None;
            return Err(err(e));
        }
        Ok(())
    }
}

/// Reads a dead-letter file back (for `redrive`); a bad line is an error naming its number.
pub fn read_file(path: &Path) -> Result<Vec<DeadLetter>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}
