//! `hubwatch run` with the context store: the file source into SQLite answers as replay does;
//! two replicas (a file source and an Event Hubs source) sharing Redis answer from each other's
//! records; Redis restarted mid-stream loses nothing (alerts go out `unavailable`, `/readyz`
//! and the metrics say so, the checkpoint waits for the write); SIGKILL during context writes
//! loses no record and stores none twice.

mod support;

#[path = "support/kv_history.rs"]
mod kv_history;
#[path = "support/redis.rs"]
mod redis_support;

use kv_history::*;
use redis_support::{unique_prefix, Redis};
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::process::{get, poll, sample};
use support::service::*;
use tokio::task::block_in_place;

const WAIT: Duration = Duration::from_secs(60);

/// A file-source configuration with a `[context]` section.
fn file_config(dir: &Path, input: &Path, follow: bool, context: &str) -> PathBuf {
    let text = format!(
        r#"
[service]
state_dir = "{state}"
shutdown_grace_secs = 5
log_format = "json"
[http]
listen = "127.0.0.1:0"
[source]
kind = "file"
path = "{input}"
follow = {follow}
[checkpoint]
kind = "file"
interval_events = 1
interval_ms = 50
[rules]
dedup = false
[[sinks]]
kind = "stdout"
[context]
enabled = true
# Generous for a loaded CI machine; a stopped Redis refuses connections at once anyway.
write_timeout_ms = 5000
query_timeout_ms = 5000
{context}
"#,
        state = dir.join("state").display(),
        input = input.display(),
    );
    let path = dir.join("hubwatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn redis_context(url: &str, prefix: &str) -> String {
    format!("store = \"redis\"\n[context.redis]\nurl = \"{url}\"\nkey_prefix = \"{prefix}\"\nconnect_timeout_ms = 300\nresponse_timeout_ms = 500\n")
}

fn http_addr(log: &Path) -> SocketAddr {
    let end = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("http listener started")) {
            let v: Value = serde_json::from_str(line).unwrap();
            return v["addr"].as_str().unwrap().parse().unwrap();
        }
        assert!(Instant::now() < end, "no listener line:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_all().unwrap();
}

fn delivered_lines(dir: &Path, input: &Path) -> u64 {
    let p = dir.join("state/checkpoints/file-positions.json");
    let v: Value = std::fs::read(&p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    v[input.display().to_string()].as_u64().unwrap_or(0)
}

fn zcard(redis: &Redis, key: &str) -> i64 {
    let mut c = redis.connection();
    redis::cmd("ZCARD").arg(key).query(&mut c).unwrap()
}

fn keygets(alerts: &[Value]) -> usize {
    alerts
        .iter()
        .filter(|a| a["rule_id"] == "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered")
        .count()
}

#[test]
fn run_with_the_file_source_and_sqlite_answers_like_replay() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    append(&input, &history());
    let config = file_config(dir.path(), &input, false, "");
    let mut hw = Hubwatch::start(&config, &dir.path().join("hubwatch.log"));
    let status = hw.wait_exit(WAIT);
    assert!(status.success(), "{}", tail(&hw.log));
    std::thread::sleep(Duration::from_millis(200));
    let alerts = hw.alerts();
    check_answers(&alerts, "sqlite");
    assert!(
        dir.path().join("state/context.sqlite").exists(),
        "the default file is under state_dir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_the_eventhubs_source_and_sqlite_answers_like_replay() {
    let emulator = start_emulator(2, None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::service::config(
        dir.path(),
        emulator.local_addr(),
        "[context]\nenabled = true\nwrite_timeout_ms = 5000\nquery_timeout_ms = 5000\n",
    );
    let hw = Hubwatch::start(&config, &dir.path().join("hubwatch.log"));
    let producer = producer(emulator.local_addr()).await;
    send(&producer, "0", &history()).await;
    let alerts = block_in_place(|| hw.wait_for(WAIT, "both KeyGet alerts", |a| keygets(a) == 2));
    check_answers(&alerts, "sqlite");
    assert!(dir.path().join("state/context.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_redis_answer_from_each_others_records_file_and_eventhubs() {
    let Some(redis) = Redis::shared() else { return };
    let prefix = unique_prefix("service-replicas");
    let lines = history();
    // Replica A: the file source, with the history.
    let a = tempfile::tempdir().unwrap();
    let input = a.path().join("in.jsonl");
    append(&input, &lines[..4]);
    let config = file_config(a.path(), &input, false, &redis_context(&redis.url, &prefix));
    let mut hw_a = Hubwatch::start(&config, &a.path().join("hubwatch.log"));
    let status = block_in_place(|| hw_a.wait_exit(WAIT));
    assert!(status.success(), "{}", tail(&hw_a.log));
    // Replica B: Event Hubs, with the alerts.
    let emulator = start_emulator(2, None).await;
    let b = tempfile::tempdir().unwrap();
    let extra = format!(
        "[context]\nenabled = true\n{}",
        redis_context(&redis.url, &prefix)
    );
    let config = support::service::config(b.path(), emulator.local_addr(), &extra);
    let hw_b = Hubwatch::start(&config, &b.path().join("hubwatch.log"));
    let producer = producer(emulator.local_addr()).await;
    send(&producer, "1", &lines[4..]).await;
    let alerts = block_in_place(|| hw_b.wait_for(WAIT, "both KeyGet alerts", |a| keygets(a) == 2));
    check_answers(&alerts, "redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_stream_loses_nothing() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let prefix = unique_prefix("restart");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines = history();
    append(&input, &lines[..4]);
    let config = file_config(
        dir.path(),
        &input,
        true,
        &redis_context(&redis.url, &prefix),
    );
    let log = dir.path().join("hubwatch.log");
    let hw = Hubwatch::start(&config, &log);
    let addr = block_in_place(|| http_addr(&log));
    let oid = |o: &str| format!("{prefix}id:{o}");
    block_in_place(|| {
        let end = Instant::now() + WAIT;
        while zcard(&redis, &oid("oid-a")) < 2 || delivered_lines(dir.path(), &input) < 4 {
            assert!(Instant::now() < end, "history not stored:\n{}", tail(&log));
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    redis.stop();
    // The alert goes out without waiting for the store, marked unavailable.
    append(&input, &lines[4..5]);
    let alerts =
        block_in_place(|| hw.wait_for(WAIT, "the first KeyGet alert", |a| keygets(a) == 1));
    let first = key_get(&alerts, "oid-c");
    assert_eq!(
        first["runbook_answers"]["status"], "unavailable",
        "{first:#}"
    );
    assert_eq!(first["runbook_answers"]["store"], "redis");
    let (status, body) = block_in_place(|| {
        poll(addr, "/readyz", WAIT, |s, b| {
            s == 503 && b.contains("context store failing")
        })
    });
    assert_eq!(status, 503, "{body}");
    let (_, metrics) = block_in_place(|| get(addr, "/metrics")).unwrap();
    assert_eq!(
        sample(&metrics, "hubwatch_context_up"),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("hubwatch_context_errors_total{store=\"redis\",op=\"write\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hubwatch_context_unavailable_total{store=\"redis\"} 1"),
        "{metrics}"
    );
    // The event whose write waits is not checkpointed.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(delivered_lines(dir.path(), &input), 4);
    // Back (with everything written before): the write is retried, readiness and the
    // checkpoint follow.
    block_in_place(|| redis.restart());
    block_in_place(|| poll(addr, "/readyz", WAIT, |s, _| s == 200));
    block_in_place(|| {
        let end = Instant::now() + WAIT;
        while delivered_lines(dir.path(), &input) < 5 {
            assert!(
                Instant::now() < end,
                "checkpoint did not advance:\n{}",
                tail(&log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(zcard(&redis, &oid("oid-c")), 1);
    assert_eq!(
        zcard(&redis, &oid("oid-b")),
        2,
        "the history survived the restart"
    );
    // The next alert is answered from everything, including the record written late.
    append(&input, &lines[5..]);
    let alerts =
        block_in_place(|| hw.wait_for(WAIT, "the second KeyGet alert", |a| keygets(a) == 2));
    let known = &key_get(&alerts, "oid-a")["runbook_answers"];
    assert_eq!(known["status"], "ok", "{known:#}");
    assert_eq!(known["caller_ip_keyvault_operations"]["count"], 3);
    assert_eq!(known["identity_history"]["count"], 2);
    let (code, _) = hw.terminate(WAIT);
    assert_eq!(code, Some(0));
}

#[test]
fn sigkill_during_context_writes_loses_no_record() {
    sigkill_during_context_writes(None);
}

#[test]
fn sigkill_during_redis_context_writes_loses_no_record() {
    let Some(redis) = Redis::shared() else { return };
    sigkill_during_context_writes(Some(&redis));
}

/// SIGKILL at four seeded moments while a file of Key Vault bodies is written to the store,
/// then a run to the end: every alert arrived, every record is stored exactly once.
fn sigkill_during_context_writes(redis: Option<&Redis>) {
    const BODIES: usize = 1500;
    const PER_BODY: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("sigkill");
    let input = dir.path().join("in.jsonl");
    let mut lines = Vec::with_capacity(BODIES);
    let mut alerting = std::collections::BTreeSet::new();
    for b in 0..BODIES {
        let mut recs: Vec<Value> = (0..PER_BODY)
            .map(|r| {
                audit(
                    (b * PER_BODY + r) as i64,
                    "KeySign",
                    "kv1",
                    "pay",
                    &format!("oid-{}", r % 7),
                    "192.0.2.9",
                    200,
                )
            })
            .collect();
        if b % 25 == 0 {
            let mut alert = audit(
                (b * PER_BODY) as i64,
                "KeyGet",
                "kv1",
                "pay",
                "oid-x",
                IP,
                200,
            );
            alert["correlationId"] = json!(format!("alert-{b}"));
            alerting.insert(format!("alert-{b}"));
            recs.push(alert);
        }
        lines.push(body(&recs));
    }
    append(&input, &lines);
    let total = BODIES * PER_BODY + alerting.len();
    let context = redis.map_or(String::new(), |r| redis_context(&r.url, &prefix));
    let config = file_config(dir.path(), &input, false, &context);
    let log = dir.path().join("hubwatch.log");
    let mut seen = std::collections::BTreeSet::new();
    let seed = std::env::var("HUBWATCH_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(17u64);
    let mut rng = seed;
    let mut cut_short = 0;
    for round in 0..4 {
        let hw = Hubwatch::start(&config, &log);
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = 300 + (rng >> 33) % 1200;
        std::thread::sleep(Duration::from_millis(after));
        let alerts = hw.kill9();
        let done = delivered_lines(dir.path(), &input);
        eprintln!(
            "round {round}: SIGKILL after {after} ms, {} alerts, {done} lines checkpointed",
            alerts.len()
        );
        if done < BODIES as u64 {
            cut_short += 1;
        }
        seen.extend(ids(&alerts));
    }
    assert!(
        cut_short > 0,
        "no SIGKILL landed before the end of the input"
    );
    let mut hw = Hubwatch::start(&config, &log);
    let status = hw.wait_exit(Duration::from_secs(180));
    assert!(status.success(), "{}", tail(&log));
    std::thread::sleep(Duration::from_millis(200));
    let last = hw.alerts();
    for a in &last {
        assert_eq!(a["runbook_answers"]["status"], "ok");
    }
    seen.extend(ids(&last));
    let missing: Vec<_> = alerting.difference(&seen).collect();
    assert!(missing.is_empty(), "alerts never delivered: {missing:?}");
    if let Some(redis) = redis {
        // Every operation is in exactly one identity's set.
        let stored: i64 = (0..7)
            .map(|r| format!("oid-{r}"))
            .chain(["oid-x".to_string()])
            .map(|oid| zcard(redis, &format!("{prefix}id:{oid}")))
            .sum();
        assert_eq!(stored as usize, total, "every record stored once");
        return;
    }
    let db = dir.path().join("state/context.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM ops", [], |r| r.get(0))
        .unwrap();
    let distinct: i64 = c
        .query_row("SELECT COUNT(DISTINCT correlation_id) FROM ops", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        (n as usize, distinct as usize),
        (total, total),
        "every record stored once"
    );
}

#[test]
fn noise_control_is_opt_in_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    append(&input, &history());
    let policy = r#"
[[context.noise]]
rules = ["Azure.KeyVault.AuditEvent.KeyAccessed*"]
raise_if_new_for_vault = true
suppress_if_seen_on_vault_within_days = 1
"#;
    let config = file_config(dir.path(), &input, false, policy);
    let mut hw = Hubwatch::start(&config, &dir.path().join("hubwatch.log"));
    assert!(hw.wait_exit(WAIT).success(), "{}", tail(&hw.log));
    std::thread::sleep(Duration::from_millis(200));
    let alerts = hw.alerts();
    // New to the vault: one level up, and said so.
    let new = key_get(&alerts, "oid-c");
    assert_eq!(new["severity"], "HIGH");
    assert_eq!(
        new["runbook_answers"]["noise_control"],
        json!({"action": "severity_raised", "from": "MEDIUM", "to": "HIGH", "why": "identity new for the vault"})
    );
    // oid-a used kv1 3.5 hours before its KeyGet: suppressed.
    assert_eq!(keygets(&alerts), 1, "{alerts:#?}");
    // Rules the policy does not name are untouched.
    let other = alerts
        .iter()
        .find(|a| a["rule_id"] == "Azure.KeyVault.AuditEvent.SecretAccessedOrRecovered")
        .expect("secret alert");
    assert_eq!(other["severity"], "MEDIUM");
    assert!(other["runbook_answers"].get("noise_control").is_none());
    // A policy that does nothing is refused.
    let bad = file_config(
        dir.path(),
        &input,
        false,
        "[[context.noise]]\nrules = [\"*\"]\n",
    );
    let out = support::process::command()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("context.noise[0]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_sends_alert_updates_once_the_stream_passes_six_hours() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    append(&input, &history());
    append(&input, &later());
    let config = file_config(dir.path(), &input, false, "");
    let mut hw = Hubwatch::start(&config, &dir.path().join("hubwatch.log"));
    assert!(hw.wait_exit(WAIT).success(), "{}", tail(&hw.log));
    std::thread::sleep(Duration::from_millis(200));
    let alerts = hw.alerts();
    check_updates(&alerts);
    // Delivered, so forgotten (shutdown waits for that): nothing is left to send.
    let c = rusqlite::Connection::open(dir.path().join("state/context.sqlite")).unwrap();
    let kept: Vec<String> = c
        .prepare("SELECT alert_id FROM followups")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for u in keyget_updates(&alerts) {
        assert!(!kept.iter().any(|k| *k == u["alert_id"]), "{kept:?}");
    }
    // Each update after the alert it follows up (sent through the pipeline's sinks).
    for u in keyget_updates(&alerts) {
        let at = alerts.iter().position(|a| std::ptr::eq(a, u)).unwrap();
        let original = alerts
            .iter()
            .position(|a| a.get("kind").is_none() && a["alert_id"] == u["alert_id"])
            .unwrap();
        assert!(original < at);
    }
}
