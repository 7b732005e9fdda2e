//! A [`CheckpointStore`] on Azure Blob Storage, through the Blob REST API.
//!
//! The official `azure_messaging_eventhubs_checkpointstore_blob` crate cannot be built
//! together with `azure_messaging_eventhubs` 0.16, so this module uses hubwatch's own Blob
//! REST client ([`crate::azure::blob`]).
//!
//! # Blob layout (compatible with the other Event Hubs SDKs)
//!
//! One zero-length block blob per record, in the configured container:
//!
//! ```text
//! {fully_qualified_namespace}/{event_hub}/{consumer_group}/ownership/{partition_id}
//!     metadata: ownerid=<processor id>
//! {fully_qualified_namespace}/{event_hub}/{consumer_group}/checkpoint/{partition_id}
//!     metadata: sequencenumber=<i64>, offset=<string>
//! ```
//!
//! Namespace, event hub and consumer group are lower-cased in blob names, as
//! the .NET (`Azure.Messaging.EventHubs.Processor`), Java, Python
//! (`azure-eventhub-checkpointstoreblob[-aio]`) and JavaScript checkpoint
//! stores do, so `$Default` becomes `$default`. (The Go `checkpoints.BlobStore`
//! and the Rust `azure_messaging_eventhubs_checkpointstore_blob` 0.9, which
//! targets SDK 0.15, keep the caller's case: with names that are already
//! lower case, all of them agree.) The
//! `list_*` calls return the namespace, event hub and consumer group as the
//! caller passed them, and the partition id from the blob name.
//!
//! Ownership is optimistic concurrency on the blob ETag: a first claim is a
//! Put Blob with `If-None-Match: *`, a renewal or steal a Set Blob Metadata
//! with `If-Match: <etag>`. `409`, `412` (and `404` for a renewal of a deleted
//! blob) mean another processor won; that partition is left out of the
//! result. The ETag and `Last-Modified` of the response become the new
//! `etag` and `last_modified_time`, from which the SDK computes expiry.
//!
//! # Authentication and HTTP
//!
//! The REST client, its [`BlobAuth`] schemes (Shared Key, SAS, Entra ID), retries and
//! redaction are in [`crate::azure::blob`], shared with the backfill. Keys, SAS tokens and
//! access tokens never appear in errors or logs.

use crate::azure::blob::BlobAuth;
/// Tuning for [`BlobCheckpointStore`]: the shared client's options.
pub use crate::azure::blob::BlobClientOptions as BlobCheckpointStoreOptions;

use super::{check_fields, checkpoint_prefix, ownership_prefix};
use crate::azure::blob::{normalize_etag, BlobContainer, ListedBlob};
use azure_core::{
    time::{parse_rfc7231, OffsetDateTime},
    Result,
};
use azure_messaging_eventhubs::{
    models::{Checkpoint, Ownership},
    CheckpointStore,
};
use reqwest::Method;
use std::{fmt, sync::Arc};
use tracing::{debug, warn};

const META_OWNER_ID: &str = "ownerid";
const META_SEQUENCE_NUMBER: &str = "sequencenumber";
const META_OFFSET: &str = "offset";

/// Checkpoint store on Azure Blob Storage. Cheap to clone.
#[derive(Clone)]
pub struct BlobCheckpointStore {
    inner: Arc<BlobContainer>,
}

impl fmt::Debug for BlobCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobCheckpointStore")
            .field("container", &self.inner)
            .finish_non_exhaustive()
    }
}

