//! The embedded context store: one SQLite file (WAL journal, `synchronous = FULL`, so a
//! committed write survives a crash or power loss), no server.
//!
//! One table keyed on (event time, record id) (`INSERT OR IGNORE`: a replayed write changes
//! nothing; time first so that a body's rows share pages), with an index per question. Retention follows the stream: operations older than the newest
//! event time written minus `retention` are deleted, so replaying old data keeps it. The file
//! is kept under `max_bytes`: when the live pages exceed it, the oldest tenth of the
//! operations is deleted and the pages returned (`auto_vacuum = INCREMENTAL`).

use super::{ContextStore, FollowUp, KvOp, Query, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Writes between two retention and size checks.
const MAINTAIN_EVERY: u64 = 64;

pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    retention_ms: i64,
    max_bytes: u64,
    newest_ms: Arc<AtomicI64>,
    writes: AtomicU64,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ops (
  time_ms INTEGER NOT NULL,
  id TEXT NOT NULL,
  vault TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object TEXT NOT NULL,
  operation TEXT NOT NULL,
  outcome TEXT NOT NULL,
  caller_ip TEXT NOT NULL,
  identity TEXT NOT NULL,
  identity_name TEXT NOT NULL,
  correlation_id TEXT NOT NULL,
  crypto INTEGER NOT NULL,
  PRIMARY KEY (time_ms, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ops_ip ON ops (caller_ip, time_ms) WHERE object_type <> '';
CREATE INDEX IF NOT EXISTS ops_key ON ops (vault, object, time_ms) WHERE crypto = 1;
CREATE INDEX IF NOT EXISTS ops_identity ON ops (identity, time_ms);
CREATE TABLE IF NOT EXISTS followups (
  alert_id TEXT PRIMARY KEY,
  due_ms INTEGER NOT NULL,
  alert TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS followups_due ON followups (due_ms);
";

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    c.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    // auto_vacuum and page_size must be chosen before the first table exists; later they are
    // no-ops. Small pages: a body's rows land on pages scattered over the indexes, and each
    // changed page is written to the WAL in full at every commit.
    c.execute_batch(
        "PRAGMA page_size = 1024; PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA cache_size = -32768;",
    )
    .map_err(err)?;
    Ok(c)
}

impl SqliteStore {
    /// Opens (creating) the file; its directory is created if missing.
    pub fn open(path: &Path, retention_ms: i64, max_bytes: u64) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let writer = connect(path)?;
        writer.execute_batch(SCHEMA).map_err(err)?;
        let newest: Option<i64> = writer
            .query_row("SELECT MAX(time_ms) FROM ops", [], |r| r.get(0))
            .optional()
            .map_err(err)?
            .flatten();
        let reader = connect(path)?;
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            retention_ms,
            max_bytes,
            newest_ms: Arc::new(AtomicI64::new(newest.unwrap_or(i64::MIN))),
            writes: AtomicU64::new(0),
        })
    }

    /// Operations stored (for tests and sizing).
    pub fn count(&self) -> Result<u64, StoreError> {
        let c = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        c.query_row("SELECT COUNT(*) FROM ops", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(err)
    }

    /// Deletes what retention and the size bound say must go; returns the rows deleted.
    pub fn maintain(&self) -> Result<u64, StoreError> {
        let c = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        maintain(
            &c,
            self.newest_ms.load(Ordering::Relaxed),
            self.retention_ms,
            self.max_bytes,
            true,
        )
    }
}

fn maintain(
    c: &Connection,
    newest: i64,
    retention_ms: i64,
    max_bytes: u64,
    retention: bool,
) -> Result<u64, StoreError> {
    let mut deleted = 0u64;
    if retention && newest != i64::MIN {
        let cutoff = newest.saturating_sub(retention_ms);
        deleted += c
            .execute("DELETE FROM ops WHERE time_ms < ?1", params![cutoff])
            .map_err(err)? as u64;
    }
    let live = |c: &Connection| -> Result<u64, StoreError> {
        let pages: i64 = c
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(err)?;
        let free: i64 = c
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(err)?;
        let size: i64 = c
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(err)?;
        Ok(((pages - free).max(0) as u64).saturating_mul(size.max(0) as u64))
    };
    while live(c)? > max_bytes {
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM ops", [], |r| r.get(0))
            .map_err(err)?;
        if n == 0 {
            break;
        }
        let chunk = (n / 10).max(1);
        deleted += c
            .execute(
                "DELETE FROM ops WHERE (time_ms, id) IN (SELECT time_ms, id FROM ops ORDER BY time_ms, id LIMIT ?1)",
                params![chunk],
            )
            .map_err(err)? as u64;
        metrics::counter!("hubwatch_context_evicted_total", "store" => "sqlite")
            .increment(chunk as u64);
    }
    if deleted > 0 {
        // Return the freed pages to the file system (the WAL checkpoint truncates the file).
        c.execute_batch("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(err)?;
    }
    Ok(deleted)
}

fn write_all(c: &mut Connection, ops: &[KvOp]) -> Result<(), StoreError> {
    let tx = c.transaction().map_err(err)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO ops (id, time_ms, vault, object_type, object, operation, outcome, caller_ip, identity, identity_name, correlation_id, crypto) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .map_err(err)?;
        for o in ops {
            stmt.execute(params![
                o.id,
                o.time_ms,
                o.vault,
                o.object_type,
                o.object,
                o.operation,
                o.outcome,
                o.caller_ip,
                o.identity,
                o.identity_name,
                o.correlation_id,
                o.crypto as i64
            ])
            .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

const COLUMNS: &str = "id, time_ms, vault, object_type, object, operation, outcome, caller_ip, identity, identity_name, correlation_id, crypto";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KvOp> {
    Ok(KvOp {
        id: r.get(0)?,
        time_ms: r.get(1)?,
        vault: r.get(2)?,
        object_type: r.get(3)?,
        object: r.get(4)?,
        operation: r.get(5)?,
        outcome: r.get(6)?,
        caller_ip: r.get(7)?,
        identity: r.get(8)?,
        identity_name: r.get(9)?,
        correlation_id: r.get(10)?,
        crypto: r.get::<_, i64>(11)? != 0,
    })
}

fn query(
    c: &Connection,
    q: &Query,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<KvOp>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let order = "ORDER BY time_ms DESC, id DESC LIMIT";
    let rows = match q {
        Query::CallerIp(ip) => {
            let sql = format!("SELECT {COLUMNS} FROM ops WHERE caller_ip = ?1 AND object_type <> '' AND time_ms BETWEEN ?2 AND ?3 {order} ?4");
            let mut s = c.prepare_cached(&sql).map_err(err)?;
            let r = s
                .query_map(params![ip, from, to, limit], row)
                .map_err(err)?;
            r.collect::<Result<Vec<_>, _>>()
        }
        Query::Key { vault, key } => {
            let sql = format!("SELECT {COLUMNS} FROM ops WHERE vault = ?1 AND object = ?2 AND crypto = 1 AND time_ms BETWEEN ?3 AND ?4 {order} ?5");
            let mut s = c.prepare_cached(&sql).map_err(err)?;
            let r = s
                .query_map(params![vault, key, from, to, limit], row)
                .map_err(err)?;
            r.collect::<Result<Vec<_>, _>>()
        }
        Query::Identity(identity) => {
            let sql = format!("SELECT {COLUMNS} FROM ops WHERE identity = ?1 AND time_ms BETWEEN ?2 AND ?3 {order} ?4");
            let mut s = c.prepare_cached(&sql).map_err(err)?;
            let r = s
                .query_map(params![identity, from, to, limit], row)
                .map_err(err)?;
            r.collect::<Result<Vec<_>, _>>()
        }
    };
    rows.map_err(err)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("sqlite task failed: {e}")))?
}

#[async_trait::async_trait]
impl ContextStore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn write(&self, ops: &[KvOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let newest = ops.iter().map(|o| o.time_ms).max().unwrap_or(i64::MIN);
        self.newest_ms.fetch_max(newest, Ordering::Relaxed);
        let maintain_now = self
            .writes
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(MAINTAIN_EVERY);
        let (writer, ops) = (self.writer.clone(), ops.to_vec());
        let (newest_ms, retention, max_bytes) =
            (self.newest_ms.clone(), self.retention_ms, self.max_bytes);
        blocking(move || {
            let mut c = writer.lock().unwrap_or_else(|e| e.into_inner());
            write_all(&mut c, &ops)?;
            if maintain_now {
                maintain(
                    &c,
                    newest_ms.load(Ordering::Relaxed),
                    retention,
                    max_bytes,
                    true,
                )?;
            } else {
                // The size bound is checked at every write (three pragmas), retention less often.
                maintain(&c, i64::MIN, retention, max_bytes, false)?;
            }
            Ok(())
        })
        .await
    }

    async fn schedule(&self, followups: &[FollowUp]) -> Result<(), StoreError> {
        if followups.is_empty() {
            return Ok(());
        }
        let (writer, followups) = (self.writer.clone(), followups.to_vec());
        blocking(move || {
            let mut c = writer.lock().unwrap_or_else(|e| e.into_inner());
            let tx = c.transaction().map_err(err)?;
            for f in &followups {
                tx.execute(
                    "INSERT OR IGNORE INTO followups (alert_id, due_ms, alert) VALUES (?1, ?2, ?3)",
                    params![f.alert_id, f.due_ms, f.alert],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)
        })
        .await
    }

    async fn due(&self, until_ms: i64, limit: usize) -> Result<Vec<FollowUp>, StoreError> {
        let reader = self.reader.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        blocking(move || {
            let c = reader.lock().unwrap_or_else(|e| e.into_inner());
            let mut s = c
                .prepare_cached("SELECT alert_id, due_ms, alert FROM followups WHERE due_ms <= ?1 ORDER BY due_ms, alert_id LIMIT ?2")
                .map_err(err)?;
            let rows = s
                .query_map(params![until_ms, limit], |r| {
                    Ok(FollowUp {
                        alert_id: r.get(0)?,
                        due_ms: r.get(1)?,
                        alert: r.get(2)?,
                    })
                })
                .map_err(err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(err)
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let reader = self.reader.clone();
        blocking(move || {
            let c = reader.lock().unwrap_or_else(|e| e.into_inner());
            c.query_row("SELECT MIN(due_ms) FROM followups", [], |r| r.get(0))
                .map_err(err)
        })
        .await
    }

    async fn complete(&self, alert_id: &str) -> Result<(), StoreError> {
        let (writer, id) = (self.writer.clone(), alert_id.to_string());
        blocking(move || {
            let c = writer.lock().unwrap_or_else(|e| e.into_inner());
            c.execute("DELETE FROM followups WHERE alert_id = ?1", params![id])
                .map(|_| ())
                .map_err(err)
        })
        .await
    }

    async fn query(
        &self,
        q: &Query,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<KvOp>, StoreError> {
        let (reader, q) = (self.reader.clone(), q.clone());
        blocking(move || {
            let c = reader.lock().unwrap_or_else(|e| e.into_inner());
            query(&c, &q, from_ms, to_ms, limit)
        })
        .await
    }
}
