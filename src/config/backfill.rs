//! `[backfill]`: where `hubwatch backfill` finds the diagnostic-settings archives (storage
//! account, containers, prefixes), how it authenticates (like `[checkpoint]`), and its bounds
//! (parallel downloads, memory, cursor location, when an hour counts as closed).

use super::{invalid, ConfigError, CredentialConfig, CredentialKind};
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
    pub auth: Option<String>,
    pub credential: Option<CredentialKind>,
    #[serde(flatten)]
    pub credential_config: CredentialConfig,
    /// Environment variable holding the SAS token (`auth = "sas"`).
    pub sas_env: Option<String>,
    /// Account name and the variable holding its key (`auth = "shared-key"`).
    pub account_name: Option<String>,
    pub account_key_env: Option<String>,
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
            auth: None,
            credential: None,
            credential_config: CredentialConfig::default(),
            sas_env: None,
            account_name: None,
            account_key_env: None,
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
    /// Checks what `hubwatch backfill` needs; every error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self
            .account_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| invalid("backfill.account_url", "required for hubwatch backfill"))?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(invalid(
                "backfill.account_url",
                "must start with https:// (or http:// for Azurite)",
            ));
        }
        if self.containers.is_empty() || self.containers.iter().any(|c| c.trim().is_empty()) {
            return Err(invalid(
                "backfill.containers",
                "at least one non-empty container name is required",
            ));
        }
        if let Some(c) = self.containers.iter().find(|c| c.contains('/')) {
            return Err(invalid(
                "backfill.containers",
                format!("{c:?} is not a container name (no '/')"),
            ));
        }
        if self.prefixes.is_empty() {
            return Err(invalid(
                "backfill.prefixes",
                "at least one prefix is required (\"\" for the whole container)",
            ));
        }
        super::blob_auth::validate(&self.blob_auth_settings())?;
        if self.parallelism == 0 {
            return Err(invalid("backfill.parallelism", "must be at least 1"));
        }
        if self.memory_mib == 0 {
            return Err(invalid("backfill.memory_mib", "must be at least 1"));
        }
        if self.range_bytes() < MIN_RANGE_BYTES {
            return Err(invalid(
                "backfill.memory_mib",
                format!(
                    "memory_mib / parallelism must be at least 64 KiB (is {} bytes)",
                    self.range_bytes()
                ),
            ));
        }
        if self.cursor_interval_ms == 0 {
            return Err(invalid("backfill.cursor_interval_ms", "must be at least 1"));
        }
        if self.progress_interval_secs == 0 {
            return Err(invalid(
                "backfill.progress_interval_secs",
                "must be at least 1",
            ));
        }
        match self.auth.as_deref().unwrap_or("entra") {
            "entra" => {
                if self.credential.is_none() {
                    return Err(invalid(
                        "backfill.credential",
                        "required for auth = \"entra\" (managed-identity, workload-identity, client-secret or azure-cli)",
                    ));
                }
                if self.credential == Some(CredentialKind::ClientSecret) {
                    super::check_client_secret("backfill", &self.credential_config)?;
                }
            }
            "sas" => {
                if self.sas_env.is_none() && !url.contains('?') {
                    return Err(invalid(
                        "backfill.sas_env",
                        "auth = \"sas\" needs sas_env (or a SAS in account_url)",
                    ));
                }
            }
            "shared-key" => {
                if self.account_name.is_none() {
                    return Err(invalid(
                        "backfill.account_name",
                        "required for auth = \"shared-key\"",
                    ));
                }
                if self.account_key_env.is_none() {
                    return Err(invalid(
                        "backfill.account_key_env",
                        "required for auth = \"shared-key\"",
                    ));
                }
            }
            other => {
                return Err(invalid(
                    "backfill.auth",
                    format!("{other:?} is not one of \"entra\", \"sas\", \"shared-key\""),
                ))
            }
        }
        Ok(())
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
