//! The backfill's durable cursor: per blob, the bytes fully processed (up to the last complete
//! line whose alerts are all acknowledged or dead-lettered), the lines before that offset, and
//! the blob's length and ETag when it was read; a blob is `done` once its hour is closed and
//! it was read to its end.
//!
//! One JSON file per run (range start, shard, containers and prefixes), replaced atomically
//! ([`crate::durable::replace`]). Saved on a timer, and at once when an offset moves past a
//! line that raised alerts, so a killed backfill re-sends as little as possible (at least once:
//! an alert acknowledged between the last save and a kill is sent again, with its `alert_id`).

use crate::durable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Where one blob stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct BlobCursor {
    /// Bytes fully processed: always the end of a complete line (or of the blob, when done).
    pub offset: u64,
    /// Lines before `offset`.
    pub lines: u64,
    /// The blob's length and ETag at the last read.
    pub length: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The hour is closed and the blob was read to its end.
    #[serde(default)]
    pub done: bool,
}

/// What identifies a run: a cursor is only resumed by the same run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RunKey {
    pub from: String,
    pub shard: String,
    pub containers: Vec<String>,
    pub prefixes: Vec<String>,
}

impl RunKey {
    /// The cursor file's name: a short hash of the key, so different runs do not collide.
    pub(super) fn file_name(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_string(self).unwrap_or_default();
        let h = Sha256::digest(text.as_bytes());
        format!("cursor-{}.json", hex::encode(&h[..8]))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CursorFile {
    version: u32,
    run: RunKey,
    blobs: BTreeMap<String, BlobCursor>,
}

/// The cursor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("cannot read the backfill cursor {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("backfill cursor {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write the backfill cursor {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

struct State {
    file: CursorFile,
    dirty: bool,
}

/// The cursor of one run, shared by the blob workers.
pub(super) struct Cursor {
    path: PathBuf,
    state: Mutex<State>,
    urgent: Notify,
}

impl Cursor {
    /// Opens (or starts) the cursor of `run` in `dir`; `restart` ignores what is saved.
    pub(super) fn open(dir: &Path, run: RunKey, restart: bool) -> Result<Cursor, CursorError> {
        let path = dir.join(run.file_name());
        std::fs::create_dir_all(dir).map_err(|source| CursorError::Write {
            path: path.clone(),
            source,
        })?;
        let file = match std::fs::read(&path) {
            Ok(bytes) if !restart => {
                let f: CursorFile =
                    serde_json::from_slice(&bytes).map_err(|e| CursorError::Invalid {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                if f.run != run {
                    return Err(CursorError::Invalid {
                        path,
                        message: "it belongs to another run".into(),
                    });
                }
                f
            }
            Ok(_) => fresh(run),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh(run),
            Err(source) => return Err(CursorError::Read { path, source }),
        };
        Ok(Cursor {
            path,
            state: Mutex::new(State { file, dirty: true }),
            urgent: Notify::new(),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Where `key` stands (default: not started).
    pub(super) fn get(&self, key: &str) -> BlobCursor {
        self.lock().file.blobs.get(key).cloned().unwrap_or_default()
    }

    /// Moves `key` to `c`; `urgent` (alerts were acknowledged before it) saves at once.
    pub(super) fn set(&self, key: &str, c: BlobCursor, urgent: bool) {
        {
            let mut s = self.lock();
            s.file.blobs.insert(key.to_string(), c);
            s.dirty = true;
        }
        if urgent {
            self.urgent.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the cursor if it changed since the last save.
    pub(super) fn save(&self) -> Result<(), CursorError> {
        let bytes = {
            let mut s = self.lock();
            if !s.dirty {
                return Ok(());
            }
            s.dirty = false;
            serde_json::to_vec(&s.file).map_err(|e| CursorError::Invalid {
                path: self.path.clone(),
                message: e.to_string(),
            })?
        };
        let tmp = durable::tmp_beside(&self.path, "tmp");
        durable::replace(&self.path, &tmp, &bytes).map_err(|source| {
            self.lock().dirty = true;
            CursorError::Write {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Saves every `interval`, and at once on an urgent change, until `stop` fires; then once
    /// more.
    pub(super) async fn run_saver(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.urgent.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = self.save_blocking().await {
                tracing::error!(error = %e, "cannot save the backfill cursor; retrying");
            }
        }
        if let Err(e) = self.save_blocking().await {
            tracing::error!(error = %e, "cannot save the backfill cursor");
        }
    }

    async fn save_blocking(self: &Arc<Self>) -> Result<(), CursorError> {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.save()).await {
            Ok(r) => r,
            Err(e) => Err(CursorError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            }),
        }
    }
}

fn fresh(run: RunKey) -> CursorFile {
    CursorFile {
        version: 1,
        run,
        blobs: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunKey {
        RunKey {
            from: "2026-11-01T00:00:00Z".into(),
            shard: "0/1".into(),
            containers: vec!["c".into()],
            prefixes: vec!["".into()],
        }
    }

    #[test]
    fn survives_reopen_and_refuses_another_run() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cursor::open(dir.path(), run(), false).unwrap();
        let at = BlobCursor {
            offset: 10,
            lines: 2,
            length: 12,
            etag: Some("\"e\"".into()),
            done: false,
        };
        c.set("c/b", at.clone(), false);
        c.save().unwrap();
        let again = Cursor::open(dir.path(), run(), false).unwrap();
        assert_eq!(again.get("c/b"), at);
        assert_eq!(
            Cursor::open(dir.path(), run(), true).unwrap().get("c/b"),
            BlobCursor::default()
        );
        let mut other = run();
        other.shard = "1/2".into();
        assert_ne!(other.file_name(), run().file_name());
    }
}
