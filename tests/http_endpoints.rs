//! End to end through the binary: `hubwatch run` with a followed file source serves /healthz,
//! /readyz and /metrics; `hubwatch healthcheck` agrees; SIGTERM stops it cleanly; log formats;
//! listener errors; secrets never show up in output or metrics.

#[path = "support/process.rs"]
mod service;

use service::{command, get, poll, sample, Running};
use std::path::Path;
use std::time::Duration;

const SAMPLE: &str = include_str!("../samples/activity-log.jsonl");

fn write_config(
    dir: &Path,
    extra_source: &str,
    http_listen: &str,
    sinks: &str,
) -> std::path::PathBuf {
    let config = dir.join("config.toml");
    let text = format!(
        r#"
[service]
state_dir = "{state}"
shutdown_grace_secs = 5

[http]
listen = "{http_listen}"

[source]
{extra_source}

[checkpoint]
kind = "memory"

{sinks}
"#,
        state = dir.join("state").display(),
    );
    std::fs::write(&config, text).expect("write config");
    config
}

fn file_source(input: &Path, follow: bool) -> String {
    format!(
        "kind = \"file\"\npath = \"{}\"\nfollow = {follow}",
        input.display()
    )
}

const STDOUT_SINK: &str = "[[sinks]]\nkind = \"stdout\"\n";

fn healthcheck(url: &str) -> std::process::Output {
    command()
        .args(["healthcheck", "--url", url])
        .output()
        .expect("run healthcheck")
}