impl BlobCheckpointStore {
    /// Creates a store for the container at `container_url`, either path-style
    /// (`http://127.0.0.1:10000/devstoreaccount1/CONTAINER`, Azurite) or
    /// `https://ACCOUNT.blob.core.windows.net/CONTAINER`. A query string on
    /// the URL is taken as a SAS token.
    pub fn new(
        container_url: &str,
        auth: BlobAuth,
        options: BlobCheckpointStoreOptions,
    ) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(BlobContainer::new(container_url, auth, options)?),
        })
    }

    /// The container URL, without any query string.
    pub fn container_url(&self) -> &str {
        self.inner.container_url()
    }

    /// Creates the container if it does not exist (for development and
    /// tests; production containers are usually provisioned separately).
    pub async fn create_container_if_missing(&self) -> Result<()> {
        if self.inner.create_if_missing().await? {
            debug!(container = %self.inner.container_url(), "created checkpoint container");
        }
        Ok(())
    }

    /// Checks that the container can be listed (reachable, credentials accepted, container
    /// present): one `List Blobs` request for at most one blob.
    pub async fn check_reachable(&self) -> Result<()> {
        let resp = self
            .inner
            .send(
                Method::GET,
                None,
                &[
                    ("restype", "container"),
                    ("comp", "list"),
                    ("maxresults", "1"),
                ],
                Vec::new(),
                false,
            )
            .await?;
        match resp.status {
            200 => Ok(()),
            _ => Err(self.inner.status_error("list blobs", None, &resp)),
        }
    }

    async fn claim_one(&self, ownership: &Ownership) -> Result<Option<Ownership>> {
        check_fields(
            &ownership.fully_qualified_namespace,
            &ownership.event_hub_name,
            &ownership.consumer_group,
            Some(&ownership.partition_id),
        )?;
        let name = ownership_prefix(
            &ownership.fully_qualified_namespace,
            &ownership.event_hub_name,
            &ownership.consumer_group,
        ) + &ownership.partition_id;
        let owner = ownership.owner_id.clone().unwrap_or_default();
        let meta = ("x-ms-meta-ownerid".to_string(), owner);

        let resp = match &ownership.etag {
            None => {
                let headers = vec![
                    ("x-ms-blob-type".to_string(), "BlockBlob".to_string()),
                    ("if-none-match".to_string(), "*".to_string()),
                    meta,
                ];
                self.inner
                    .send(Method::PUT, Some(&name), &[], headers, true)
                    .await?
            }
            Some(etag) => {
                let headers = vec![
                    (
                        "if-match".to_string(),
                        normalize_etag(etag.as_ref()).to_string(),
                    ),
                    meta,
                ];
                self.inner
                    .send(
                        Method::PUT,
                        Some(&name),
                        &[("comp", "metadata")],
                        headers,
                        true,
                    )
                    .await?
            }
        };
        match resp.status {
            200 | 201 => {
                let etag = resp.etag().ok_or_else(|| {
                    self.inner.status_error(
                        "claim ownership (no ETag in response)",
                        Some(&name),
                        &resp,
                    )
                })?;
                Ok(Some(Ownership {
                    etag: Some(etag),
                    last_modified_time: Some(
                        resp.last_modified().unwrap_or_else(OffsetDateTime::now_utc),
                    ),
                    ..ownership.clone()
                }))
            }
            404 | 409 | 412 => {
                debug!(
                    partition_id = %ownership.partition_id,
                    status = resp.status,
                    "ownership claim lost to another processor"
                );
                Ok(None)
            }
            _ => Err(self
                .inner
                .status_error("claim ownership", Some(&name), &resp)),
        }
    }
}

