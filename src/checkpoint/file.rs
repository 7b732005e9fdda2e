//! A [`CheckpointStore`] kept in a local directory, for a single replica.
//!
//! # Layout
//!
//! ```text
//! ROOT/{namespace}/{event hub}/{consumer group}/ownership/{partition}.json
//! ROOT/{namespace}/{event hub}/{consumer group}/checkpoint/{partition}.json
//! ```
//!
//! Namespace, event hub and consumer group are lower-cased (as in the blob
//! layout) and every path component is escaped: bytes other than ASCII
//! letters, digits, `-`, `_` and a non-leading `.` become `%XX`, so
//! `$Default` is stored as `%24default`. Names that start with `.` are never
//! produced by the escaping; they are reserved for temporary files.
//!
//! # Durability
//!
//! Each record is written to a temporary file `.tmp.*` in the same directory,
//! fsynced, renamed over the record, and then the directory is fsynced. A
//! reader sees the old record or the new one, never a mix, even after
//! `kill -9` or a power cut. Temporary files left behind by a crash are
//! ignored by the `list_*` calls and removed by [`FileCheckpointStore::open`].
//!
//! # Concurrency
//!
//! Claims are compare-and-swap on the stored ETag under a lock held by the
//! store, so concurrent claims *within one process* (including several
//! `EventProcessor`s sharing the store) are decided correctly. Two processes
//! must not share a directory: use [`BlobCheckpointStore`] for several
//! replicas.
//!
//! [`BlobCheckpointStore`]: super::BlobCheckpointStore

use super::check_fields;
use azure_core::{
    error::{Error, ErrorKind},
    http::Etag,
    time::OffsetDateTime,
    Result, Uuid,
};
use azure_messaging_eventhubs::{
    models::{Checkpoint, Ownership},
    CheckpointStore,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};
use time::format_description::well_known::Rfc3339;
use tracing::{debug, warn};

const RECORD_VERSION: u32 = 1;
const TMP_PREFIX: &str = ".tmp.";

/// A checkpoint store in a local directory. Cheap to clone; clones share the
/// claim lock.
#[derive(Clone, Debug)]
pub struct FileCheckpointStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// Serialises read-modify-write of ownership records.
    claim_lock: Mutex<()>,
    tmp_counter: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct OwnershipRecord {
    version: u32,
    fully_qualified_namespace: String,
    event_hub_name: String,
    consumer_group: String,
    partition_id: String,
    owner_id: Option<String>,
    etag: String,
    last_modified_time: String,
}

#[derive(Serialize, Deserialize)]
struct CheckpointRecord {
    version: u32,
    fully_qualified_namespace: String,
    event_hub_name: String,
    consumer_group: String,
    partition_id: String,
    offset: Option<String>,
    sequence_number: Option<i64>,
    last_modified_time: String,
}

#[derive(Clone, Copy)]
enum Kind {
    Ownership,
    Checkpoint,
}

impl Kind {
    fn dir_name(self) -> &'static str {
        match self {
            Kind::Ownership => "ownership",
            Kind::Checkpoint => "checkpoint",
        }
    }
}

impl FileCheckpointStore {
    /// Opens (creating it if needed) a store rooted at `root`, and removes
    /// temporary files that an interrupted write left behind.
    ///
    /// This does blocking file I/O; call it at start-up (or through
    /// `spawn_blocking`). Do not open a directory that another live process
    /// is writing to: the clean-up could remove its in-flight temporary file.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        create_dir_durable(&root)?;
        remove_stale_temp_files(&root);
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                claim_lock: Mutex::new(()),
                tmp_counter: AtomicU64::new(0),
            }),
        })
    }

    /// The directory this store keeps its state in.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| {
                Error::with_error(
                    ErrorKind::Other,
                    e,
                    "file checkpoint store: I/O task failed",
                )
            })?
    }
}

impl Inner {
    fn group_dir(
        &self,
        namespace: &str,
        event_hub: &str,
        consumer_group: &str,
        kind: Kind,
    ) -> PathBuf {
        self.root
            .join(escape(&namespace.to_lowercase()))
            .join(escape(&event_hub.to_lowercase()))
            .join(escape(&consumer_group.to_lowercase()))
            .join(kind.dir_name())
    }

