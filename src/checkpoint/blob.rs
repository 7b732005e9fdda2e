//! A [`CheckpointStore`] on Azure Blob Storage, through the Blob REST API.
//!
//! The official `azure_storage_blob` and `azure_messaging_eventhubs_checkpointstore_blob`
//! crates cannot be built together with `azure_messaging_eventhubs` 0.16, so
//! this module issues the handful of REST calls it needs with `reqwest`.
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
//! # Authentication
//!
//! See [`BlobAuth`]: Shared Key (account key), SAS token, or an Entra ID
//! [`TokenCredential`] (scope `https://storage.azure.com/.default`). Keys,
//! SAS tokens and access tokens never appear in errors or logs; URLs in
//! messages have their query string removed.

use super::{check_fields, checkpoint_prefix, ownership_prefix};
use azure_core::{
    credentials::{Secret, TokenCredential},
    error::{Error, ErrorKind},
    http::{Etag, StatusCode},
    time::{parse_rfc7231, to_rfc7231, OffsetDateTime},
    Result,
};
use azure_messaging_eventhubs::{
    models::{Checkpoint, Ownership},
    CheckpointStore,
};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use hmac::{Hmac, Mac};
use reqwest::{Method, Url};
use serde::Deserialize;
use sha2::Sha256;
use std::{collections::HashMap, fmt, sync::Arc, time::Duration};
use tokio::sync::Mutex;
use tracing::{debug, warn};

/// Entra ID scope for Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
/// Default `x-ms-version` sent with every request.
pub const DEFAULT_API_VERSION: &str = "2021-12-02";

const META_OWNER_ID: &str = "ownerid";
const META_SEQUENCE_NUMBER: &str = "sequencenumber";
const META_OFFSET: &str = "offset";

/// How the store authenticates to Blob Storage.
#[derive(Clone)]
pub enum BlobAuth {
    /// Shared Key: storage account name and base64 account key. Requests are
    /// signed per the Blob service "Shared Key" scheme.
    SharedKey {
        /// Storage account name (`devstoreaccount1` for Azurite).
        account: String,
        /// Base64 account key.
        key: Secret,
    },
    /// A SAS token (with or without the leading `?`), appended to every
    /// request URL. Needs at least read, write, create and list permissions
    /// on the container (plus create for the container itself when
    /// [`BlobCheckpointStore::create_container_if_missing`] is used).
    Sas(Secret),
    /// An Entra ID credential (managed identity, workload identity, ...); the
    /// identity needs the "Storage Blob Data Contributor" role on the
    /// container.
    Token(Arc<dyn TokenCredential>),
    /// No `Authorization` header. A SAS in the container URL's query string
    /// is still used.
    Anonymous,
}

impl BlobAuth {
    /// Shared Key from an account name and a base64 account key.
    pub fn shared_key(account: impl Into<String>, key: impl Into<String>) -> Self {
        BlobAuth::SharedKey {
            account: account.into(),
            key: Secret::new(key.into()),
        }
    }

    /// SAS token.
    pub fn sas(token: impl Into<String>) -> Self {
        BlobAuth::Sas(Secret::new(token.into()))
    }

    /// Entra ID token credential.
    pub fn token(credential: Arc<dyn TokenCredential>) -> Self {
        BlobAuth::Token(credential)
    }
}

impl fmt::Debug for BlobAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobAuth::SharedKey { account, .. } => f
                .debug_struct("SharedKey")
                .field("account", account)
                .field("key", &"<redacted>")
                .finish(),
            BlobAuth::Sas(_) => f.write_str("Sas(<redacted>)"),
            BlobAuth::Token(_) => f.write_str("Token(<credential>)"),
            BlobAuth::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// Tuning for [`BlobCheckpointStore`].
#[derive(Clone, Debug)]
pub struct BlobCheckpointStoreOptions {
    /// Bound on one HTTP request, including reading the response body.
    pub request_timeout: Duration,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt for transient failures (connection
    /// errors, timeouts, 408, 429, 5xx).
    pub max_retries: u32,
    /// First backoff delay; doubled on each retry, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound on one backoff delay (also caps `Retry-After`).
    pub max_backoff: Duration,
    /// `x-ms-version` header.
    pub api_version: String,
    /// `maxresults` for List Blobs (`None`: the service default, 5000).
    pub list_page_size: Option<u32>,
}

impl Default for BlobCheckpointStoreOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            api_version: DEFAULT_API_VERSION.to_string(),
            list_page_size: None,
        }
    }
}

