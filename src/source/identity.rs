//! This replica's identity in partition ownership records, stable across restarts of the same
//! replica so that a restarted process takes back at once what its previous incarnation held
//! (instead of waiting `source.ownership_expiry_secs` for its own records to expire).
//!
//! The owner id is `{host}-{replica id}-{pid}-{random}`:
//!
//! * `host` is `HOSTNAME` (in Kubernetes the pod name, which a container restarted in place
//!   keeps), else `hubwatch`;
//! * `replica id` is a random id kept in `<state_dir>/replica-id/<slot>`, a file this process
//!   holds an exclusive lock on for its whole life. The first slot whose lock is free is taken,
//!   so two live processes sharing a state directory never share an id, while a process
//!   restarted after a crash (the kernel drops a dead process's locks) gets its predecessor's
//!   slot and id back. `emptyDir` volumes survive container restarts, so a pod keeps its id;
//! * `pid` and `random` tell incarnations apart in the records and the logs.
//!
//! `{host}-{replica id}` is the stable part: records carrying it with another incarnation's
//! suffix belong to a predecessor of this process, which is dead.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Lock slots tried in a state directory: at most this many live processes can share one and
/// still get stable ids (the rest get a fresh random id each start).
const SLOTS: usize = 64;

/// This process's owner identity; holds the slot lock until dropped.
#[derive(Debug)]
pub(crate) struct ReplicaIdentity {
    stable: String,
    owner_id: String,
    _lock: Option<File>,
}

impl ReplicaIdentity {
    /// Takes the first free slot under `state_dir`, or, when the directory cannot be used, a
    /// fresh random id (logged: restarts then wait for ownership to expire).
    pub(crate) fn acquire(state_dir: &Path) -> ReplicaIdentity {
        let host = host_name();
        let (replica, lock) = match take_slot(&state_dir.join("replica-id")) {
            Ok(Some((id, path, file))) => {
                tracing::info!(slot = %path.display(), "replica id kept in the state directory");
                (id, Some(file))
            }
            Ok(None) => {
                tracing::warn!(slots = SLOTS, "every replica id slot in the state directory is held by a live process; using a fresh id (a restart waits for ownership to expire)");
                (random_id(), None)
            }
            Err(e) => {
                tracing::warn!(dir = %state_dir.display(), error = %e, "cannot keep a replica id in the state directory; using a fresh id (a restart waits for ownership to expire)");
                (random_id(), None)
            }
        };
        Self::with_parts(&host, &replica, lock)
    }

    fn with_parts(host: &str, replica: &str, lock: Option<File>) -> ReplicaIdentity {
        let stable = format!("{host}-{replica}");
        let owner_id = format!(
            "{stable}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        ReplicaIdentity {
            stable,
            owner_id,
            _lock: lock,
        }
    }

    /// The owner id this process writes into ownership records.
    pub(crate) fn owner_id(&self) -> &str {
        &self.owner_id
    }

    /// True when `owner` is the owner id of an earlier incarnation of this replica (same host
    /// and replica id, another process): its partitions are ours to take back.
    pub(crate) fn is_predecessor(&self, owner: &str) -> bool {
        if owner == self.owner_id {
            return false;
        }
        let Some(rest) = owner
            .strip_prefix(self.stable.as_str())
            .and_then(|r| r.strip_prefix('-'))
        else {
            return false;
        };
        let mut parts = rest.split('-');
        matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(pid), Some(random), None)
                if !pid.is_empty()
                    && pid.bytes().all(|b| b.is_ascii_digit())
                    && random.len() == 8
                    && random.bytes().all(|b| b.is_ascii_hexdigit())
        )
    }
}

/// `HOSTNAME`, restricted to characters that are safe in blob metadata and log lines.
fn host_name() -> String {
    let host: String = std::env::var("HOSTNAME")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(63)
        .collect();
    if host.is_empty() {
        "hubwatch".into()
    } else {
        host
    }
}

fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn valid_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The first slot whose lock this process can take: its id (written if new), path and the
/// locked file. `None` when every slot is held.
fn take_slot(dir: &Path) -> std::io::Result<Option<(String, PathBuf, File)>> {
    std::fs::create_dir_all(dir)?;
    for n in 0..SLOTS {
        let path = dir.join(n.to_string());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let mut text = String::new();
        // An unreadable or damaged id is replaced: this replica then starts under a new one.
        let _ = file.read_to_string(&mut text);
        let text = text.trim();
        let id = if valid_id(text) {
            text.to_string()
        } else {
            let id = random_id();
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(id.as_bytes())?;
            file.sync_all()?;
            id
        };
        return Ok(Some((id, path, file)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_processes_never_share_an_id_and_a_successor_gets_its_predecessors() {
        let dir = tempfile::tempdir().unwrap();
        let a = ReplicaIdentity::acquire(dir.path());
        let b = ReplicaIdentity::acquire(dir.path());
        assert_ne!(a.stable, b.stable, "two holders of one state dir");
        assert!(!a.is_predecessor(b.owner_id()));
        let a_owner = a.owner_id().to_string();
        let a_stable = a.stable.clone();
        drop(a);
        let a2 = ReplicaIdentity::acquire(dir.path());
        assert_eq!(a2.stable, a_stable, "the freed slot keeps its id");
        assert_ne!(a2.owner_id(), a_owner);
        assert!(a2.is_predecessor(&a_owner));
        assert!(!a2.is_predecessor(a2.owner_id()));
        assert!(!a2.is_predecessor(b.owner_id()));
    }

    #[test]
    fn only_the_exact_shape_is_a_predecessor() {
        let id = ReplicaIdentity::with_parts("pod-0", "00000000000000ab", None);
        assert!(id.is_predecessor("pod-0-00000000000000ab-1-0123abcd"));
        assert!(!id.is_predecessor("pod-0-00000000000000ab-1-0123abcd-x"));
        assert!(!id.is_predecessor("pod-0-00000000000000ab-x-0123abcd"));
        assert!(!id.is_predecessor("pod-0-00000000000000abc-1-0123abcd"));
        assert!(!id.is_predecessor("pod-1-00000000000000ab-1-0123abcd"));
        assert!(!id.is_predecessor(""));
    }
}