    fn claim_one(&self, ownership: &Ownership) -> Result<Option<Ownership>> {
        check_fields(
            &ownership.fully_qualified_namespace,
            &ownership.event_hub_name,
            &ownership.consumer_group,
            Some(&ownership.partition_id),
        )?;
        let dir = self.group_dir(
            &ownership.fully_qualified_namespace,
            &ownership.event_hub_name,
            &ownership.consumer_group,
            Kind::Ownership,
        );
        let file_name = record_file_name(&ownership.partition_id);
        let path = dir.join(&file_name);

        let _guard = self
            .claim_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current: Option<OwnershipRecord> = read_record(&path)?;
        let presented = ownership.etag.as_ref().map(|e| e.as_ref());
        let wins = match (&current, presented) {
            (None, None) => true,
            (Some(stored), Some(presented)) => stored.etag == presented,
            _ => false,
        };
        if !wins {
            debug!(
                partition_id = %ownership.partition_id,
                "file checkpoint store: ownership claim lost (etag no longer current)"
            );
            return Ok(None);
        }

        let now = OffsetDateTime::now_utc();
        let etag = Uuid::new_v4().to_string();
        let record = OwnershipRecord {
            version: RECORD_VERSION,
            fully_qualified_namespace: ownership.fully_qualified_namespace.clone(),
            event_hub_name: ownership.event_hub_name.clone(),
            consumer_group: ownership.consumer_group.clone(),
            partition_id: ownership.partition_id.clone(),
            owner_id: ownership.owner_id.clone(),
            etag: etag.clone(),
            last_modified_time: format_time(now)?,
        };
        self.write_record(&dir, &file_name, &record)?;
        Ok(Some(Ownership {
            etag: Some(Etag::from(etag)),
            last_modified_time: Some(now),
            ..ownership.clone()
        }))
    }

    fn write_record<T: Serialize>(&self, dir: &Path, file_name: &str, record: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| {
            Error::with_error(
                ErrorKind::DataConversion,
                e,
                "file checkpoint store: cannot serialise record",
            )
        })?;
        create_dir_durable(dir)?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            "{TMP_PREFIX}{file_name}.{}.{n}",
            std::process::id()
        ));
        let target = dir.join(file_name);
        crate::durable::replace(&target, &tmp, &bytes)
            .map_err(|e| io_error(e, "write record", &target))
    }

    fn list<T: DeserializeOwned>(&self, dir: &Path) -> Result<Vec<T>> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(e, "list", dir)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(e, "list", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            if let Some(record) = read_record(&entry.path())? {
                records.push(record);
            }
        }
        Ok(records)
    }
}

