//! A sink outage through the real path (local Event Hubs server -> `hubwatch run` -> a webhook
//! receiver that answers 503, then 200 again):
//! - `hubwatch_sink_queue_depth` shows the queue filling up while the worker is stuck retrying
//!   (it used to read 0: the gauge was set only when the worker took alerts);
//! - once the sink is back every alert arrives, the queue drains and the sink is up again.
//!
//! How long the return takes (from the receiver's first 200 to its previous attempt) and how
//! often a sink that is down is tried are printed, not asserted: `cargo test --test
//! sink_recovery -- --nocapture`. `measure_recovery` (ignored) compares backoff caps.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::fixtures::{serve, TestServer};
use support::process::{get, sample};
use support::service::*;

const EVENTS: usize = 20;
const QUEUE: usize = 5;

struct Outage {
    /// From the sink's return to its first accepted request.
    recovery: Duration,
    /// Attempts while the sink was down, and the longest wait between two of them.
    attempts: usize,
    longest_gap: Duration,
}

fn metric(addr: std::net::SocketAddr, name: &str) -> Option<f64> {
    get(addr, "/metrics")
        .ok()
        .and_then(|(_, m)| sample(&m, name))
}

/// Waits until the metric reads `value`; panics with the log after `within`.
fn wait_metric(
    addr: std::net::SocketAddr,
    name: &str,
    value: f64,
    within: Duration,
    log: &std::path::Path,
) {
    let end = Instant::now() + within;
    while metric(addr, name) != Some(value) {
        assert!(
            Instant::now() < end,
            "{name} never read {value} (last: {:?});\n{}",
            metric(addr, name),
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs hubwatch against a webhook that is down for `outage` (after its queue filled up), then
/// up; returns what the receiver saw. `backoff_max_ms` overrides the sink's retry cap.
async fn outage_and_recovery(outage: Duration, backoff_max_ms: Option<u64>) -> Outage {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(1, None).await;
    let up = Arc::new(AtomicBool::new(false));
    let receiver: TestServer = {
        let up = up.clone();
        serve(Arc::new(move |_, _| {
            let status = if up.load(Ordering::SeqCst) { 200 } else { 503 };
            (status, vec![])
        }))
        .await
    };
    let ids_sent: Vec<String> = (0..EVENTS).map(|i| format!("outage-{i}")).collect();
    let bodies: Vec<String> = ids_sent.iter().map(|id| matching_body(id)).collect();
    send(&producer(emu.local_addr()).await, "0", &bodies).await;

    let backoff = backoff_max_ms.map_or(String::new(), |ms| format!("retry_backoff_max_ms = {ms}"));
    let sink = format!(
        "\n[[sinks]]\nkind = \"webhook\"\nurl = \"{}\"\nqueue_size = {QUEUE}\nbatch_size = 1\nlinger_ms = 0\nretry_deadline_secs = 0\n{backoff}\n",
        receiver.url("/alerts")
    );
    let config = config(dir.path(), emu.local_addr(), &sink);
    let log = dir.path().join("hubwatch.log");
    let hw = Hubwatch::start_with_env(&config, &log, &[("HUBWATCH_HTTP__LISTEN", "127.0.0.1:0")]);
    let http = http_addr_from_log(&log, Duration::from_secs(30));

    // The sink is down: its queue fills up and the gauge says so.
    let depth = "hubwatch_sink_queue_depth{sink=\"webhook\"}";
    wait_metric(http, depth, QUEUE as f64, Duration::from_secs(60), &log);
    wait_metric(
        http,
        "hubwatch_sink_up{sink=\"webhook\"}",
        0.0,
        Duration::from_secs(60),
        &log,
    );
    let full_at = Instant::now();
    tokio::time::sleep(outage).await;
    assert_eq!(
        metric(http, depth),
        Some(QUEUE as f64),
        "the queue stays full while the sink is down"
    );
    let back = Instant::now();
    up.store(true, Ordering::SeqCst);

    // Back: every alert arrives, the queue drains, the sink is up.
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let accepted: std::collections::BTreeSet<String> = receiver
            .requests()
            .iter()
            .filter(|r| r.at >= back)
            .filter_map(|r| r.json()["correlationId"].as_str().map(String::from))
            .collect();
        if ids_sent.iter().all(|id| accepted.contains(id)) {
            break;
        }
        assert!(
            Instant::now() < end,
            "alerts missing after the sink came back: {accepted:?}\n{}",
            tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_metric(http, depth, 0.0, Duration::from_secs(30), &log);
    wait_metric(
        http,
        "hubwatch_sink_up{sink=\"webhook\"}",
        1.0,
        Duration::from_secs(30),
        &log,
    );
    let (code, _) = hw.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    emu.shutdown().await;

    let requests = receiver.requests();
    let first_accepted = requests
        .iter()
        .find(|r| r.at >= back)
        .map_or(back, |r| r.at);
    let down: Vec<Instant> = requests
        .iter()
        .filter(|r| r.at >= full_at && r.at < back)
        .map(|r| r.at)
        .collect();
    let longest_gap = down
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(down.last().map(|l| first_accepted - *l))
        .max()
        .unwrap_or_default();
    Outage {
        recovery: first_accepted - back,
        attempts: down.len(),
        longest_gap,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_shows_and_drains_when_the_sink_comes_back() {
    let outage = Duration::from_secs(10);
    let o = outage_and_recovery(outage, None).await;
    eprintln!(
        "sink back after a {outage:?} outage: first alert accepted {:?} later; {} attempts while down (longest wait {:?})",
        o.recovery, o.attempts, o.longest_gap
    );
}

/// The measurement behind `retry_backoff_max_ms` (README, Sinks): the old 30 s cap against the
/// default, three 40 s outages each. `cargo test --test sink_recovery -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_recovery() {
    for cap in [30_000, 4_000] {
        for run in 1..=3 {
            let o = outage_and_recovery(Duration::from_secs(40), Some(cap)).await;
            println!(
                "cap {cap} ms, run {run}: recovery {:.2} s, {} attempts in 40 s down ({:.2}/s), longest wait {:.2} s",
                o.recovery.as_secs_f64(),
                o.attempts,
                o.attempts as f64 / 40.0,
                o.longest_gap.as_secs_f64()
            );
        }
    }
}
