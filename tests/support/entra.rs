//! Test helper: Entra ID auth to Blob Storage with real local servers. A managed-identity token
//! endpoint speaking the App Service protocol, which `ManagedIdentityCredential` uses when
//! `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set (`GET ?api-version=2019-08-01&resource=...`
//! with header `x-identity-header`); it records what it is asked. And a reverse proxy in front
//! of Azurite that checks the bearer token: Azurite takes OAuth only over HTTPS, so the proxy
//! refuses (403) any request without `Authorization: Bearer <token>`, drops the header and
//! forwards the request anonymously to containers created with public access, answering with
//! Azurite's status, headers and body unchanged.
#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hubwatch::azure::blob::BlobContainer;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A container created with `x-ms-blob-public-access: container` (anonymous list and read),
/// and its Shared Key client for writing.
pub async fn public_container(account_url: &str, name: &str) -> BlobContainer {
    let c = super::archive::client(account_url, name);
    let public = vec![(
        "x-ms-blob-public-access".to_string(),
        "container".to_string(),
    )];
    let resp = c
        .send(Method::PUT, None, &[("restype", "container")], public, true)
        .await
        .expect("create container");
    assert_eq!(resp.status, 201, "create public container {name}");
    c
}

/// One request to the [`TokenServer`].
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub method: String,
    pub query: HashMap<String, String>,
    /// The `x-identity-header` value, if sent.
    pub identity_header: Option<String>,
}

/// A managed-identity endpoint that hands out `token` (valid for an hour) to requests bearing
/// `identity_header`, and 401 to others.
pub struct TokenServer {
    /// For `IDENTITY_ENDPOINT`.
    pub endpoint: String,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

struct TokenState {
    token: String,
    identity_header: String,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

async fn issue(State(s): State<Arc<TokenState>>, req: Request) -> Response {
    let query: HashMap<String, String> = url_query(req.uri()).into_iter().collect();
    let identity_header = req
        .headers()
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.requests.lock().unwrap().push(TokenRequest {
        method: req.method().to_string(),
        query: query.clone(),
        identity_header: identity_header.clone(),
    });
    if identity_header.as_deref() != Some(s.identity_header.as_str()) {
        return (StatusCode::UNAUTHORIZED, "wrong x-identity-header").into_response();
    }
    let expires_on = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    axum::Json(json!({
        "access_token": s.token,
        "expires_on": expires_on.to_string(),
        "token_type": "Bearer",
        "resource": query.get("resource").cloned().unwrap_or_default(),
    }))
    .into_response()
}

impl TokenServer {
    pub async fn start(token: &str, identity_header: &str) -> TokenServer {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(TokenState {
            token: token.to_string(),
            identity_header: identity_header.to_string(),
            requests: requests.clone(),
        });
        let app = axum::Router::new().fallback(issue).with_state(state);
        let addr = super::archive::serve(app).await;
        TokenServer {
            endpoint: format!("http://{addr}/msi/token"),
            requests,
        }
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// One request to the [`BearerProxy`].
#[derive(Debug, Clone)]
pub struct Proxied {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// It carried `Authorization: Bearer <token>` (and was forwarded).
    pub bearer: bool,
    /// Azurite's status, or the proxy's 403.
    pub status: u16,
}

impl Proxied {
    /// A List Blobs call.
    pub fn is_list(&self) -> bool {
        self.query.iter().any(|(k, v)| k == "comp" && v == "list")
    }

    /// A Get Blob call (a path below the container, no `comp`).
    pub fn is_blob_read(&self) -> bool {
        self.method == "GET"
            && !self.query.iter().any(|(k, _)| k == "comp")
            && self.path.trim_start_matches('/').split('/').count() > 2
    }
}

/// A reverse proxy to Azurite that lets through only requests bearing `token` (see the module
/// documentation).
pub struct BearerProxy {
    /// The account URL through the proxy (Azurite's, with the proxy's address).
    pub account_url: String,
    seen: Arc<Mutex<Vec<Proxied>>>,
}

struct ProxyState {
    bearer: String,
    upstream: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Proxied>>>,
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1), which a proxy does not pass on.
fn hop_by_hop(name: &header::HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

fn url_query(uri: &Uri) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x{uri}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

async fn forward(State(s): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(s.bearer.as_str());
    let mut seen = Proxied {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: url_query(&parts.uri),
        bearer,
        status: 403,
    };
    if !bearer {
        s.seen.lock().unwrap().push(seen);
        return (StatusCode::FORBIDDEN, "no valid bearer token").into_response();
    }
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let target = match parts.uri.path_and_query() {
        Some(pq) => format!("{}{pq}", s.upstream),
        None => s.upstream.clone(),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name != header::AUTHORIZATION && name != header::HOST && !hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let upstream = s
        .http
        .request(parts.method.clone(), target)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let (status, resp_headers, resp_body) = match upstream {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            (status, headers, r.bytes().await.unwrap_or_default())
        }
        Err(e) => {
            seen.status = 502;
            s.seen.lock().unwrap().push(seen);
            return (StatusCode::BAD_GATEWAY, e.without_url().to_string()).into_response();
        }
    };
    seen.status = status.as_u16();
    s.seen.lock().unwrap().push(seen);
    let mut response = Response::new(Body::from(resp_body));
    *response.status_mut() = status;
    for (name, value) in &resp_headers {
        if !hop_by_hop(name) {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

impl BearerProxy {
    /// A proxy to the Azurite at `account_url` (`http://HOST:PORT/ACCOUNT`).
    pub async fn start(account_url: &str, token: &str) -> BearerProxy {
        let url = reqwest::Url::parse(account_url).expect("account URL");
        let mut origin = url.clone();
        origin.set_path("");
        origin.set_query(None);
        let upstream = origin.as_str().trim_end_matches('/').to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(ProxyState {
            bearer: format!("Bearer {token}"),
            upstream,
            http: reqwest::Client::new(),
            seen: seen.clone(),
        });
        let app = axum::Router::new().fallback(forward).with_state(state);
        let addr = super::archive::serve(app).await;
        BearerProxy {
            account_url: format!("http://{addr}{}", url.path().trim_end_matches('/')),
            seen,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Proxied> {
        self.seen.lock().unwrap().clone()
    }
}