enum Auth {
    SharedKey {
        account: String,
        key: Vec<u8>,
    },
    Token {
        credential: Arc<dyn TokenCredential>,
        cached: Mutex<Option<(Secret, OffsetDateTime)>>,
    },
    None,
}

/// Checkpoint store on Azure Blob Storage. Cheap to clone.
#[derive(Clone)]
pub struct BlobCheckpointStore {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Container URL without query string or trailing slash.
    container: Url,
    /// SAS query string without `?`, if any.
    sas: Option<Secret>,
    auth: Auth,
    options: BlobCheckpointStoreOptions,
}

impl fmt::Debug for BlobCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobCheckpointStore")
            .field("container", &self.inner.container.as_str())
            .field("sas", &self.inner.sas.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

struct BlobResponse {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

impl BlobResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn etag(&self) -> Option<Etag> {
        self.header("etag").map(normalize_etag)
    }

    fn last_modified(&self) -> Option<OffsetDateTime> {
        self.header("last-modified")
            .and_then(|v| parse_rfc7231(v).ok())
    }
}

fn config_error(message: impl Into<String>) -> Error {
    Error::with_message(
        ErrorKind::Other,
        format!("blob checkpoint store: {}", message.into()),
    )
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
        let mut container = Url::parse(container_url)
            .map_err(|e| config_error(format!("invalid container URL: {e}")))?;
        if !matches!(container.scheme(), "http" | "https") {
            return Err(config_error("container URL must be http or https"));
        }
        let url_sas = container
            .query()
            .filter(|q| !q.is_empty())
            .map(|q| Secret::new(q.to_string()));
        container.set_query(None);
        container.set_fragment(None);
        let path = container.path().trim_end_matches('/').to_string();
        if path.is_empty() {
            return Err(config_error(format!(
                "container URL {} has no container name",
                redact_url(&container)
            )));
        }
        container.set_path(&path);

        let (auth, sas) = match auth {
            BlobAuth::SharedKey { account, key } => {
                if url_sas.is_some() {
                    return Err(config_error(
                        "container URL has a query string (SAS) and Shared Key auth was also given",
                    ));
                }
                let key = BASE64
                    .decode(key.secret().trim())
                    .map_err(|_| config_error("account key is not valid base64"))?;
                if account.is_empty() {
                    return Err(config_error("account name is empty"));
                }
                (Auth::SharedKey { account, key }, None)
            }
            BlobAuth::Sas(token) => {
                if url_sas.is_some() {
                    return Err(config_error(
                        "a SAS token was given both in the container URL and as BlobAuth::Sas",
                    ));
                }
                let t = token.secret().trim().trim_start_matches('?').to_string();
                if t.is_empty() {
                    return Err(config_error("SAS token is empty"));
                }
                (Auth::None, Some(Secret::new(t)))
            }
            BlobAuth::Token(credential) => (
                Auth::Token {
                    credential,
                    cached: Mutex::new(None),
                },
                url_sas,
            ),
            BlobAuth::Anonymous => (Auth::None, url_sas),
        };

        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| {
                Error::with_error(
                    ErrorKind::Other,
                    e.without_url(),
                    "blob checkpoint store: cannot build HTTP client",
                )
            })?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                container,
                sas,
                auth,
                options,
            }),
        })
    }

    /// The container URL, without any query string.
    pub fn container_url(&self) -> &str {
        self.inner.container.as_str()
    }

    /// Creates the container if it does not exist (for development and
    /// tests; production containers are usually provisioned separately).
    pub async fn create_container_if_missing(&self) -> Result<()> {
        let resp = self
            .inner
            .send(
                Method::PUT,
                None,
                &[("restype", "container")],
                Vec::new(),
                true,
            )
            .await?;
        match resp.status {
            201 => {
                debug!(container = %self.inner.container, "created checkpoint container");
                Ok(())
            }
            409 => Ok(()),
            _ => Err(self.inner.status_error("create container", None, &resp)),
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

    /// Lists blobs under `prefix` with their metadata, following
    /// continuation markers.
    async fn list_blobs(&self, prefix: &str) -> Result<Vec<ListedBlob>> {
        let mut blobs = Vec::new();
        let mut marker: Option<String> = None;
        let page_size = self.inner.options.list_page_size.map(|n| n.to_string());
        loop {
            let mut query = vec![
                ("restype", "container"),
                ("comp", "list"),
                ("prefix", prefix),
                ("include", "metadata"),
            ];
            if let Some(n) = page_size.as_deref() {
                query.push(("maxresults", n));
            }
            if let Some(m) = marker.as_deref() {
                query.push(("marker", m));
            }
            let resp = self
                .inner
                .send(Method::GET, None, &query, Vec::new(), false)
                .await?;
            if resp.status != 200 {
                return Err(self.inner.status_error("list blobs", None, &resp));
            }
            let page = parse_list_blobs(&resp.body)?;
            blobs.extend(page.blobs);
            match page.next_marker {
                Some(m) if !m.is_empty() => marker = Some(m),
                _ => break,
            }
        }
        Ok(blobs)
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

impl Inner {
    fn url(&self, blob: Option<&str>, query: &[(&str, &str)]) -> Url {
        let mut url = self.container.clone();
        if let Some(blob) = blob {
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.extend(blob.split('/'));
            }
        }
        let mut q = String::new();
        if !query.is_empty() {
            q = reqwest::Url::parse("http://x/")
                .map(|mut u| {
                    u.query_pairs_mut().extend_pairs(query.iter().copied());
                    u.query().unwrap_or_default().to_string()
                })
                .unwrap_or_default();
        }
        if let Some(sas) = &self.sas {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(sas.secret());
        }
        if !q.is_empty() {
            url.set_query(Some(&q));
        }
        url
    }

    async fn authorization(
        &self,
        method: &Method,
        url: &Url,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        content_length: Option<usize>,
    ) -> Result<Option<String>> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::SharedKey { account, key } => {
                let to_sign =
                    shared_key_string_to_sign(method, account, url, query, headers, content_length);
                let mut mac = Hmac::<Sha256>::new_from_slice(key)
                    .map_err(|_| config_error("invalid account key"))?;
                mac.update(to_sign.as_bytes());
                let signature = BASE64.encode(mac.finalize().into_bytes());
                Ok(Some(format!("SharedKey {account}:{signature}")))
            }
            Auth::Token { credential, cached } => {
                let mut cached = cached.lock().await;
                let fresh_enough = |expires: &OffsetDateTime| {
                    *expires - OffsetDateTime::now_utc() > time::Duration::minutes(5)
                };
                if let Some((token, expires)) = cached.as_ref() {
                    if fresh_enough(expires) {
                        return Ok(Some(format!("Bearer {}", token.secret())));
                    }
                }
                let token = credential
                    .get_token(&[STORAGE_SCOPE], None)
                    .await
                    .map_err(|e| {
                        Error::with_error(
                            ErrorKind::Credential,
                            e,
                            "blob checkpoint store: cannot get an Entra ID token for Azure Storage",
                        )
                    })?;
                let header = format!("Bearer {}", token.token.secret());
                *cached = Some((token.token, token.expires_on));
                Ok(Some(header))
            }
        }
    }

    /// Sends one request, retrying transient failures. `extra` are header
    /// names (lower case) and values; `x-ms-date`, `x-ms-version` and auth
    /// are added here. `with_body` sends an empty body with
    /// `Content-Length: 0` (needed for PUT).
    async fn send(
        &self,
        method: Method,
        blob: Option<&str>,
        query: &[(&str, &str)],
        extra: Vec<(String, String)>,
        with_body: bool,
    ) -> Result<BlobResponse> {
        let url = self.url(blob, query);
        let what = format!("{method} {}", redact_url(&url));
        let mut attempt: u32 = 0;
        loop {
            let mut headers = extra.clone();
            headers.push(("x-ms-date".into(), to_rfc7231(&OffsetDateTime::now_utc())));
            headers.push(("x-ms-version".into(), self.options.api_version.clone()));
            let content_length = with_body.then_some(0);
            let auth = self
                .authorization(&method, &url, query, &headers, content_length)
                .await?;

            let mut req = self.http.request(method.clone(), url.clone());
            for (name, value) in &headers {
                req = req.header(name.as_str(), value.as_str());
            }
            if let Some(auth) = auth {
                req = req.header(reqwest::header::AUTHORIZATION, auth);
            }
            if with_body {
                // hyper omits Content-Length for an empty body; the Blob
                // service requires it on PUT (411/400 otherwise).
                req = req
                    .header(reqwest::header::CONTENT_LENGTH, "0")
                    .body(Vec::<u8>::new());
            }

            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let resp_headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) => Ok(BlobResponse {
                            status,
                            headers: resp_headers,
                            body,
                        }),
                        Err(e) => Err(e.without_url()),
                    }
                }
                Err(e) => Err(e.without_url()),
            };

            let retry_after = match &outcome {
                Ok(r) if is_transient_status(r.status) => Some(retry_after(&r.headers)),
                Ok(_) => None,
                Err(e) if e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() => {
                    Some(None)
                }
                Err(_) => None,
            };
            match (retry_after, attempt < self.options.max_retries) {
                (Some(hint), true) => {
                    let delay = self.backoff(attempt, hint);
                    match &outcome {
                        Ok(r) => {
                            debug!(request = %what, status = r.status, ?delay, "retrying blob request")
                        }
                        Err(e) => {
                            debug!(request = %what, error = %e, ?delay, "retrying blob request")
                        }
                    }
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    return outcome.map_err(|e| {
                        let kind = if e.is_connect() {
                            ErrorKind::Connection
                        } else {
                            ErrorKind::Io
                        };
                        let message = format!(
                            "blob checkpoint store: {what} failed after {} attempt(s): {e}",
                            attempt + 1
                        );
                        Error::with_error(kind, e, message)
                    });
                }
            }
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base = self
            .options
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16));
        let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
        let delay = retry_after.unwrap_or(base + jitter);
        delay.min(self.options.max_backoff)
    }

    fn status_error(&self, action: &str, blob: Option<&str>, resp: &BlobResponse) -> Error {
        let code = resp.header("x-ms-error-code").map(str::to_string);
        let target = match blob {
            Some(b) => format!("blob {b:?} in {}", redact_url(&self.container)),
            None => redact_url(&self.container),
        };
        let message = format!(
            "blob checkpoint store: {action} on {target} failed: HTTP {}{}",
            resp.status,
            code.as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
        Error::with_message(
            ErrorKind::HttpResponse {
                status: StatusCode::from(resp.status),
                error_code: code,
                raw_response: None,
            },
            message,
        )
    }
}

fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `scheme://host[:port]/path`, without query (which may hold a SAS) or
/// user info.
fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// ETags in the strong, quoted form `"0x8D..."`; List Blobs returns them
/// without quotes and response headers with quotes.
fn normalize_etag(etag: &str) -> Etag {
    let e = etag.trim();
    if e.starts_with('"') || e.starts_with("W/") {
        Etag::from(e)
    } else {
        Etag::from(format!("\"{e}\""))
    }
}

fn partition_from_name(name: &str, prefix: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
}

/// The Shared Key string to sign for the Blob service (version 2015-02-21
/// and later: empty Content-Length when zero).
fn shared_key_string_to_sign(
    method: &Method,
    account: &str,
    url: &Url,
    query: &[(&str, &str)],
    headers: &[(String, String)],
    content_length: Option<usize>,
) -> String {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let content_length = match content_length {
        Some(0) | None => String::new(),
        Some(n) => n.to_string(),
    };
    let mut s = String::new();
    s.push_str(method.as_str());
    s.push('\n');
    for value in [
        get("content-encoding"),
        get("content-language"),
        content_length.as_str(),
        get("content-md5"),
        get("content-type"),
        "", // Date: x-ms-date is used instead
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    ] {
        s.push_str(value);
        s.push('\n');
    }
    // Canonicalized headers.
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(n, _)| n.starts_with("x-ms-"))
        .collect();
    ms.sort();
    for (n, v) in ms {
        s.push_str(&n);
        s.push(':');
        s.push_str(&v);
        s.push('\n');
    }
    // Canonicalized resource.
    s.push('/');
    s.push_str(account);
    s.push_str(url.path());
    let mut params: Vec<(String, Vec<&str>)> = Vec::new();
    for (k, v) in query {
        let k = k.to_ascii_lowercase();
        match params.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v),
            None => params.push((k, vec![v])),
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, mut values) in params {
        values.sort_unstable();
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(&values.join(","));
    }
    s
}

