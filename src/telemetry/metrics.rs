//! Every metric hubwatch emits: one table of names, kinds and help texts, the process-wide
//! Prometheus recorder, and the zero values that make series exist from start-up.
//!
//! Metrics go through the `metrics` facade to a `PrometheusRecorder` installed as the global
//! recorder the first time [`metrics_handle`] is called (by the HTTP listener); without it,
//! emitting is a no-op.
//!
//! Besides the table, [`refresh_process_metrics`] (called at every scrape) sets the process
//! metrics of the `metrics-process` crate under their standard Prometheus names
//! ([`PROCESS_METRICS`]: CPU seconds, resident memory, open and maximum file descriptors, ...)
//! and `hubwatch_uptime_seconds`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// The Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("metrics recorder: {0}")]
pub(crate) struct MetricsError(String);

/// Name of the end-to-end latency histogram (it gets explicit buckets).
pub(crate) const LATENCY_HISTOGRAM: &str = "hubwatch_end_to_end_latency_seconds";

/// Context store latency histograms (they get [`STORE_BUCKETS`]).
pub(crate) const CONTEXT_WRITE_HISTOGRAM: &str = "hubwatch_context_write_seconds";
pub(crate) const CONTEXT_QUERY_HISTOGRAM: &str = "hubwatch_context_query_seconds";

/// Buckets of the context store histograms, in seconds: 0.1 ms to 5 s.
pub(crate) const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets of the latency histogram, in seconds: 1 ms to 60 s.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Every metric the service emits: name, kind, help text. The kinds drive `describe_*`.
pub(crate) const METRICS: &[(&str, MetricKind, &str)] = &[
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
    ("hubwatch_context_records_total", MetricKind::Counter, "Key Vault operations handed to the context store, by store."),
    ("hubwatch_context_errors_total", MetricKind::Counter, "Context store writes and queries that failed or timed out, by store and op (write, query)."),
    ("hubwatch_context_unavailable_total", MetricKind::Counter, "Alerts sent with runbook_answers.status unavailable, by store."),
    ("hubwatch_context_evicted_total", MetricKind::Counter, "Operations deleted from the SQLite context store to keep it under max_bytes."),
    ("hubwatch_context_suppressed_total", MetricKind::Counter, "Key Vault alerts suppressed by a [[context.noise]] policy, by rule."),
    ("hubwatch_context_updates_total", MetricKind::Counter, "alert_update follow-ups sent, by store."),
    ("hubwatch_context_retry_queue", MetricKind::Gauge, "Bodies whose context writes wait for the store (their events are not checkpointed yet)."),
    ("hubwatch_context_up", MetricKind::Gauge, "1 while the context store accepts writes, 0 while it fails."),
    (CONTEXT_WRITE_HISTOGRAM, MetricKind::Histogram, "Seconds one body's context write took (up to write_timeout_ms), by store."),
    (CONTEXT_QUERY_HISTOGRAM, MetricKind::Histogram, "Seconds one alert's runbook answers took (up to query_timeout_ms), by store."),
    (LATENCY_HISTOGRAM, MetricKind::Histogram, "Seconds from an event's enqueued time in Event Hubs to the sink's acknowledgement of its alert."),
    ("hubwatch_build_info", MetricKind::Gauge, "Always 1; the labels name the build: version (Cargo package) and revision (git commit, \"unknown\" unless built with HUBWATCH_REVISION)."),
    ("hubwatch_uptime_seconds", MetricKind::Gauge, "Seconds since the process started."),
];

