//! The shared context store: Redis (Azure Managed Redis, Azure Cache for Redis, or a local
//! `redis-server`), so that every replica answers from the records of every partition.
//!
//! Three sorted sets per subject, scored by event time in milliseconds, whose members are the
//! operations' JSON (so a replayed write adds nothing: same member, same score):
//! `PREFIX ip:<caller ip>` (key, secret and certificate operations), `PREFIX key:<vault>/<key>`
//! (cryptographic operations) and `PREFIX id:<identity>`. Each write also trims its sets to the
//! retention (behind the newest event time this process wrote) and sets their expiry to the
//! retention, so idle subjects disappear. No command spans two keys, so the commands work
//! behind a cluster proxy. Follow-ups: `PREFIX followups` (alert ids scored by due time)
//! and `PREFIX followup:<alert id>` (the alert's JSON). The connection is opened lazily and reopened after failures; the
//! access key is read once at start and never logged.

use super::config::{ContextConfig, RedisAuth};
use super::{ContextStore, FollowUp, KvOp, Query, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::IntoConnectionInfo;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    retention_ms: i64,
    wait_replicas: u32,
    response_timeout_ms: u64,
    newest_ms: AtomicI64,
}

/// A Redis error without anything the server or URL could carry of the credentials.
fn err(e: redis::RedisError) -> StoreError {
    let kind = format!("{:?}", e.kind());
    if e.is_timeout() {
        return StoreError::Unavailable(format!("redis: timed out ({kind})"));
    }
    if e.is_connection_refusal() || e.is_connection_dropped() || e.is_io_error() {
        return StoreError::Unavailable(format!("redis: connection failed ({kind})"));
    }
    // Server replies (e.g. WRONGPASS) are short codes and messages, never the key itself.
    let code = e.code().unwrap_or("error");
    StoreError::Unavailable(format!("redis: {code} ({kind})"))
}

impl RedisStore {
    /// Builds the client; connecting happens at the first command. With `auth = "entra"`
    /// the configured credential gets the tokens.
    pub fn open(config: &ContextConfig) -> Result<RedisStore, StoreError> {
        let credential = match (config.redis.auth, config.redis.credential) {
            (RedisAuth::Entra, Some(kind)) => Some(
                crate::azure::token_credential(kind, &config.redis.credential_config)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            ),
            (RedisAuth::Entra, None) => {
                return Err(StoreError::Unavailable(
                    "context.redis.credential is required for auth = \"entra\"".into(),
                ))
            }
            _ => None,
        };
        RedisStore::open_with(config, credential)
    }

