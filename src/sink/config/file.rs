//! `kind = "file"`: JSON lines appended to a file, rotated by size ([`crate::sink::file`]).

use serde::Deserialize;
use std::path::PathBuf;

/// The keys of a `file` sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The JSON-lines file.
    pub path: PathBuf,
    /// Rotate once the file would grow past this many bytes (absent or 0: never).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Rotated files kept (`alerts.jsonl.1` is the newest); the oldest is deleted.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

fn default_max_files() -> u32 {
    5
}