/// Process metrics set by `metrics-process` at each scrape, under the names of Prometheus's own
/// client libraries (no `hubwatch_` prefix), so standard dashboards and alerts apply.
#[cfg(test)]
const PROCESS_METRICS: &[&str] = &[
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

/// The git commit the binary was built from: `HUBWATCH_REVISION` at build time (the Dockerfile
/// passes its `REVISION` build argument), else `unknown`.
pub(crate) const REVISION: &str = match option_env!("HUBWATCH_REVISION") {
    Some(r) => r,
    None => "unknown",
};

static STARTED: OnceLock<Instant> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// The kind of a metric in [`METRICS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// The handle of the process-wide Prometheus recorder, installing it (and the metric
/// descriptions) on first use.
pub(crate) fn metrics_handle() -> Result<PrometheusHandle, MetricsError> {
    let mut slot = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = slot.as_ref() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(LATENCY_HISTOGRAM.to_string()),
            LATENCY_BUCKETS,
        )
        .map_err(|e| MetricsError(e.to_string()))?
        .set_buckets_for_metric(
            Matcher::Full(CONTEXT_WRITE_HISTOGRAM.to_string()),
            STORE_BUCKETS,
        )
        .map_err(|e| MetricsError(e.to_string()))?
        .set_buckets_for_metric(
            Matcher::Full(CONTEXT_QUERY_HISTOGRAM.to_string()),
            STORE_BUCKETS,
        )
        .map_err(|e| MetricsError(e.to_string()))?
        .install_recorder()
        .map_err(|e| MetricsError(e.to_string()))?;
    STARTED.get_or_init(Instant::now);
    describe_metrics();
    process_collector().describe();
    metrics::gauge!(
        "hubwatch_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "revision" => REVISION
    )
    .set(1.0);
    refresh_process_metrics();
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Registers the help text of every metric, and zero values for the unlabelled counters so
/// they are scraped (and `increase()` works) before the first event.
pub(crate) fn describe_metrics() {
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

/// Marks the process start for `hubwatch_uptime_seconds` (first call wins; else the recorder's
/// installation counts as the start).
pub(crate) fn mark_started() {
    STARTED.get_or_init(Instant::now);
}

fn process_collector() -> &'static metrics_process::Collector {
    PROCESS.get_or_init(metrics_process::Collector::default)
}

/// Sets the process metrics and the uptime to their current values (before each scrape).
pub(crate) fn refresh_process_metrics() {
    process_collector().collect();
    let started = *STARTED.get_or_init(Instant::now);
    metrics::gauge!("hubwatch_uptime_seconds").set(started.elapsed().as_secs_f64());
}

/// Zero values for a sink's series, so they exist from start-up.
pub(crate) fn register_sink_metrics(sink: &str) {
    let labels = [("sink", sink.to_string())];
    metrics::counter!("hubwatch_sink_sent_total", &labels).increment(0);
    metrics::counter!("hubwatch_sink_failed_total", &labels).increment(0);
    metrics::counter!("hubwatch_sink_retries_total", &labels).increment(0);
    metrics::gauge!("hubwatch_sink_queue_depth", &labels).set(0.0);
    metrics::gauge!("hubwatch_sink_up", &labels).set(1.0);
}

/// Zero values for the context store's series, so they exist from start-up.
pub(crate) fn register_context_metrics(store: &'static str) {
    metrics::counter!("hubwatch_context_records_total", "store" => store).increment(0);
    for op in ["write", "query"] {
        metrics::counter!("hubwatch_context_errors_total", "store" => store, "op" => op)
            .increment(0);
    }
    metrics::counter!("hubwatch_context_unavailable_total", "store" => store).increment(0);
    metrics::gauge!("hubwatch_context_retry_queue").set(0.0);
    metrics::gauge!("hubwatch_context_up").set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help() {
        for (name, _, help) in METRICS {
            assert!(name.starts_with("hubwatch_"));
            assert!(!help.is_empty());
        }
    }

    #[test]
    fn process_metrics_are_exported_under_their_standard_names() {
        let handle = metrics_handle().expect("recorder");
        refresh_process_metrics();
        let text = handle.render();
        for name in PROCESS_METRICS {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "{name} missing from /metrics"
            );
        }
    }
}
