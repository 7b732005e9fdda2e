//! Durable checkpoint stores for the Event Hubs [`EventProcessor`].
//!
//! `azure_messaging_eventhubs` 0.16 ships only an in-memory
//! [`CheckpointStore`]; its blob-backed companion crate does not build with
//! SDK 0.16, so hubwatch writes its own (over `crate::azure::blob`). This module
//! provides two implementations of the SDK trait:
//!
//! * [`FileCheckpointStore`]: state in a local directory, for a single
//!   replica. Every record is one JSON file written atomically (temp file,
//!   fsync, rename, fsync of the directory), so it survives `kill -9` and a
//!   power cut.
//! * [`BlobCheckpointStore`]: Azure Blob Storage (or Azurite) through a few
//!   hand-written REST calls, with the same blob layout and metadata names
//!   as the .NET, Java, Python and JavaScript Event Hubs SDKs, so that a
//!   consumer group can move between those processors and this one.
//!
//! Both stores implement the ownership contract the SDK's load balancer
//! relies on: a claim carries the ETag the claimant last saw (or none for a
//! partition nobody has owned yet); it wins only if that ETag is still
//! current, and then gets a fresh ETag and `last_modified_time`. A claim that
//! loses the race is simply absent from the returned list; it is not an
//! error. Ownership expiry is decided by the SDK from `last_modified_time`.
//!
//! [`EventProcessor`]: azure_messaging_eventhubs::EventProcessor
//! [`CheckpointStore`]: azure_messaging_eventhubs::CheckpointStore

mod blob;
pub mod config;
mod file;
pub mod keda;

pub use crate::azure::blob::BlobAuth;
pub use blob::{BlobCheckpointStore, BlobCheckpointStoreOptions};
pub use file::FileCheckpointStore;

/// Blob name prefix for the ownership records of one consumer group,
/// `{namespace}/{event hub}/{consumer group}/ownership/`, lower-cased the way
/// the .NET, Java, Python and JavaScript SDKs do it.
pub fn ownership_prefix(namespace: &str, event_hub: &str, consumer_group: &str) -> String {
    format!(
        "{}/{}/{}/ownership/",
        namespace.to_lowercase(),
        event_hub.to_lowercase(),
        consumer_group.to_lowercase()
    )
}

/// Blob name prefix for the checkpoints of one consumer group,
/// `{namespace}/{event hub}/{consumer group}/checkpoint/`, lower-cased.
pub fn checkpoint_prefix(namespace: &str, event_hub: &str, consumer_group: &str) -> String {
    format!(
        "{}/{}/{}/checkpoint/",
        namespace.to_lowercase(),
        event_hub.to_lowercase(),
        consumer_group.to_lowercase()
    )
}

/// Checks the identifying fields of an ownership or checkpoint.
pub(crate) fn check_fields(
    namespace: &str,
    event_hub: &str,
    consumer_group: &str,
    partition_id: Option<&str>,
) -> azure_core::Result<()> {
    use azure_core::error::{Error, ErrorKind};
    let mut missing = Vec::new();
    if namespace.is_empty() {
        missing.push("fully_qualified_namespace");
    }
    if event_hub.is_empty() {
        missing.push("event_hub_name");
    }
    if consumer_group.is_empty() {
        missing.push("consumer_group");
    }
    if partition_id.is_some_and(str::is_empty) {
        missing.push("partition_id");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::with_message(
            ErrorKind::Other,
            format!(
                "checkpoint store: required field(s) empty: {}",
                missing.join(", ")
            ),
        ))
    }
}
