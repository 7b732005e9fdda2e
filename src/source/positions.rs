//! Where the file source stopped: the number of fully delivered lines of each input file.
//!
//! Kept as one small JSON file in the checkpoint directory, replaced atomically (write to a
//! temporary file, fsync, rename, fsync the directory) so a `kill -9` leaves the old or the new
//! version, never a torn one.

use crate::durable;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub(crate) struct FilePositions {
    path: PathBuf,
    lines: BTreeMap<String, u64>,
}

impl FilePositions {
    /// Loads positions from `dir/file-positions.json` (none yet is fine).
    pub(crate) fn open(dir: &Path) -> std::io::Result<FilePositions> {
        let path = dir.join("file-positions.json");
        let lines = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is corrupt: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(FilePositions { path, lines })
    }

    /// Lines of `file` already delivered.
    pub(crate) fn get(&self, file: &str) -> u64 {
        self.lines.get(file).copied().unwrap_or(0)
    }

    /// Records that the first `line` lines of `file` are delivered, durably.
    pub(crate) fn set(&mut self, file: &str, line: u64) -> std::io::Result<()> {
        self.lines.insert(file.to_string(), line);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(&self.lines)?;
        durable::replace(&self.path, &durable::tmp_beside(&self.path, "tmp"), &bytes)
    }
}
