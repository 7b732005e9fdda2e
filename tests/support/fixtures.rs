//! Test alerts, sink configurations and an in-test HTTP server that records every request
//! (the receiving end of the webhook and Sentinel sinks).
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hubwatch::actor::Actor;
use hubwatch::alert::{Alert, Origin};
use hubwatch::entities::{Account, Entity, Ip};
use hubwatch::rules::spec::{Mitre, Severity};
use hubwatch::sink::SinkConfig;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A test alert; `i` makes its id, title and line unique.
pub fn alert(i: usize) -> Alert {
    let mut summary = Map::new();
    summary.insert("callerIpAddress".into(), json!("203.0.113.7"));
    let mut ctx = Map::new();
    ctx.insert("vault".into(), json!("kv-prod"));
    Alert {
        kind: None,
        alert_id: format!("alert-{i:04}"),
        rule_id: "Test.KeyVault.Access".into(),
        title: format!("Key <accessed> & read #{i}"),
        severity: Severity::High,
        dedup: format!("user{}", i % 3),
        resource_id: json!(
            "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod"
        ),
        caller_ip_address: json!("203.0.113.7"),
        correlation_id: Value::Null,
        actor: Actor {
            caller: Some("kv-reader@contoso.com".into()),
            upn: Some("kv-reader@contoso.com".into()),
            object_id: Some("30a6c29d-de7c-4830-815f-9b3bb366e975".into()),
            subscription_id: Some("0000".into()),
            ..Actor::default()
        },
        entities: vec![
            Entity::Account(Account {
                name: Some("kv-reader".into()),
                upn_suffix: Some("contoso.com".into()),
                aad_user_id: Some("30a6c29d-de7c-4830-815f-9b3bb366e975".into()),
                aad_tenant_id: None,
            }),
            Entity::Ip(Ip {
                address: "203.0.113.7".into(),
            }),
        ],
        event_time: json!("2026-11-28T10:00:00Z"),
        detected_at: time::macros::datetime!(2026-11-28 10:00:01 UTC),
        window_start: time::macros::datetime!(2026-11-28 10:00:00 UTC),
        alert_context: ctx,
        display_name: "Test rule".into(),
        description: "A key was read.".into(),
        runbook: "Ask the owner.".into(),
        reference: "https://example.com/runbook".into(),
        mitre: vec![Mitre {
            tactic: "TA0006".into(),
            technique: "T1555".into(),
        }],
        tags: vec!["keyvault".into()],
        log_types: vec!["Azure.KeyVault".into()],
        summary,
        runbook_answers: None,
        event: serde_json::value::RawValue::from_string(format!(
            r#"{{"time":"2026-11-28T10:00:00Z","operationName":"KeyGet","i":{i}}}"#
        ))
        .unwrap(),
        source: Origin::File {
            path: "test.jsonl".into(),
            line: i as u64,
            record_index: None,
        },
    }
}

/// A `[[sinks]]` entry from TOML text.
pub fn sink_config(toml_text: &str) -> SinkConfig {
    let cfg: SinkConfig = toml::from_str(toml_text).expect("sink config");
    cfg.validate().expect("valid sink config");
    cfg
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Decides the answer to request number `n` (0-based): status and headers.
pub type Responder = Arc<dyn Fn(usize, &Recorded) -> (u16, Vec<(String, String)>) + Send + Sync>;

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    responder: Responder,
    /// Milliseconds every answer waits (asynchronously) before it is sent: a slow receiver.
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// An HTTP server on 127.0.0.1:0 running inside the test.
pub struct TestServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TestServer {
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method,
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body,
        at: Instant::now(),
    };
    let n = {
        let mut reqs = shared.requests.lock().unwrap();
        reqs.push(rec.clone());
        reqs.len() - 1
    };
    let delay = shared.delay_ms.load(std::sync::atomic::Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let (status, headers) = (shared.responder)(n, &rec);
    let mut resp = (
        StatusCode::from_u16(status).unwrap(),
        format!("answer {status}"),
    )
        .into_response();
    for (k, v) in headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

/// Starts a server answering with `responder`.
pub async fn serve(responder: Responder) -> TestServer {
    serve_with_delay(responder, Arc::default()).await
}

/// Starts a server answering with `responder` after `delay_ms` milliseconds (changeable while
/// it runs; the wait does not block other requests).
pub async fn serve_with_delay(
    responder: Responder,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
) -> TestServer {
    let shared = Arc::new(Shared {
        requests: Mutex::new(Vec::new()),
        responder,
        delay_ms,
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer { addr, shared }
}

/// A server that always answers 200.
pub async fn serve_ok() -> TestServer {
    serve(Arc::new(|_, _| (200, vec![]))).await
}

/// Waits until `f` holds, failing the test after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
