//! A small Azure Blob Storage REST client: one container, its authentication, retries and the
//! calls hubwatch needs (List Blobs with prefixes, ranged Get Blob, Put and metadata for the
//! checkpoint store).
//!
//! The official `azure_storage_blob` crate cannot be built together with
//! `azure_messaging_eventhubs` 0.16, so this module issues the handful of REST calls it needs
//! with `reqwest`. It is shared by the blob checkpoint store (`checkpoint/blob.rs`) and the
//! backfill from diagnostic-settings archives (`backfill/`).
//!
//! # Authentication
//!
//! See [`BlobAuth`]: Shared Key (account key), SAS token, or an Entra ID
//! [`TokenCredential`] (scope `https://storage.azure.com/.default`). Keys,
//! SAS tokens and access tokens never appear in errors or logs; URLs in
//! messages have their query string removed.
//!
//! # Files
//!
//! This file holds the client (construction, options, ranged reads); `auth.rs` the
//! authentication schemes and Shared Key signing; `rest.rs` the HTTP calls, retries, status
//! errors and redaction; `list.rs` List Blobs and its XML.
//!
//! [`TokenCredential`]: azure_core::credentials::TokenCredential

mod auth;
mod list;
mod rest;

pub use auth::{BlobAuth, STORAGE_SCOPE};
pub use list::{ListPage, ListedBlob};
pub use rest::{normalize_etag, redact_url, BlobResponse};

use auth::Auth;
use azure_core::{
    credentials::Secret,
    error::{Error, ErrorKind},
    Result,
};
use reqwest::{Method, Url};
use std::{fmt, time::Duration};

/// Default `x-ms-version` sent with every request.
pub const DEFAULT_API_VERSION: &str = "2021-12-02";

/// Tuning for [`BlobContainer`].
#[derive(Clone, Debug)]
pub struct BlobClientOptions {
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

impl Default for BlobClientOptions {
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

/// One container of a storage account, with its authentication.
pub struct BlobContainer {
    http: reqwest::Client,
    /// Container URL without query string or trailing slash.
    container: Url,
    /// SAS query string without `?`, if any.
    sas: Option<Secret>,
    auth: Auth,
    options: BlobClientOptions,
}

impl fmt::Debug for BlobContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobContainer")
            .field("container", &self.container.as_str())
            .field("sas", &self.sas.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

pub(crate) fn config_error(message: impl Into<String>) -> Error {
    Error::with_message(
        ErrorKind::Other,
        format!("blob storage: {}", message.into()),
    )
}

/// A ranged read: the bytes, and the blob's properties at the time of the read.
#[derive(Debug)]
pub struct BlobRange {
    /// The bytes, in the chunks they arrived in (see [`BlobResponse::chunks`]).
    pub chunks: Vec<bytes::Bytes>,
    /// Total length of the blob (from `Content-Range`, else the body length).
    pub blob_length: u64,
    pub etag: Option<String>,
}

impl BlobRange {
    /// The length of the bytes read.
    pub fn byte_len(&self) -> u64 {
        rest::chunks_len(&self.chunks)
    }
}

impl BlobContainer {
    /// A client for the container at `container_url`, either path-style
    /// (`http://127.0.0.1:10000/devstoreaccount1/CONTAINER`, Azurite) or
    /// `https://ACCOUNT.blob.core.windows.net/CONTAINER`. A query string on
    /// the URL is taken as a SAS token.
    pub fn new(container_url: &str, auth: BlobAuth, options: BlobClientOptions) -> Result<Self> {
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

        let (auth, sas) = Auth::resolve(auth, url_sas)?;

        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| {
                Error::with_error(
                    ErrorKind::Other,
                    e.without_url(),
                    "blob storage: cannot build HTTP client",
                )
            })?;

        Ok(Self {
            http,
            container,
            sas,
            auth,
            options,
        })
    }

    /// The container URL, without any query string.
    pub fn container_url(&self) -> &str {
        self.container.as_str()
    }

    /// Creates the container if it does not exist (for development and tests).
    pub async fn create_if_missing(&self) -> Result<bool> {
        let resp = self
            .send(
                Method::PUT,
                None,
                &[("restype", "container")],
                Vec::new(),
                true,
            )
            .await?;
        match resp.status {
            201 => Ok(true),
            409 => Ok(false),
            _ => Err(self.status_error("create container", None, &resp)),
        }
    }

    /// Creates an empty append blob (replacing any blob of that name). For tests and the
    /// benchmark's archive generator: diagnostic settings write archives this way.
    pub async fn create_append_blob(&self, blob: &str) -> Result<()> {
        let headers = vec![("x-ms-blob-type".to_string(), "AppendBlob".to_string())];
        let resp = self
            .send(Method::PUT, Some(blob), &[], headers, true)
            .await?;
        match resp.status {
            201 => Ok(()),
            _ => Err(self.status_error("create append blob", Some(blob), &resp)),
        }
    }

    /// Appends one block (at most 4 MiB on older service versions) to an append blob.
    pub async fn append_block(&self, blob: &str, data: bytes::Bytes) -> Result<()> {
        let resp = self
            .send_body(
                Method::PUT,
                Some(blob),
                &[("comp", "appendblock")],
                Vec::new(),
                Some(data),
            )
            .await?;
        match resp.status {
            201 => Ok(()),
            _ => Err(self.status_error("append block", Some(blob), &resp)),
        }
    }

    /// Bytes `start..` of a blob, at most `max` of them. `Ok(None)`: nothing at or after
    /// `start` (the blob is not longer than that).
    pub async fn get_range(&self, blob: &str, start: u64, max: u64) -> Result<Option<BlobRange>> {
        let end = start.saturating_add(max.max(1)) - 1;
        let headers = vec![("x-ms-range".to_string(), format!("bytes={start}-{end}"))];
        let resp = self
            .send(Method::GET, Some(blob), &[], headers, false)
            .await?;
        match resp.status {
            200 | 206 => {
                let blob_length = resp
                    .header("content-range")
                    .and_then(|v| v.rsplit('/').next())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(start + resp.body_len());
                Ok(Some(BlobRange {
                    etag: resp.header("etag").map(str::to_string),
                    chunks: resp.chunks,
                    blob_length,
                }))
            }
            416 => Ok(None),
            _ => Err(self.status_error("read blob", Some(blob), &resp)),
        }
    }
}
