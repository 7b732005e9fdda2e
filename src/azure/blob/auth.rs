//! Authentication to Blob Storage: the public [`BlobAuth`] choice, and the per-request
//! `Authorization` header it turns into (Shared Key signature, cached Entra ID bearer token,
//! or none when a SAS in the query string does the work).

use super::config_error;
use azure_core::{
    credentials::{Secret, TokenCredential},
    error::{Error, ErrorKind},
    time::OffsetDateTime,
    Result,
};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use hmac::{Hmac, Mac};
use reqwest::{Method, Url};
use sha2::Sha256;
use std::{fmt, sync::Arc};
use tokio::sync::Mutex;

/// Entra ID scope for Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// How the client authenticates to Blob Storage.
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
    /// request URL. The checkpoint store needs read, write, create and list permissions
    /// on the container (plus create for the container itself when
    /// [`BlobContainer::create_if_missing`] is used); the backfill needs read and list.
    ///
    /// [`BlobContainer::create_if_missing`]: super::BlobContainer::create_if_missing
    Sas(Secret),
    /// An Entra ID credential (managed identity, workload identity, ...); the
    /// identity needs the "Storage Blob Data Contributor" role on the
    /// checkpoint container ("Storage Blob Data Reader" on archives to backfill).
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

/// [`BlobAuth`] resolved for sending: a decoded key, or a credential with its token cache.
pub(super) enum Auth {
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

impl Auth {
    /// Resolves `auth` together with a SAS found in the container URL's query string (`url_sas`).
    /// Returns the request signer and the SAS query string (without `?`) to append to every
    /// URL, if any.
    pub(super) fn resolve(
        auth: BlobAuth,
        url_sas: Option<Secret>,
    ) -> Result<(Auth, Option<Secret>)> {
        Ok(match auth {
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
        })
    }

    /// The `Authorization` header value for one request, if the scheme uses one.
    pub(super) async fn authorization(
        &self,
        method: &Method,
        url: &Url,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        content_length: Option<usize>,
    ) -> Result<Option<String>> {
        match self {
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
                            "blob storage: cannot get an Entra ID token for Azure Storage",
                        )
                    })?;
                let header = format!("Bearer {}", token.token.secret());
                *cached = Some((token.token, token.expires_on));
                Ok(Some(header))
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
