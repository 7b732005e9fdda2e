//! The `file` sink: one JSON line per alert, appended and fsynced.
//!
//! A batch is written with one `write_all` and made durable with `sync_data` before
//! [`Sink::send`] returns `Ok`. With `max_bytes` set, a write that would grow the file past it
//! first rotates: `alerts.jsonl.{max_files-1}` becomes `.{max_files}` (the oldest is replaced),
//! ..., `alerts.jsonl` becomes `alerts.jsonl.1`, and a new `alerts.jsonl` is started. A batch
//! larger than `max_bytes` still goes whole into a fresh file. I/O errors are transient: the
//! worker retries them; a failed write is cut back off the file so a retry never leaves a
//! partial line behind.

use super::{Sink, SinkError};
use crate::alert::Alert;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Appends alerts to a JSON-lines file, with optional size-based rotation.
pub struct FileSink {
    name: String,
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// Rotate before the file would exceed this many bytes (`None`: never).
    max_bytes: Option<u64>,
    max_files: u32,
    /// The open file and its length.
    file: Mutex<Option<(File, u64)>>,
}

impl FileSink {
    /// A sink writing to `path`; `max_bytes` of `None` or 0 never rotates.
    pub fn new(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        max_bytes: Option<u64>,
        max_files: u32,
    ) -> Self {
        FileSink {
            name: name.into(),
            inner: Arc::new(Inner {
                path: path.into(),
                max_bytes: max_bytes.filter(|b| *b > 0),
                max_files: max_files.max(1),
                file: Mutex::new(None),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Inner {
    fn open(&self) -> std::io::Result<(File, u64)> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let len = f.metadata()?.len();
        Ok((f, len))
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Shifts `path.{n}` to `path.{n+1}` (dropping the last) and `path` to `path.1`.
    fn rotate(&self) -> std::io::Result<()> {
        for n in (1..self.max_files).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        sync_dir(&self.path);
        Ok(())
    }

    fn write(&self, buf: &[u8]) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.write_locked(&mut guard, buf);
        if result.is_err() {
            // Reopen next time: the handle may be in a bad state (e.g. after ENOSPC).
            *guard = None;
        }
        result
    }

    fn write_locked(&self, guard: &mut Option<(File, u64)>, buf: &[u8]) -> std::io::Result<()> {
        if guard.is_none() {
            *guard = Some(self.open()?);
        }
        let len = guard.as_ref().map_or(0, |(_, len)| *len);
        if let Some(max) = self.max_bytes {
            if len > 0 && len.saturating_add(buf.len() as u64) > max {
                *guard = None;
                self.rotate()?;
                *guard = Some(self.open()?);
            }
        }
        let Some((f, len)) = guard.as_mut() else {
            return Err(std::io::Error::other("file not open"));
        };
        let fresh = *len == 0;
        let written = f.write_all(buf).and_then(|_| f.sync_data());
        if let Err(e) = written {
            // Cut off whatever part of the batch got in, so the retry starts on a line boundary.
            let _ = f.set_len(*len).and_then(|_| f.sync_data());
            return Err(e);
        }
        *len += buf.len() as u64;
        if fresh {
            // A new file's directory entry must be durable too.
            sync_dir(&self.path);
        }
        Ok(())
    }
}

/// Fsyncs the directory holding `path` (best effort: not every platform allows it).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        let buf = crate::alert::json_lines(alerts);
        let inner = self.inner.clone();
        match tokio::task::spawn_blocking(move || inner.write(&buf)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SinkError::transient(format!(
                "writing {}: {e}",
                self.inner.path.display()
            ))),
            Err(e) => Err(SinkError::transient(format!(
                "writing {}: task failed: {e}",
                self.inner.path.display()
            ))),
        }
    }

    async fn flush(&self) -> Result<(), SinkError> {
        // Every send is already fsynced.
        Ok(())
    }
}