// ---- List Blobs XML ----

struct ListedBlob {
    name: String,
    etag: Option<String>,
    last_modified: Option<String>,
    metadata: HashMap<String, String>,
}

impl ListedBlob {
    fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

struct ListPage {
    blobs: Vec<ListedBlob>,
    next_marker: Option<String>,
}

#[derive(Deserialize)]
struct XmlEnumerationResults {
    #[serde(rename = "Blobs", default)]
    blobs: XmlBlobs,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
struct XmlBlobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<XmlBlob>,
}

#[derive(Deserialize)]
struct XmlBlob {
    #[serde(rename = "Name")]
    name: XmlName,
    #[serde(rename = "Properties", default)]
    properties: XmlProperties,
    #[serde(rename = "Metadata", default)]
    metadata: HashMap<String, String>,
}

#[derive(Deserialize)]
struct XmlName {
    #[serde(rename = "@Encoded", default)]
    encoded: Option<String>,
    #[serde(rename = "$text", default)]
    value: String,
}

#[derive(Deserialize, Default)]
struct XmlProperties {
    #[serde(rename = "Etag", default)]
    etag: Option<String>,
    #[serde(rename = "Last-Modified", default)]
    last_modified: Option<String>,
}

fn parse_list_blobs(body: &[u8]) -> Result<ListPage> {
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::with_error(
            ErrorKind::DataConversion,
            e,
            "blob checkpoint store: List Blobs response is not UTF-8",
        )
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let parsed: XmlEnumerationResults = quick_xml::de::from_str(text).map_err(|e| {
        Error::with_error(
            ErrorKind::DataConversion,
            e,
            "blob checkpoint store: cannot parse List Blobs response",
        )
    })?;
    let blobs = parsed
        .blobs
        .blob
        .into_iter()
        .map(|b| {
            let name = if b.name.encoded.as_deref() == Some("true") {
                percent_decode(&b.name.value)
            } else {
                b.name.value
            };
            ListedBlob {
                name,
                etag: b.properties.etag,
                last_modified: b.properties.last_modified,
                metadata: b.metadata,
            }
        })
        .collect();
    Ok(ListPage {
        blobs,
        next_marker: parsed.next_marker.filter(|m| !m.trim().is_empty()),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_blobs_page() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
  <Prefix>ns/hub/$default/ownership/</Prefix>
  <MaxResults>5000</MaxResults>
  <Blobs>
    <Blob>
      <Name>ns/hub/$default/ownership/0</Name>
      <Properties>
        <Creation-Time>Tue, 01 Dec 2026 10:00:00 GMT</Creation-Time>
        <Last-Modified>Tue, 01 Dec 2026 10:00:01 GMT</Last-Modified>
        <Etag>0x8DC1234567890AB</Etag>
        <Content-Length>0</Content-Length>
        <BlobType>BlockBlob</BlobType>
      </Properties>
      <Metadata><ownerid>abc</ownerid></Metadata>
    </Blob>
    <Blob>
      <Name Encoded="true">ns/hub/$default/ownership/%31</Name>
      <Properties><Etag>"0x1"</Etag></Properties>
      <Metadata />
    </Blob>
  </Blobs>
  <NextMarker>page2</NextMarker>
</EnumerationResults>"#;
        let page = parse_list_blobs(xml.as_bytes()).unwrap();
        assert_eq!(page.blobs.len(), 2);
        assert_eq!(page.blobs[0].name, "ns/hub/$default/ownership/0");
        assert_eq!(page.blobs[0].meta("OwnerId"), Some("abc"));
        assert_eq!(page.blobs[0].etag.as_deref(), Some("0x8DC1234567890AB"));
        assert!(page.blobs[0].last_modified.is_some());
        assert_eq!(page.blobs[1].name, "ns/hub/$default/ownership/1");
        assert!(page.blobs[1].metadata.is_empty());
        assert_eq!(page.next_marker.as_deref(), Some("page2"));

        let empty = r#"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"#;
        let page = parse_list_blobs(empty.as_bytes()).unwrap();
        assert!(page.blobs.is_empty());
        assert!(page.next_marker.is_none());
    }

    #[test]
    fn etags_are_normalised() {
        assert_eq!(normalize_etag("0x8D").as_ref(), "\"0x8D\"");
        assert_eq!(normalize_etag("\"0x8D\"").as_ref(), "\"0x8D\"");
    }

    #[test]
    fn string_to_sign_matches_the_spec_layout() {
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/c?restype=container&comp=list&prefix=a%2Fb",
        )
        .unwrap();
        let headers = vec![
            ("x-ms-version".to_string(), "2021-12-02".to_string()),
            (
                "x-ms-date".to_string(),
                "Tue, 01 Dec 2026 10:00:00 GMT".to_string(),
            ),
        ];
        let s = shared_key_string_to_sign(
            &Method::GET,
            "devstoreaccount1",
            &url,
            &[
                ("restype", "container"),
                ("comp", "list"),
                ("prefix", "a/b"),
            ],
            &headers,
            None,
        );
        assert_eq!(
            s,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Tue, 01 Dec 2026 10:00:00 GMT\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/c\ncomp:list\nprefix:a/b\nrestype:container"
        );
    }

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
