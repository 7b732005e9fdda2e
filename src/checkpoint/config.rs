//! `[checkpoint]` configuration: how often partitions (or file sources) are checkpointed, and
//! the store, one struct per `kind` ([`CheckpointStoreConfig`]).

use crate::azure::BlobAuthConfig;
use crate::config::tagged::{self, KeyError};
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// Checkpoint store kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointKind {
    #[default]
    File,
    Memory,
    Blob,
}

impl CheckpointKind {
    /// The configuration's spelling (`checkpoint.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointKind::File => "file",
            CheckpointKind::Memory => "memory",
            CheckpointKind::Blob => "blob",
        }
    }
}

/// `[checkpoint]`.
#[derive(Debug, Clone, Default)]
pub struct CheckpointConfig {
    pub cadence: CheckpointCadence,
    pub store: CheckpointStoreConfig,
}

/// When to checkpoint, whatever the store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointCadence {
    /// Checkpoint after this many fully delivered events of a partition...
    pub interval_events: u64,
    /// ...or after this long, whichever comes first.
    pub interval_ms: u64,
}

impl Default for CheckpointCadence {
    fn default() -> Self {
        CheckpointCadence {
            interval_events: 100,
            interval_ms: 5000,
        }
    }
}

/// The store, chosen by `kind` (default `file`).
#[derive(Debug, Clone)]
pub enum CheckpointStoreConfig {
    File(FileCheckpointConfig),
    Memory(MemoryCheckpointConfig),
    Blob(BlobCheckpointConfig),
}

impl Default for CheckpointStoreConfig {
    fn default() -> Self {
        CheckpointStoreConfig::File(FileCheckpointConfig::default())
    }
}

/// `kind = "file"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheckpointConfig {
    /// Directory of the store (default: `<state_dir>/checkpoints`).
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// `kind = "memory"`: nothing survives a restart; no keys of its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryCheckpointConfig {}

/// `kind = "blob"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobCheckpointConfig {
    /// Container URL, e.g. `https://ACCOUNT.blob.core.windows.net/CONTAINER`.
    pub container_url: String,
    /// Create the container at start if missing (development).
    #[serde(default)]
    pub create_container: bool,
    /// `auth` and its keys.
    #[serde(flatten)]
    pub auth: BlobAuthConfig,
}

impl CheckpointConfig {
    /// The store's kind.
    pub fn kind(&self) -> CheckpointKind {
        match self.store {
            CheckpointStoreConfig::File(_) => CheckpointKind::File,
            CheckpointStoreConfig::Memory(_) => CheckpointKind::Memory,
            CheckpointStoreConfig::Blob(_) => CheckpointKind::Blob,
        }
    }

    /// The blob store's keys, when that is the kind.
    pub fn blob(&self) -> Option<&BlobCheckpointConfig> {
        match &self.store {
            CheckpointStoreConfig::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// Reads the section: `kind` (default `file`), the cadence, then the store's keys (see
    /// [`tagged`] for why this is not `#[serde(tag = "kind")]`).
    pub fn from_table(mut table: toml::Table) -> Result<CheckpointConfig, KeyError> {
        let kinds = [
            CheckpointKind::File,
            CheckpointKind::Memory,
            CheckpointKind::Blob,
        ]
        .map(CheckpointKind::as_str);
        let kind = tagged::take_tag(&mut table, "kind", &kinds)?.unwrap_or("file");
        let cadence = tagged::take::<CheckpointCadence>(&mut table)?;
        let required = format!("for kind = {kind:?}");
        let store = match kind {
            "file" => CheckpointStoreConfig::File(tagged::from_table(table, &required)?),
            "memory" => CheckpointStoreConfig::Memory(tagged::from_table(table, &required)?),
            _ => CheckpointStoreConfig::Blob(tagged::from_table(table, &required)?),
        };
        Ok(CheckpointConfig { cadence, store })
    }
}

impl<'de> Deserialize<'de> for CheckpointConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CheckpointConfig::from_table(tagged::table(d)?).map_err(KeyError::into_de)
    }
}
