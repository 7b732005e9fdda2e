//! The context store: every Key Vault operation hubwatch reads, kept so that an alert can carry
//! the answers to its rule's runbook (`runbook_answers`).
//!
//! This module owns the record kept per operation ([`KvOp`]), the store interface
//! ([`ContextStore`]) and its two implementations: [`sqlite`] (embedded, a file under
//! `state_dir`) and [`redis`] (shared by replicas). [`extract`] turns a log record into a
//! [`KvOp`], [`answers`] turns query results into the `runbook_answers` object and
//! [`writer`] makes a body's writes durable before its event can be checkpointed, and
//! [`followup`] sends the `alert_update` six hours (of event time) after a Key Vault alert;
//! [`noise`] applies the opt-in per-rule noise control. Settings are
//! in [`config`] (`[context]`).

mod answers;
pub mod config;
pub mod entra;
mod extract;
mod followup;
mod noise;
pub mod redis;
pub mod sqlite;
pub(crate) mod writer;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use config::{ContextConfig, StoreKind};
pub use writer::{Context, Written};

/// One Key Vault operation, as the context store keeps it. Strings are empty when unknown;
/// `vault`, `object`, `identity` are lower-cased so lookups ignore case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvOp {
    /// Deterministic: the first 16 bytes of the SHA-256 of the record's text, in hex. The same
    /// record written again (a replay after a crash) has the same id and is stored once
    /// (SQLite keys on event time and id: a record without a readable `time` read from a file
    /// takes the time of reading, so only Event Hubs replays of such records are idempotent).
    pub id: String,
    /// Event time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub vault: String,
    /// `key`, `secret`, `certificate`, or empty for vault-level operations.
    pub object_type: String,
    pub object: String,
    /// `operationName` as written (`KeyGet`, `MICROSOFT.KEYVAULT/VAULTS/KEYS/READ/ACTION`).
    pub operation: String,
    /// `success`, `failure` or `unknown`.
    pub outcome: String,
    pub caller_ip: String,
    /// The caller's most stable identifier (object id, else application id, else UPN, else
    /// the actor's `caller`), lower-cased.
    pub identity: String,
    /// The caller as a person reads it (UPN, else the actor's `caller`).
    pub identity_name: String,
    pub correlation_id: String,
    /// A cryptographic operation with a key (sign, verify, encrypt, decrypt, wrap, unwrap).
    pub crypto: bool,
}

impl KvOp {
    /// The sort key of answers: event time, then id.
    pub fn order(&self) -> (i64, &str) {
        (self.time_ms, self.id.as_str())
    }
}

/// A context store failed; the message never holds a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("context store unavailable: {0}")]
    Unavailable(String),
    #[error("context store timed out after {0} ms")]
    Timeout(u64),
    #[error("context store data: {0}")]
    Data(String),
}

/// Which records a query asks for, newest first, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Key, secret and certificate operations from one caller IP.
    CallerIp(String),
    /// Cryptographic operations with one key (`vault`, `key` lower-cased).
    Key { vault: String, key: String },
    /// Every operation of one identity (lower-cased).
    Identity(String),
}

/// Storage of [`KvOp`]s. Writes are idempotent (keyed on [`KvOp::id`]) and durable when they
/// return `Ok`; queries return records with `from_ms <= time_ms <= to_ms`, ordered newest first
/// (time, then id, descending), at most `limit`.
#[async_trait::async_trait]
pub trait ContextStore: Send + Sync {
    /// `sqlite` or `redis`, for metrics and the `runbook_answers.store` field.
    fn kind(&self) -> &'static str;
    async fn write(&self, ops: &[KvOp]) -> Result<(), StoreError>;
    async fn query(
        &self,
        query: &Query,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<KvOp>, StoreError>;
    /// Keeps a follow-up until [`complete`](Self::complete); idempotent by alert id.
    async fn schedule(&self, followups: &[FollowUp]) -> Result<(), StoreError>;
    /// Follow-ups due at or before `until_ms`, earliest first, at most `limit`.
    async fn due(&self, until_ms: i64, limit: usize) -> Result<Vec<FollowUp>, StoreError>;
    /// The earliest due time of any follow-up kept.
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;
    /// The follow-up was delivered: forget it.
    async fn complete(&self, alert_id: &str) -> Result<(), StoreError>;
}

/// Opens the configured store.
pub async fn open(
    config: &ContextConfig,
    state_dir: &std::path::Path,
) -> Result<Arc<dyn ContextStore>, StoreError> {
    match config.store {
        StoreKind::Sqlite => {
            let path = config.sqlite_path(state_dir);
            let store = sqlite::SqliteStore::open(&path, config.retention_ms(), config.max_bytes)?;
            Ok(Arc::new(store))
        }
        StoreKind::Redis => Ok(Arc::new(redis::RedisStore::open(config)?)),
    }
}

/// Rule ids whose alerts carry `runbook_answers`.
pub fn is_keyvault_rule(rule_id: &str) -> bool {
    rule_id.starts_with("Azure.MonitorActivity.KeyVault")
        || rule_id.starts_with("Azure.KeyVault.AuditEvent")
}

/// A follow-up message to send about an alert once the stream's event time passes `due_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub alert_id: String,
    pub due_ms: i64,
    /// The alert as first sent, JSON.
    pub alert: String,
}
