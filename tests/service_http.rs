//! Health, readiness and metrics of `hubwatch run` against the local Event Hubs server:
//! `/readyz` is 503 until the source connects, counters move as events flow, consumer lag
//! drops to 0 once caught up, and the end-to-end latency histogram has observations.

mod support;

use std::time::Duration;
use support::process::{get, poll, sample};
use support::service::*;

fn http_addr(log: &std::path::Path) -> std::net::SocketAddr {
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("http listener started")) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            return v["addr"].as_str().unwrap().parse().unwrap();
        }
        assert!(std::time::Instant::now() < end, "no listener line:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of a labelled sample, e.g. `name{partition="0"}`.
fn labelled(exposition: &str, name: &str, label: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let (n, v) = l.rsplit_once(' ')?;
        (n.starts_with(name) && n.contains(label))
            .then(|| v.parse().ok())
            .flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics_follow_the_source() {
    let dir = tempfile::tempdir().unwrap();
    // A port for the server, which starts only later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = config(dir.path(), port, "");
    let log = dir.path().join("run.log");
    let hw = Hubwatch::start_with_env(&config, &log, &[("HUBWATCH_HTTP__LISTEN", "127.0.0.1:0")]);
    let addr = tokio::task::block_in_place(|| http_addr(&log));

    let (status, body) = tokio::task::block_in_place(|| get(addr, "/readyz")).unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("source not connected"), "{body}");
    assert_eq!(
        tokio::task::block_in_place(|| get(addr, "/healthz"))
            .unwrap()
            .0,
        200
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        tokio::task::block_in_place(|| get(addr, "/readyz"))
            .unwrap()
            .0,
        503
    );

    let emu = start_emulator_on(&port.to_string(), 2, None).await;
    tokio::task::block_in_place(|| poll(addr, "/readyz", Duration::from_secs(60), |s, _| s == 200));

    let producer = producer(port).await;
    let bodies: Vec<String> = (0..20).map(|i| matching_body(&format!("m{i}"))).collect();
    send(&producer, "0", &bodies[..10]).await;
    send(&producer, "1", &bodies[10..]).await;
    tokio::task::block_in_place(|| {
        hw.wait_for(Duration::from_secs(60), "20 alerts", |a| a.len() >= 20)
    });

    let (_, metrics) = tokio::task::block_in_place(|| {
        poll(addr, "/metrics", Duration::from_secs(30), |_, m| {
            labelled(m, "hubwatch_partition_lag_events", "partition=\"0\"") == Some(0.0)
                && labelled(m, "hubwatch_partition_lag_events", "partition=\"1\"") == Some(0.0)
        })
    });
    assert_eq!(
        sample(&metrics, "hubwatch_bodies_total"),
        Some(20.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "hubwatch_records_total"), Some(40.0));
    assert_eq!(
        labelled(
            &metrics,
            "hubwatch_alerts_total",
            "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered"
        ),
        Some(20.0)
    );
    assert_eq!(
        labelled(&metrics, "hubwatch_sink_sent_total", "sink=\"stdout\""),
        Some(20.0)
    );
    assert_eq!(
        labelled(
            &metrics,
            "hubwatch_partition_sequence_number",
            "partition=\"1\""
        ),
        Some(9.0)
    );
    assert_eq!(
        sample(&metrics, "hubwatch_end_to_end_latency_seconds_count"),
        Some(20.0),
        "{metrics}"
    );
    assert!(metrics.contains("# HELP hubwatch_partition_lag_events"));

    // More events: the counters move again.
    send(&producer, "0", &[matching_body("late")]).await;
    tokio::task::block_in_place(|| {
        poll(addr, "/metrics", Duration::from_secs(30), |_, m| {
            sample(m, "hubwatch_bodies_total") == Some(21.0)
        })
    });
    let (code, _) = tokio::task::block_in_place(|| hw.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0));
    emu.shutdown().await;
}
