//! `[backfill]`: where `hubwatch backfill` finds the diagnostic-settings archives (storage
//! account, containers, prefixes), how it authenticates (like `[checkpoint]`), and its bounds
//! (parallel downloads, memory, cursor location, when an hour counts as closed).

use super::ConfigError;
use crate::azure::BlobAuthConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The containers diagnostic settings write to: the Activity Log and Key Vault `AuditEvent`.
pub const DEFAULT_CONTAINERS: [&str; 2] = ["insights-activity-logs", "insights-logs-auditevent"];

/// The smallest ranged read (`memory_mib / parallelism`).
pub(super) const MIN_RANGE_BYTES: usize = 64 << 10;

/// `[backfill]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackfillConfig {
    /// Blob service URL of the storage account, e.g. `https://ACCOUNT.blob.core.windows.net`
    /// (Azurite: `http://127.0.0.1:10000/devstoreaccount1`). A query string is a SAS token.
    pub account_url: Option<String>,
    /// Containers to read, in order.
    pub containers: Vec<String>,
    /// Blob name prefixes to walk in every container (e.g. one subscription:
    /// `resourceId=/SUBSCRIPTIONS/0000.../`); the time partitions are found below them.
    pub prefixes: Vec<String>,
    /// Auth: `entra` (uses `credential`), `sas` or `shared-key`, as in `[checkpoint]`.
    #[serde(flatten)]
    pub auth: BlobAuthConfig,
    /// Blobs downloaded and processed at the same time.
    pub parallelism: usize,
    /// Bound on downloaded blob data held in memory, in MiB: each of the `parallelism`
    /// downloads reads ranges of `memory_mib / parallelism` bytes (at least 64 KiB), plus at
    /// most one line (`service.max_body_bytes`) carried over from the previous range.
    pub memory_mib: usize,
    /// Cursor directory (default: `<state_dir>/backfill`).
    pub cursor_dir: Option<PathBuf>,
    /// How often the cursor is saved when no alert is waiting on it, in milliseconds.
    pub cursor_interval_ms: u64,
    /// An hour is closed (its last line is read even without a trailing newline, and its
    /// blob is marked done) this many minutes after the hour ends.
    pub closed_after_minutes: u64,
    /// Progress lines when stderr is not a terminal, every this many seconds.
    pub progress_interval_secs: u64,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        BackfillConfig {
            account_url: None,
            containers: DEFAULT_CONTAINERS.iter().map(|c| c.to_string()).collect(),
            prefixes: vec!["resourceId=/".to_string()],
            auth: BlobAuthConfig::default(),
            parallelism: 8,
            memory_mib: 256,
            cursor_dir: None,
            cursor_interval_ms: 2000,
            closed_after_minutes: 120,
            progress_interval_secs: 5,
        }
    }
}

impl BackfillConfig {
    /// Checks what `hubwatch backfill` needs; every error names its key (the checks are in
    /// `config/validate.rs` with the rest).
    pub fn validate(&self) -> Result<(), ConfigError> {
        super::validate::backfill(self)
    }

    /// Bytes of one ranged read: the memory bound shared by the parallel downloads.
    pub fn range_bytes(&self) -> usize {
        (self.memory_mib << 20) / self.parallelism.max(1)
    }

    /// The cursor directory.
    pub fn cursor_dir(&self, state_dir: &Path) -> PathBuf {
        self.cursor_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("backfill"))
    }
}