    /// [`open`](Self::open) with the token credential given (for `auth = "entra"`).
    pub fn open_with(
        config: &ContextConfig,
        credential: Option<std::sync::Arc<dyn azure_core::credentials::TokenCredential>>,
    ) -> Result<RedisStore, StoreError> {
        let r = &config.redis;
        let url = r
            .url
            .as_deref()
            .ok_or_else(|| StoreError::Unavailable("context.redis.url is not set".into()))?;
        let mut info = url.into_connection_info().map_err(|e| {
            StoreError::Unavailable(format!(
                "context.redis.url is not a valid Redis URL ({:?})",
                e.kind()
            ))
        })?;
        let mut settings = info.redis_settings().clone();
        if let Some(user) = &r.username {
            settings = settings.set_username(user);
        }
        if r.auth == RedisAuth::AccessKey {
            let key = crate::azure::read_secret(
                r.access_key_env.as_deref(),
                r.access_key_file.as_deref(),
                "context.redis access key",
            )
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            settings = settings.set_password(key.trim());
        }
        info = info.set_redis_settings(settings);
        let client = redis::Client::open(info)
            .map_err(|e| StoreError::Unavailable(format!("redis client: {:?}", e.kind())))?;
        let mut cm = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(r.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(r.response_timeout_ms)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        if r.auth == RedisAuth::Entra {
            let credential = credential.ok_or_else(|| {
                StoreError::Unavailable("no token credential for auth = \"entra\"".into())
            })?;
            let user = r.username.clone().unwrap_or_default();
            cm = cm
                .set_credentials_provider(super::entra::EntraCredentials::start(credential, user));
        }
        let conn = ConnectionManager::new_lazy_with_config(client, cm).map_err(err)?;
        Ok(RedisStore {
            conn,
            prefix: r.key_prefix.clone(),
            retention_ms: config.retention_ms(),
            wait_replicas: r.wait_replicas,
            response_timeout_ms: r.response_timeout_ms,
            newest_ms: AtomicI64::new(i64::MIN),
        })
    }

    fn keys(&self, o: &KvOp) -> Vec<String> {
        let mut keys = Vec::with_capacity(3);
        if !o.caller_ip.is_empty() && !o.object_type.is_empty() {
            keys.push(self.key(&Query::CallerIp(o.caller_ip.clone())));
        }
        if o.crypto && !o.object.is_empty() {
            keys.push(self.key(&Query::Key {
                vault: o.vault.clone(),
                key: o.object.clone(),
            }));
        }
        if !o.identity.is_empty() {
            keys.push(self.key(&Query::Identity(o.identity.clone())));
        }
        keys
    }

    fn key(&self, q: &Query) -> String {
        match q {
            Query::CallerIp(ip) => format!("{}ip:{ip}", self.prefix),
            Query::Key { vault, key } => format!("{}key:{vault}/{key}", self.prefix),
            Query::Identity(id) => format!("{}id:{id}", self.prefix),
        }
    }
}

#[async_trait::async_trait]
impl ContextStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn write(&self, ops: &[KvOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let newest = ops.iter().map(|o| o.time_ms).max().unwrap_or(i64::MIN);
        let newest = self
            .newest_ms
            .fetch_max(newest, Ordering::Relaxed)
            .max(newest);
        let cutoff = newest.saturating_sub(self.retention_ms);
        let mut pipe = redis::pipe();
        let mut touched = std::collections::BTreeSet::new();
        for o in ops {
            let member = serde_json::to_string(o).map_err(|e| StoreError::Data(e.to_string()))?;
            for key in self.keys(o) {
                pipe.zadd(&key, &member, o.time_ms).ignore();
                touched.insert(key);
            }
        }
        for key in &touched {
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(key)
                .arg("-inf")
                .arg(format!("({cutoff}"))
                .ignore();
            pipe.pexpire(key, self.retention_ms).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(err)?;
        if self.wait_replicas > 0 {
            let acked: i64 = redis::cmd("WAIT")
                .arg(self.wait_replicas)
                .arg(self.response_timeout_ms)
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            if acked < i64::from(self.wait_replicas) {
                return Err(StoreError::Unavailable(format!(
                    "redis: {acked} of {} replicas acknowledged the write",
                    self.wait_replicas
                )));
            }
        }
        Ok(())
    }

    async fn schedule(&self, followups: &[FollowUp]) -> Result<(), StoreError> {
        if followups.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for f in followups {
            pipe.cmd("SET")
                .arg(format!("{}followup:{}", self.prefix, f.alert_id))
                .arg(&f.alert)
                .arg("PX")
                .arg(self.retention_ms)
                .ignore();
            pipe.zadd(format!("{}followups", self.prefix), &f.alert_id, f.due_ms)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(err)
    }

    async fn due(&self, until_ms: i64, limit: usize) -> Result<Vec<FollowUp>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(format!("{}followups", self.prefix))
            .arg("-inf")
            .arg(until_ms)
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        let mut out = Vec::with_capacity(ids.len());
        for (alert_id, due_ms) in ids {
            let alert: Option<String> = redis::cmd("GET")
                .arg(format!("{}followup:{alert_id}", self.prefix))
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            match alert {
                Some(alert) => out.push(FollowUp {
                    alert_id,
                    due_ms,
                    alert,
                }),
                // Expired (older than the retention): nothing left to send.
                None => self.complete(&alert_id).await?,
            }
        }
        Ok(out)
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn.clone();
        let first: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(format!("{}followups", self.prefix))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        Ok(first.first().map(|(_, due)| *due))
    }

    async fn complete(&self, alert_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .zrem(format!("{}followups", self.prefix), alert_id)
            .ignore()
            .del(format!("{}followup:{alert_id}", self.prefix))
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    async fn query(
        &self,
        q: &Query,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<KvOp>, StoreError> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.key(q))
            .arg(to_ms)
            .arg(from_ms)
            .arg("BYSCORE")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let op: KvOp = serde_json::from_str(&m).map_err(|e| StoreError::Data(e.to_string()))?;
            if let Query::CallerIp(_) = q {
                if op.object_type.is_empty() {
                    continue;
                }
            }
            out.push(op);
        }
        // Members of equal score come in reverse lexical order of their JSON; answers order by
        // (time, id).
        out.sort_by(|a, b| b.order().cmp(&a.order()));
        Ok(out)
    }
}