#[test]
fn endpoints_metrics_healthcheck_and_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "").expect("input");
    let config = write_config(
        dir.path(),
        &file_source(&input, true),
        "127.0.0.1:0",
        STDOUT_SINK,
    );
    let mut hw = Running::start(&config, &[], &["--log-format", "json"]);
    let addr = hw.http_addr(Duration::from_secs(20));

    let (status, body) = get(addr, "/healthz").expect("GET /healthz");
    assert_eq!((status, body.trim()), (200, "ok"));

    // The file source counts as connected once it runs.
    let (_, body) = poll(addr, "/readyz", Duration::from_secs(10), |s, _| s == 200);
    assert_eq!(body.trim(), "ready");

    let (status, _) = get(addr, "/nope").expect("GET /nope");
    assert_eq!(status, 404);

    // Metrics exist (with help text) before any input...
    let (status, metrics) = get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    for name in [
        "hubwatch_bodies_total",
        "hubwatch_records_total",
        "hubwatch_matches_total",
        "hubwatch_rule_errors_total",
        "hubwatch_sink_sent_total",
        "hubwatch_sink_failed_total",
        "hubwatch_sink_retries_total",
        "hubwatch_sink_queue_depth",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "no # HELP for {name}:\n{metrics}"
        );
    }
    assert!(metrics.contains("# TYPE hubwatch_bodies_total counter"));
    assert!(metrics.contains("hubwatch_sink_sent_total{sink=\"stdout\"} 0"));
    assert_eq!(sample(&metrics, "hubwatch_bodies_total"), Some(0.0));

    // ...and move once lines are appended to the followed file.
    let lines = SAMPLE.lines().filter(|l| !l.trim().is_empty()).count();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .expect("open input");
        f.write_all(SAMPLE.as_bytes()).expect("append");
    }
    let (_, metrics) = poll(addr, "/metrics", Duration::from_secs(20), |_, m| {
        sample(m, "hubwatch_bodies_total").unwrap_or(0.0) >= lines as f64
    });
    assert!(sample(&metrics, "hubwatch_records_total").unwrap_or(0.0) > 0.0);
    assert!(
        metrics.contains("# HELP hubwatch_alerts_total "),
        "{metrics}"
    );
    assert!(metrics.contains("hubwatch_alerts_total{rule="), "{metrics}");

    let url = format!("http://{addr}/readyz");
    let out = healthcheck(&url);
    assert!(
        out.status.success(),
        "healthcheck failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));

    let status = hw.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit {status}:\n{}", hw.stderr());
    let log = hw.stderr();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("hubwatch stopped"), "{log}");
    for line in log.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    // Alerts went to stdout.
    assert!(hw.stdout().lines().count() > 0);

    // The listener is gone with the process: the health check now fails, with a reason.
    let out = healthcheck(&url);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("not ready: "), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn build_process_and_uptime_metrics_and_structured_sources_in_json_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    // The sample holds a malformed line: its WARN names the line's source.
    std::fs::write(&input, SAMPLE).expect("input");
    let config = write_config(
        dir.path(),
        &file_source(&input, true),
        "127.0.0.1:0",
        STDOUT_SINK,
    );
    let mut hw = Running::start(&config, &[], &["--log-format", "json"]);
    let addr = hw.http_addr(Duration::from_secs(20));
    let pid = hw.child.id();
    let (_, first) = poll(addr, "/metrics", Duration::from_secs(20), |_, m| {
        sample(m, "hubwatch_bodies_total").unwrap_or(0.0) > 0.0
    });

    let build = first
        .lines()
        .find(|l| l.starts_with("hubwatch_build_info{"))
        .unwrap_or_else(|| panic!("no hubwatch_build_info:\n{first}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("revision=\"")
            && build.ends_with(" 1"),
        "{build}"
    );
    for name in [
        "hubwatch_build_info",
        "hubwatch_uptime_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            first.contains(&format!("# HELP {name} ")),
            "no # HELP for {name}:\n{first}"
        );
    }
    // The values are this process's own.
    let rss = sample(&first, "process_resident_memory_bytes").expect("rss");
    let vm_rss = (service::status_kib(pid, "VmRSS:") * 1024) as f64;
    assert!(
        rss > vm_rss / 2.0 && rss < vm_rss * 2.0,
        "rss {rss} vs VmRSS {vm_rss}"
    );
    let fds = sample(&first, "process_open_fds").expect("open fds");
    let listed = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0) as f64;
    assert!(
        fds >= 3.0 && (fds - listed).abs() <= 8.0,
        "{fds} open fds vs {listed} listed"
    );
    // A counter (the metrics facade counts in integers: whole CPU seconds).
    assert!(sample(&first, "process_cpu_seconds_total").expect("cpu") >= 0.0);
    assert!(
        first.contains("# TYPE process_cpu_seconds_total counter"),
        "{first}"
    );
    let up = sample(&first, "hubwatch_uptime_seconds").expect("uptime");
    std::thread::sleep(Duration::from_millis(1100));
    let (_, later) = get(addr, "/metrics").expect("GET /metrics");
    let up_later = sample(&later, "hubwatch_uptime_seconds").expect("uptime");
    assert!(up_later >= up + 1.0, "uptime {up} then {up_later}");

    let status = hw.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit {status}:\n{}", hw.stderr());
    let log = hw.stderr();
    let bad: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "bad input dead-lettered")
        .collect();
    assert!(!bad.is_empty(), "{log}");
    for v in &bad {
        let source = &v["source"];
        assert_eq!(source["kind"], "file", "source is a JSON object: {v}");
        assert_eq!(source["path"], input.display().to_string().as_str(), "{v}");
        assert!(source["line"].as_u64().is_some_and(|n| n > 0), "{v}");
    }
    let started = log
        .lines()
        .find(|l| l.contains("sinks started; starting the source"))
        .expect("sinks started line");
    assert!(started.contains("\"source\":\"file\""), "{started}");
}

#[test]
fn healthcheck_against_a_closed_port_exits_1() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let started = std::time::Instant::now();
    let out = healthcheck(&format!("http://127.0.0.1:{port}/readyz"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
    assert!(started.elapsed() < Duration::from_secs(10));

    // The default URL comes from HUBWATCH_HTTP__LISTEN, with the wildcard host mapped to loopback.
    let out = command()
        .arg("healthcheck")
        .env("HUBWATCH_HTTP__LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .expect("run healthcheck");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/readyz")),
        "{err}"
    );
}

#[test]
fn listener_bind_error_names_the_address() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "").expect("input");
    let config = write_config(
        dir.path(),
        &file_source(&input, true),
        &addr.to_string(),
        STDOUT_SINK,
    );
    let mut hw = Running::start(&config, &[], &[]);
    let status = hw.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(2));
    let log = hw.stderr();
    assert!(log.contains(&addr.to_string()), "{log}");
    assert!(log.contains("cannot listen"), "{log}");
    drop(held);
}