#[async_trait::async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn claim_ownership(&self, ownerships: &[Ownership]) -> Result<Vec<Ownership>> {
        let ownerships = ownerships.to_vec();
        self.blocking(move |inner| {
            let mut claimed = Vec::with_capacity(ownerships.len());
            for ownership in &ownerships {
                if let Some(won) = inner.claim_one(ownership)? {
                    claimed.push(won);
                }
            }
            Ok(claimed)
        })
        .await
    }

    async fn list_checkpoints(
        &self,
        namespace: &str,
        event_hub_name: &str,
        consumer_group: &str,
    ) -> Result<Vec<Checkpoint>> {
        check_fields(namespace, event_hub_name, consumer_group, None)?;
        let (namespace, event_hub_name, consumer_group) = (
            namespace.to_string(),
            event_hub_name.to_string(),
            consumer_group.to_string(),
        );
        self.blocking(move |inner| {
            let dir = inner.group_dir(
                &namespace,
                &event_hub_name,
                &consumer_group,
                Kind::Checkpoint,
            );
            let mut checkpoints: Vec<Checkpoint> = inner
                .list::<CheckpointRecord>(&dir)?
                .into_iter()
                .map(|r| Checkpoint {
                    fully_qualified_namespace: namespace.clone(),
                    event_hub_name: event_hub_name.clone(),
                    consumer_group: consumer_group.clone(),
                    partition_id: r.partition_id,
                    offset: r.offset,
                    sequence_number: r.sequence_number,
                })
                .collect();
            checkpoints.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
            Ok(checkpoints)
        })
        .await
    }

    async fn list_ownerships(
        &self,
        namespace: &str,
        event_hub_name: &str,
        consumer_group: &str,
    ) -> Result<Vec<Ownership>> {
        check_fields(namespace, event_hub_name, consumer_group, None)?;
        let (namespace, event_hub_name, consumer_group) = (
            namespace.to_string(),
            event_hub_name.to_string(),
            consumer_group.to_string(),
        );
        self.blocking(move |inner| {
            let dir = inner.group_dir(
                &namespace,
                &event_hub_name,
                &consumer_group,
                Kind::Ownership,
            );
            let mut ownerships = Vec::new();
            for r in inner.list::<OwnershipRecord>(&dir)? {
                ownerships.push(Ownership {
                    fully_qualified_namespace: namespace.clone(),
                    event_hub_name: event_hub_name.clone(),
                    consumer_group: consumer_group.clone(),
                    partition_id: r.partition_id,
                    owner_id: r.owner_id.filter(|o| !o.is_empty()),
                    etag: Some(Etag::from(r.etag)),
                    last_modified_time: Some(parse_time(&r.last_modified_time, &dir)?),
                });
            }
            ownerships.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
            Ok(ownerships)
        })
        .await
    }

    async fn update_checkpoint(&self, checkpoint: Checkpoint) -> Result<()> {
        check_fields(
            &checkpoint.fully_qualified_namespace,
            &checkpoint.event_hub_name,
            &checkpoint.consumer_group,
            Some(&checkpoint.partition_id),
        )?;
        self.blocking(move |inner| {
            let dir = inner.group_dir(
                &checkpoint.fully_qualified_namespace,
                &checkpoint.event_hub_name,
                &checkpoint.consumer_group,
                Kind::Checkpoint,
            );
            let record = CheckpointRecord {
                version: RECORD_VERSION,
                fully_qualified_namespace: checkpoint.fully_qualified_namespace,
                event_hub_name: checkpoint.event_hub_name,
                consumer_group: checkpoint.consumer_group,
                last_modified_time: format_time(OffsetDateTime::now_utc())?,
                offset: checkpoint.offset,
                sequence_number: checkpoint.sequence_number,
                partition_id: checkpoint.partition_id,
            };
            let file_name = record_file_name(&record.partition_id);
            inner.write_record(&dir, &file_name, &record)
        })
        .await
    }
}

/// Escapes one path component (see the module documentation).
fn escape(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for (i, b) in component.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn record_file_name(partition_id: &str) -> String {
    format!("{}.json", escape(partition_id))
}

fn io_error(e: io::Error, action: &str, path: &Path) -> Error {
    let message = format!(
        "file checkpoint store: cannot {action} {}: {e}",
        path.display()
    );
    Error::with_error(ErrorKind::Io, e, message)
}

fn read_record<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e, "read", path)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        let message = format!(
            "file checkpoint store: {} is not a valid record ({e}); fix or delete it",
            path.display()
        );
        Error::with_error(ErrorKind::DataConversion, e, message)
    })
}

fn format_time(t: OffsetDateTime) -> Result<String> {
    t.format(&Rfc3339).map_err(|e| {
        Error::with_error(
            ErrorKind::DataConversion,
            e,
            "file checkpoint store: cannot format time",
        )
    })
}

fn parse_time(s: &str, dir: &Path) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
        let message = format!(
            "file checkpoint store: bad last_modified_time {s:?} in {}",
            dir.display()
        );
        Error::with_error(ErrorKind::DataConversion, e, message)
    })
}

fn sync_dir(dir: &Path) -> Result<()> {
    crate::durable::sync_dir(dir).map_err(|e| io_error(e, "fsync directory", dir))
}

/// Creates `dir` and any missing parents, fsyncing each parent after a child
/// was created so that the new entries are durable too.
fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_durable(parent)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(io_error(e, "create directory", dir)),
    }
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// Best-effort removal of `.tmp.*` files under `root` (left by a crash
/// between creating a temporary file and renaming it).
fn remove_stale_temp_files(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                stack.push(path);
            } else if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TMP_PREFIX))
            {
                match fs::remove_file(&path) {
                    Ok(()) => debug!(path = %path.display(), "removed stale temporary file"),
                    Err(e) => {
                        warn!(path = %path.display(), error = %e, "cannot remove stale temporary file")
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escaping_keeps_names_safe() {
        assert_eq!(escape("$default"), "%24default");
        assert_eq!(
            escape("ns.servicebus.windows.net"),
            "ns.servicebus.windows.net"
        );
        assert_eq!(escape(".."), "%2E.");
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(escape("0"), "0");
    }
}
