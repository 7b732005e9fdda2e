//! `[context]`: whether the context store is on, which store, how long and how much it keeps,
//! how long an alert waits for it, and the Redis connection (`[context.redis]`).
//!
//! Off by default: alerts are then exactly what the rules produce. Secrets are never values
//! here: `access_key_env` / `access_key_file` name where the Redis access key is.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Which store holds the operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// A SQLite file under `state_dir` (one replica).
    #[default]
    Sqlite,
    /// Redis shared by every replica.
    Redis,
}

/// `[context]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    pub enabled: bool,
    pub store: StoreKind,
    /// SQLite file (default `<state_dir>/context.sqlite`).
    pub path: Option<PathBuf>,
    /// Operations older than this (by event time, behind the newest written) are removed.
    pub retention_days: u64,
    /// SQLite: the file is kept under this size; the oldest operations go first.
    pub max_bytes: u64,
    /// How long a body's writes may take before its alerts go out without waiting further
    /// (the writes are then retried in the background; the event is not checkpointed before).
    pub write_timeout_ms: u64,
    /// How long one alert waits for its answers before `status: "unavailable"`.
    pub query_timeout_ms: u64,
    /// Records listed under `newest` in `caller_ip_keyvault_operations`.
    pub newest_records: usize,
    /// At most this many records are read per question (counts are then marked `truncated`).
    pub max_query_records: usize,
    /// Bodies whose writes wait in the background retry queue before intake waits.
    pub retry_queue: usize,
    pub redis: RedisConfig,
    /// Opt-in noise control per rule (`[[context.noise]]`); none by default.
    pub noise: Vec<super::noise::NoisePolicy>,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            enabled: false,
            store: StoreKind::Sqlite,
            path: None,
            retention_days: 30,
            max_bytes: 1 << 30,
            write_timeout_ms: 2000,
            query_timeout_ms: 1000,
            newest_records: 10,
            max_query_records: 10_000,
            retry_queue: 1024,
            redis: RedisConfig::default(),
            noise: Vec::new(),
        }
    }
}

/// How to authenticate to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RedisAuth {
    /// No AUTH (a local server).
    #[default]
    None,
    /// The cache's access key (`access_key_env` or `access_key_file`).
    AccessKey,
    /// Entra ID: `credential` (managed-identity, workload-identity, client-secret, azure-cli)
    /// gets tokens; `username` is the identity's object id.
    Entra,
}

/// `[context.redis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port` or `rediss://host:port` (TLS), without credentials.
    pub url: Option<String>,
    pub auth: RedisAuth,
    /// User name for AUTH (access keys: leave unset, or `default`; Entra: the identity's
    /// object id).
    pub username: Option<String>,
    /// `auth = "entra"`: how to get tokens.
    pub credential: Option<crate::config::CredentialKind>,
    #[serde(flatten)]
    pub credential_config: crate::config::CredentialConfig,
    pub access_key_env: Option<String>,
    pub access_key_file: Option<PathBuf>,
    /// Prefix of every key hubwatch writes.
    pub key_prefix: String,
    /// After each write, wait for this many replicas to acknowledge it (`WAIT`); 0: the
    /// primary's acknowledgement is enough.
    pub wait_replicas: u32,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            auth: RedisAuth::None,
            username: None,
            access_key_env: None,
            access_key_file: None,
            credential: None,
            credential_config: Default::default(),
            key_prefix: "hubwatch:kv:".into(),
            wait_replicas: 0,
            connect_timeout_ms: 2000,
            response_timeout_ms: 2000,
        }
    }
}

impl ContextConfig {
    /// Checks what types cannot; `Err((key under context., message))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if !self.enabled {
            return Ok(());
        }
        if self.retention_days == 0 {
            return bad("retention_days", "must be at least 1");
        }
        if self.max_bytes < 1 << 20 {
            return bad("max_bytes", "must be at least 1048576 (1 MiB)");
        }
        if self.write_timeout_ms == 0 || self.query_timeout_ms == 0 {
            return bad(
                "query_timeout_ms",
                "write_timeout_ms and query_timeout_ms must be at least 1",
            );
        }
        if self.max_query_records == 0 || self.retry_queue == 0 {
            return bad(
                "max_query_records",
                "max_query_records and retry_queue must be at least 1",
            );
        }
        for (i, p) in self.noise.iter().enumerate() {
            p.validate().map_err(|m| (format!("noise[{i}]"), m))?;
        }
        if self.store == StoreKind::Redis {
            let r = &self.redis;
            let Some(url) = r.url.as_deref() else {
                return bad("redis.url", "required when context.store = \"redis\"");
            };
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return bad("redis.url", "must start with redis:// or rediss:// (TLS)");
            }
            if url_has_credentials(url) {
                return bad(
                    "redis.url",
                    "must not hold credentials; use auth = \"access-key\" with access_key_env or access_key_file",
                );
            }
            if r.auth == RedisAuth::AccessKey
                && r.access_key_env.is_none()
                && r.access_key_file.is_none()
            {
                return bad(
                    "redis.access_key_env",
                    "auth = \"access-key\" needs access_key_env or access_key_file",
                );
            }
            if r.auth == RedisAuth::Entra {
                match r.credential {
                    None | Some(crate::config::CredentialKind::ConnectionString) => {
                        return bad(
                            "redis.credential",
                            "auth = \"entra\" needs credential = managed-identity, workload-identity, client-secret or azure-cli",
                        )
                    }
                    Some(crate::config::CredentialKind::ClientSecret) => {
                        crate::config::check_client_secret("context.redis", &r.credential_config)
                            .map_err(|e| ("redis.credential".to_string(), e.to_string()))?;
                    }
                    Some(_) => {}
                }
                if r.username.as_deref().unwrap_or_default().is_empty() {
                    return bad(
                        "redis.username",
                        "auth = \"entra\" needs the identity's object id as username",
                    );
                }
            }
            if r.key_prefix.is_empty() {
                return bad("redis.key_prefix", "must not be empty");
            }
        } else if self.redis.url.is_some() {
            return bad("redis.url", "set, but context.store is not \"redis\"");
        }
        Ok(())
    }

    pub fn sqlite_path(&self, state_dir: &Path) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| state_dir.join("context.sqlite"))
    }

    pub fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX)
    }
}

/// `user:pass@` (or `:pass@`) in the authority part of a URL.
fn url_has_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(url: &str) -> ContextConfig {
        ContextConfig {
            enabled: true,
            store: StoreKind::Redis,
            redis: RedisConfig {
                url: Some(url.into()),
                ..RedisConfig::default()
            },
            ..ContextConfig::default()
        }
    }

    #[test]
    fn redis_settings_are_checked() {
        assert!(redis("rediss://cache.example:10000").validate().is_ok());
        assert_eq!(
            redis("http://x").validate().unwrap_err().0,
            "redis.url".to_string()
        );
        assert!(redis("redis://:secret@x:6379")
            .validate()
            .unwrap_err()
            .1
            .contains("must not hold credentials"));
        let mut c = redis("redis://x:6379");
        c.redis.auth = RedisAuth::AccessKey;
        assert_eq!(c.validate().unwrap_err().0, "redis.access_key_env");
        c.redis.access_key_env = Some("REDIS_KEY".into());
        assert!(c.validate().is_ok());
        let mut c = ContextConfig {
            enabled: true,
            ..ContextConfig::default()
        };
        assert!(c.validate().is_ok());
        c.retention_days = 0;
        assert_eq!(c.validate().unwrap_err().0, "retention_days");
    }
}