#[test]
fn empty_listen_disables_http_and_log_formats_follow_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, SAMPLE).expect("input");

    // Auto (stderr is a pipe here): JSON.
    let config = write_config(dir.path(), &file_source(&input, false), "", STDOUT_SINK);
    let mut hw = Running::start(&config, &[], &[]);
    assert!(
        hw.wait(Duration::from_secs(30)).success(),
        "{}",
        hw.stderr()
    );
    let log = hw.stderr();
    assert!(log.contains("http listener disabled"), "{log}");
    assert!(!log.contains("http listener started"), "{log}");
    assert!(log
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));

    // --log-format text wins over the automatic choice.
    let mut hw = Running::start(&config, &[], &["--log-format", "text"]);
    assert!(
        hw.wait(Duration::from_secs(30)).success(),
        "{}",
        hw.stderr()
    );
    let log = hw.stderr();
    assert!(log.contains("hubwatch starting"), "{log}");
    assert!(log.lines().all(|l| !l.starts_with('{')), "{log}");

    // [service] log_format via an environment override.
    let mut hw = Running::start(&config, &[("HUBWATCH_SERVICE__LOG_FORMAT", "text")], &[]);
    assert!(
        hw.wait(Duration::from_secs(30)).success(),
        "{}",
        hw.stderr()
    );
    assert!(hw.stderr().lines().all(|l| !l.starts_with('{')));

    // HUBWATCH_LOG_FORMAT (the flag's variable) beats the configuration.
    let mut hw = Running::start(
        &config,
        &[
            ("HUBWATCH_SERVICE__LOG_FORMAT", "text"),
            ("HUBWATCH_LOG_FORMAT", "json"),
        ],
        &[],
    );
    assert!(
        hw.wait(Duration::from_secs(30)).success(),
        "{}",
        hw.stderr()
    );
    assert!(hw
        .stderr()
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}

// ---- secrets ------------------------------------------------------------------------------

const FAKE_SAS_KEY: &str = "c2VjcmV0LXNhcy1rZXktZG8tbm90LWxvZy1tZQ-FAKE0123456789=";
const FAKE_WEBHOOK_SECRET: &str = "whsec_FAKE_0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const FAKE_CLIENT_SECRET: &str = "cs~FAKE.client.secret.value_9876543210";

fn assert_no_secret(what: &str, text: &str) {
    for secret in [FAKE_SAS_KEY, FAKE_WEBHOOK_SECRET, FAKE_CLIENT_SECRET] {
        assert!(
            !text.contains(secret),
            "{what} contains a secret ({secret}):\n{text}"
        );
    }
    // A fragment long enough to be identifying must not leak either (e.g. partly redacted).
    assert!(!text.contains("c2VjcmV0LXNhcy1rZXk"), "{what}:\n{text}");
}

