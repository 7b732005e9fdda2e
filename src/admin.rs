//! The operations HTTP listener: liveness, readiness and Prometheus metrics on `[http] listen`.
//!
//! | path       | answers                                                                        |
//! |------------|--------------------------------------------------------------------------------|
//! | `/healthz` | `200 ok` while the process runs (liveness)                                     |
//! | `/readyz`  | `200 ready` when [`Health::readiness`] is `Ok`, else `503` with one reason per  |
//! |            | line; `503 shutting down` once the service's cancellation token fired          |
//! | `/metrics` | the Prometheus text exposition of every `hubwatch_*` metric                     |
//!
//! The listener starts before the service (so `/readyz` answers 503 until the source is
//! connected) and stays up while the service drains after SIGTERM, so metrics can still be
//! scraped and liveness probes still pass; [`HttpServer::shutdown`] stops it gracefully once the
//! service has returned. An empty `listen` disables the listener (and metrics recording).
//!
//! `/metrics` renders the process-wide recorder of [`crate::telemetry::metrics`], which owns the
//! metric names and help texts.
//!
//! [`probe`] is the client side for `hubwatch healthcheck`: one HTTP/1.1 GET over a plain TCP
//! connection, so a container image needs no curl.

use crate::health::Health;
use crate::telemetry::metrics::metrics_handle;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The port of the default listener, the Dockerfile's `EXPOSE` and the manifests' probes.
pub(crate) const DEFAULT_PORT: u16 = 9464;

/// How often histogram buffers are folded into the exposition state.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How long a graceful stop may wait for open connections.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The listener could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("[http] listen = {addr:?}: cannot listen: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metrics(#[from] crate::telemetry::metrics::MetricsError),
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    cancel: CancellationToken,
    metrics: PrometheusHandle,
}

/// A running listener.
pub(crate) struct HttpServer {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Stops accepting connections and waits (briefly) for open ones to finish.
    pub(crate) async fn shutdown(self) {
        self.stop.cancel();
        if tokio::time::timeout(STOP_TIMEOUT, self.task).await.is_err() {
            tracing::warn!("http listener did not stop in time");
        }
    }
}

/// Binds `listen` and serves the endpoints; `Ok(None)` when `listen` is empty (disabled).
///
/// `cancel` is the service's token: once it fires, `/readyz` answers 503 "shutting down".
/// Must be called inside a Tokio runtime.
pub(crate) async fn start(
    listen: &str,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> Result<Option<HttpServer>, HttpError> {
    let listen = listen.trim();
    if listen.is_empty() {
        tracing::info!("http listener disabled ([http] listen is empty)");
        return Ok(None);
    }
    let metrics = metrics_handle()?;
    let bind = |source| HttpError::Bind {
        addr: listen.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let app = router(AppState {
        health,
        cancel,
        metrics: metrics.clone(),
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let upkeep = tokio::spawn({
                let stop = stop.clone();
                async move {
                    let mut tick = tokio::time::interval(UPKEEP_EVERY);
                    loop {
                        tokio::select! {
                            _ = tick.tick() => metrics.run_upkeep(),
                            _ = stop.cancelled() => break,
                        }
                    }
                }
            });
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "http listener failed");
            }
            stop.cancel();
            let _ = upkeep.await;
        }
    });
    tracing::info!(addr = %addr, "http listener started (/healthz, /readyz, /metrics)");
    Ok(Some(HttpServer { stop, task }))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    if s.cancel.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    match s.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => {
            let mut body = why.join("\n");
            body.push('\n');
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }
    }
}

async fn metrics_text(State(s): State<AppState>) -> impl IntoResponse {
    crate::telemetry::metrics::refresh_process_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

/// The URL `hubwatch healthcheck` probes by default: `/readyz` on the `HUBWATCH_HTTP__LISTEN`
/// address (a wildcard host becomes loopback), else on `127.0.0.1:9464`.
pub(crate) fn default_probe_url(listen: Option<&str>) -> String {
    let listen = listen.map(str::trim).unwrap_or_default();
    let fallback = format!("http://127.0.0.1:{DEFAULT_PORT}/readyz");
    let Some((host, port)) = listen.rsplit_once(':') else {
        return fallback;
    };
    if port.parse::<u16>().is_err() {
        return fallback;
    }
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" | "::" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}/readyz")
}

/// GETs an `http://` URL; `Ok` with the status line's text when the answer is 200, else `Err`
/// with a one-line reason. The whole exchange is bounded by `timeout`.
pub(crate) fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let started = Instant::now();
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let target = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {authority}: {e}"))?
        .collect();
    let mut last = format!("{url}: {authority} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{url}: cannot connect to {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let left = |what: &str| {
        let d = timeout.saturating_sub(started.elapsed());
        if d.is_zero() {
            Err(format!("{url}: timed out {what}"))
        } else {
            Ok(d)
        }
    };
    stream
        .set_write_timeout(Some(left("connecting")?))
        .map_err(|e| format!("{url}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: hubwatch-healthcheck\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: sending the request: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream
            .set_read_timeout(Some(left("waiting for the answer")?))
            .map_err(|e| format!("{url}: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.len() > 64 * 1024 {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("{url}: timed out waiting for the answer"))
            }
            Err(e) => return Err(format!("{url}: reading the answer: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or_default().trim();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: not an HTTP answer: {status_line:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let reasons: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut summary = if reasons.is_empty() {
        status_line.to_string()
    } else {
        format!("{status}: {}", reasons.join("; "))
    };
    if summary.len() > 300 {
        let mut cut = 300;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        summary.truncate(cut);
        summary.push_str(" ...");
    }
    if status == 200 {
        Ok(format!("{url}: {summary}"))
    } else {
        Err(format!("{url}: {summary}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_url_maps_wildcards_to_loopback() {
        assert_eq!(
            default_probe_url(None),
            "http://127.0.0.1:9464/readyz".to_string()
        );
        assert_eq!(
            default_probe_url(Some("0.0.0.0:9464")),
            "http://127.0.0.1:9464/readyz"
        );
        assert_eq!(
            default_probe_url(Some("[::]:9000")),
            "http://[::1]:9000/readyz"
        );
        assert_eq!(
            default_probe_url(Some("10.0.0.5:8080")),
            "http://10.0.0.5:8080/readyz"
        );
        assert_eq!(default_probe_url(Some("")), "http://127.0.0.1:9464/readyz");
        assert_eq!(
            default_probe_url(Some("nonsense")),
            "http://127.0.0.1:9464/readyz"
        );
    }

    #[test]
    fn probe_rejects_other_schemes_and_closed_ports() {
        assert!(probe("https://127.0.0.1:1/readyz", Duration::from_secs(1)).is_err());
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port());
        let Ok(port) = free else { return };
        let r = probe(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(1),
        );
        assert!(r.is_err_and(|e| e.contains("cannot connect")));
    }
}
