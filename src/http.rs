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
//! Metrics go through the `metrics` facade to a [`PrometheusRecorder`] installed as the global
//! recorder the first time [`metrics_handle`] is called; [`describe_metrics`] registers the
//! `# HELP` text of every metric the service emits.
//!
//! [`probe`] is the client side for `hubwatch healthcheck`: one HTTP/1.1 GET over a plain TCP
//! connection, so a container image needs no curl.
//!
//! [`PrometheusRecorder`]: metrics_exporter_prometheus::PrometheusRecorder

use crate::health::Health;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The port of the default listener, the Dockerfile's `EXPOSE` and the manifests' probes.
pub const DEFAULT_PORT: u16 = 9464;

/// Name of the end-to-end latency histogram (it gets explicit buckets).
pub const LATENCY_HISTOGRAM: &str = "hubwatch_end_to_end_latency_seconds";

/// Buckets of the latency histogram, in seconds: 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often histogram buffers are folded into the exposition state.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How long a graceful stop may wait for open connections.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("[http] listen = {addr:?}: cannot listen: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("metrics recorder: {0}")]
    Recorder(String),
}

/// Every metric the service emits: name, kind, help text. The kinds drive `describe_*`.
pub const METRICS: &[(&str, MetricKind, &str)] = &[
    ("hubwatch_bodies_total", MetricKind::Counter, "Event bodies (or file lines) taken from the source."),
    ("hubwatch_records_total", MetricKind::Counter, "Log records decoded from the bodies."),
    ("hubwatch_matches_total", MetricKind::Counter, "Rule matches, before deduplication."),
    ("hubwatch_alerts_total", MetricKind::Counter, "Alerts raised after deduplication, by rule id."),
    ("hubwatch_decode_errors_total", MetricKind::Counter, "Bodies or records that could not be decoded, by kind of problem."),
    ("hubwatch_rule_errors_total", MetricKind::Counter, "Rule evaluations that failed on a record."),
    ("hubwatch_dead_lettered_total", MetricKind::Counter, "Entries written to a dead-letter file, by kind (and sink for refused alerts)."),
    ("hubwatch_sink_sent_total", MetricKind::Counter, "Alerts a sink's destination accepted."),
    ("hubwatch_sink_failed_total", MetricKind::Counter, "Alerts in failed sink sends (transient or permanent)."),
    ("hubwatch_sink_retries_total", MetricKind::Counter, "Sink send retries after transient failures."),
    ("hubwatch_sink_queue_depth", MetricKind::Gauge, "Alerts waiting in a sink's queue."),
    ("hubwatch_sink_up", MetricKind::Gauge, "1 while a sink accepts alerts, 0 once three attempts at one batch failed in a row (until a send is accepted)."),
    ("hubwatch_partition_sequence_number", MetricKind::Gauge, "Sequence number of the last event received from a partition."),
    ("hubwatch_partition_checkpoint_sequence_number", MetricKind::Gauge, "Sequence number of a partition's last written checkpoint."),
    ("hubwatch_partition_stalls_total", MetricKind::Counter, "Partition receivers reopened because they delivered nothing for stall_timeout_secs while the hub held newer events."),
    ("hubwatch_partition_lag_events", MetricKind::Gauge, "Events of a partition not processed yet: last enqueued sequence number minus last processed."),
    (LATENCY_HISTOGRAM, MetricKind::Histogram, "Seconds from an event's enqueued time in Event Hubs to the sink's acknowledgement of its alert."),
];

/// The kind of a metric in [`METRICS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// The handle of the process-wide Prometheus recorder, installing it (and the metric
/// descriptions) on first use.
pub fn metrics_handle() -> Result<PrometheusHandle, HttpError> {
    let mut slot = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = slot.as_ref() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(LATENCY_HISTOGRAM.to_string()),
            LATENCY_BUCKETS,
        )
        .map_err(|e| HttpError::Recorder(e.to_string()))?
        .install_recorder()
        .map_err(|e| HttpError::Recorder(e.to_string()))?;
    describe_metrics();
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Registers the help text of every metric, and zero values for the unlabelled counters so
/// they are scraped (and `increase()` works) before the first event.
pub fn describe_metrics() {
    for &(name, kind, help) in METRICS {
        match kind {
            MetricKind::Counter => metrics::describe_counter!(name, help),
            MetricKind::Gauge => metrics::describe_gauge!(name, help),
            MetricKind::Histogram => {
                metrics::describe_histogram!(name, metrics::Unit::Seconds, help)
            }
        }
    }
    for name in [
        "hubwatch_bodies_total",
        "hubwatch_records_total",
        "hubwatch_matches_total",
        "hubwatch_rule_errors_total",
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// Zero values for a sink's series, so they exist from start-up.
pub fn register_sink_metrics(sink: &str) {
    let labels = [("sink", sink.to_string())];
    metrics::counter!("hubwatch_sink_sent_total", &labels).increment(0);
    metrics::counter!("hubwatch_sink_failed_total", &labels).increment(0);
    metrics::counter!("hubwatch_sink_retries_total", &labels).increment(0);
    metrics::gauge!("hubwatch_sink_queue_depth", &labels).set(0.0);
    metrics::gauge!("hubwatch_sink_up", &labels).set(1.0);
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    cancel: CancellationToken,
    metrics: PrometheusHandle,
}

/// A running listener.
pub struct HttpServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits (briefly) for open ones to finish.
    pub async fn shutdown(self) {
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
pub async fn start(
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
    Ok(Some(HttpServer { addr, stop, task }))
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
pub fn default_probe_url(listen: Option<&str>) -> String {
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
pub fn probe(url: &str, timeout: Duration) -> Result<String, String> {
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

    #[test]
    fn every_metric_has_help() {
        for (name, _, help) in METRICS {
            assert!(name.starts_with("hubwatch_"));
            assert!(!help.is_empty());
        }
    }
}