/// Secrets in the environment, referenced by the configuration, with the Event Hubs source
/// failing to connect (so its errors are logged, and /readyz reports it) at debug level.
#[test]
fn secrets_never_appear_in_output_or_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let connection_string = format!(
        "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=hubwatch-test;SharedAccessKey={FAKE_SAS_KEY};EntityPath=hub"
    );
    let source = format!(
        r#"kind = "eventhubs"
eventhub = "hub"
consumer_group = "hubwatch"
credential = "connection-string"
connection_string_env = "HW_TEST_EVENTHUBS_CONNECTION_STRING"
custom_endpoint = "amqp://127.0.0.1:{}""#,
        closed.port()
    );
    let config = write_config(dir.path(), &source, "127.0.0.1:0", STDOUT_SINK);
    let env = [
        (
            "HW_TEST_EVENTHUBS_CONNECTION_STRING",
            connection_string.as_str(),
        ),
        ("HW_TEST_WEBHOOK_SECRET", FAKE_WEBHOOK_SECRET),
        ("AZURE_CLIENT_SECRET", FAKE_CLIENT_SECRET),
        ("RUST_LOG", "debug"),
    ];
    let mut hw = Running::start(&config, &env, &["--log-format", "json"]);
    let addr = hw.http_addr(Duration::from_secs(20));

    // Not connected: 503 with the reason, and the health check says so in one line.
    let (status, body) = poll(addr, "/readyz", Duration::from_secs(10), |s, _| s == 503);
    assert_eq!(status, 503);
    assert!(body.contains("source not connected"), "{body}");
    let out = healthcheck(&format!("http://{addr}/readyz"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("source not connected"), "{err}");

    // Let a few connection attempts fail and be logged.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !hw.stderr().contains("cannot connect to Event Hubs")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (_, metrics) = get(addr, "/metrics").expect("GET /metrics");
    let status = hw.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit {status}:\n{}", hw.stderr());

    let stderr = hw.stderr();
    assert!(
        stderr.contains("cannot connect to Event Hubs"),
        "expected a connection failure in the logs:\n{stderr}"
    );
    assert_no_secret("stderr", &stderr);
    assert_no_secret("stdout", &hw.stdout());
    assert_no_secret("/metrics", &metrics);
    assert_no_secret("/readyz", &body);
}

/// The same with a file source and stdout sink: alerts, dead letters and logs carry no secret.
#[test]
fn secrets_in_the_environment_stay_out_of_a_file_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, SAMPLE).expect("input");
    let config = write_config(dir.path(), &file_source(&input, false), "", STDOUT_SINK);
    let sas = format!(
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={FAKE_SAS_KEY}"
    );
    let env = [
        ("EVENTHUBS_CONNECTION_STRING", sas.as_str()),
        ("HUBWATCH_WEBHOOK_SECRET", FAKE_WEBHOOK_SECRET),
        ("AZURE_CLIENT_SECRET", FAKE_CLIENT_SECRET),
        ("RUST_LOG", "trace"),
    ];
    let mut hw = Running::start(&config, &env, &[]);
    assert!(
        hw.wait(Duration::from_secs(30)).success(),
        "{}",
        hw.stderr()
    );
    assert!(!hw.stdout().is_empty(), "expected alerts on stdout");
    assert_no_secret("stderr", &hw.stderr());
    assert_no_secret("stdout", &hw.stdout());
    for entry in std::fs::read_dir(dir.path().join("state")).expect("state dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert_no_secret(&path.display().to_string(), &text);
        }
    }
}

/// A file source whose position cannot be saved makes `/readyz` 503 until a save succeeds.
#[test]
fn a_failing_file_checkpoint_makes_readyz_503_until_it_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "").expect("input");
    let config = write_config(
        dir.path(),
        &file_source(&input, true),
        "127.0.0.1:0",
        STDOUT_SINK,
    );
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("kind = \"memory\"", "kind = \"file\"\ninterval_ms = 50");
    std::fs::write(&config, text).expect("config");
    let mut hw = Running::start(&config, &[], &["--log-format", "json"]);
    let addr = hw.http_addr(Duration::from_secs(20));
    poll(addr, "/readyz", Duration::from_secs(10), |s, _| s == 200);
    let append = |text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .expect("open input");
        f.write_all(text.as_bytes()).expect("append");
    };
    let line = SAMPLE
        .lines()
        .find(|l| !l.trim().is_empty())
        .expect("a sample");
    append(&format!("{line}\n"));
    let positions = dir.path().join("state/checkpoints/file-positions.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !positions.is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {}",
            positions.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A non-empty directory where the positions file goes: every replacement fails.
    std::fs::remove_file(&positions).expect("remove positions");
    std::fs::create_dir_all(positions.join("blocked")).expect("block positions");
    append(&format!("{line}\n"));
    let (_, body) = poll(addr, "/readyz", Duration::from_secs(20), |s, _| s == 503);
    assert!(body.contains("checkpoint"), "{body}");
    std::fs::remove_dir_all(&positions).expect("unblock positions");
    append(&format!("{line}\n"));
    poll(addr, "/readyz", Duration::from_secs(20), |s, _| s == 200);
    assert!(positions.is_file());
    assert!(hw.terminate(Duration::from_secs(10)).success());
}