#[async_trait::async_trait]
impl CheckpointStore for BlobCheckpointStore {
    async fn claim_ownership(&self, ownerships: &[Ownership]) -> Result<Vec<Ownership>> {
        let results = futures::future::join_all(ownerships.iter().map(|o| self.claim_one(o))).await;
        let mut claimed = Vec::new();
        let mut first_error = None;
        for (ownership, result) in ownerships.iter().zip(results) {
            match result {
                Ok(Some(won)) => claimed.push(won),
                Ok(None) => {}
                Err(e) => {
                    warn!(
                        partition_id = %ownership.partition_id,
                        error = %e,
                        "claiming ownership failed"
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            // Every claim failed with an error: report it. If some claims
            // succeeded, return those (the failed ones are retried on the
            // next load-balancing cycle).
            Some(e) if claimed.is_empty() => Err(e),
            _ => Ok(claimed),
        }
    }

    async fn list_checkpoints(
        &self,
        namespace: &str,
        event_hub_name: &str,
        consumer_group: &str,
    ) -> Result<Vec<Checkpoint>> {
        check_fields(namespace, event_hub_name, consumer_group, None)?;
        let prefix = checkpoint_prefix(namespace, event_hub_name, consumer_group);
        let mut checkpoints = Vec::new();
        for blob in self.list_blobs(&prefix).await? {
            let Some(partition_id) = partition_from_name(&blob.name, &prefix) else {
                continue;
            };
            let sequence_number = match blob.meta(META_SEQUENCE_NUMBER) {
                Some(s) if !s.is_empty() => match s.trim().parse::<i64>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        warn!(blob = %blob.name, value = %s, "ignoring unparsable sequencenumber");
                        None
                    }
                },
                _ => None,
            };
            let offset = blob
                .meta(META_OFFSET)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            checkpoints.push(Checkpoint {
                fully_qualified_namespace: namespace.to_string(),
                event_hub_name: event_hub_name.to_string(),
                consumer_group: consumer_group.to_string(),
                partition_id,
                offset,
                sequence_number,
            });
        }
        checkpoints.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
        Ok(checkpoints)
    }

    async fn list_ownerships(
        &self,
        namespace: &str,
        event_hub_name: &str,
        consumer_group: &str,
    ) -> Result<Vec<Ownership>> {
        check_fields(namespace, event_hub_name, consumer_group, None)?;
        let prefix = ownership_prefix(namespace, event_hub_name, consumer_group);
        let mut ownerships = Vec::new();
        for blob in self.list_blobs(&prefix).await? {
            let Some(partition_id) = partition_from_name(&blob.name, &prefix) else {
                continue;
            };
            ownerships.push(Ownership {
                fully_qualified_namespace: namespace.to_string(),
                event_hub_name: event_hub_name.to_string(),
                consumer_group: consumer_group.to_string(),
                partition_id,
                owner_id: blob
                    .meta(META_OWNER_ID)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                etag: blob.etag.as_deref().map(normalize_etag),
                last_modified_time: blob
                    .last_modified
                    .as_deref()
                    .and_then(|s| parse_rfc7231(s).ok()),
            });
        }
        ownerships.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
        Ok(ownerships)
    }

    async fn update_checkpoint(&self, checkpoint: Checkpoint) -> Result<()> {
        check_fields(
            &checkpoint.fully_qualified_namespace,
            &checkpoint.event_hub_name,
            &checkpoint.consumer_group,
            Some(&checkpoint.partition_id),
        )?;
        let name = checkpoint_prefix(
            &checkpoint.fully_qualified_namespace,
            &checkpoint.event_hub_name,
            &checkpoint.consumer_group,
        ) + &checkpoint.partition_id;
        let mut meta = Vec::new();
        if let Some(seq) = checkpoint.sequence_number {
            meta.push((format!("x-ms-meta-{META_SEQUENCE_NUMBER}"), seq.to_string()));
        }
        if let Some(offset) = &checkpoint.offset {
            meta.push((format!("x-ms-meta-{META_OFFSET}"), offset.clone()));
        }

        // Like the other SDKs: set metadata on the existing blob, and create
        // the blob when it does not exist yet.
        let resp = self
            .inner
            .send(
                Method::PUT,
                Some(&name),
                &[("comp", "metadata")],
                meta.clone(),
                true,
            )
            .await?;
        match resp.status {
            200 => return Ok(()),
            404 => {}
            _ => {
                return Err(self
                    .inner
                    .status_error("update checkpoint", Some(&name), &resp))
            }
        }
        let mut headers = vec![("x-ms-blob-type".to_string(), "BlockBlob".to_string())];
        headers.extend(meta);
        let resp = self
            .inner
            .send(Method::PUT, Some(&name), &[], headers, true)
            .await?;
        match resp.status {
            200 | 201 => Ok(()),
            _ => Err(self
                .inner
                .status_error("create checkpoint", Some(&name), &resp)),
        }
    }
}

impl BlobCheckpointStore {
    /// Every blob under `prefix`, with its metadata.
    async fn list_blobs(&self, prefix: &str) -> Result<Vec<ListedBlob>> {
        Ok(self.inner.list_all(prefix, None, true).await?.blobs)
    }
}

fn partition_from_name(name: &str, prefix: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_in_debug_or_errors() {
        let store = BlobCheckpointStore::new(
            "https://acct.blob.core.windows.net/c?sv=2022&sig=SECRETSIG",
            BlobAuth::Anonymous,
            BlobCheckpointStoreOptions::default(),
        )
        .unwrap();
        let dbg = format!("{store:?}");
        assert!(!dbg.contains("SECRETSIG"), "{dbg}");
        assert_eq!(
            store.container_url(),
            "https://acct.blob.core.windows.net/c"
        );
        let auth = BlobAuth::shared_key("acct", "S2VZ");
        assert!(!format!("{auth:?}").contains("S2VZ"));
        let err = BlobCheckpointStore::new(
            "https://acct.blob.core.windows.net/c",
            BlobAuth::shared_key("acct", "not base64 !!SECRET"),
            BlobCheckpointStoreOptions::default(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
    }
}
