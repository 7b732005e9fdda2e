//! `hubwatch replay` with a context store (a real SQLite file, a real `redis-server`): a
//! scripted Key Vault history answers the runbook's three questions in each alert's
//! `runbook_answers`, only from records at or before the alert's event time; replaying the same
//! stream again (into the same store: the writes are idempotent) answers the same; two
//! replays sharing one Redis (two replicas) answer from each other's records; a replay started
//! while Redis is down waits for it and loses no record.

#[path = "support/kv_history.rs"]
mod kv_history;
#[path = "support/redis.rs"]
mod redis_support;

use kv_history::*;
use redis_support::{unique_prefix, Redis};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn replay(input: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_hubwatch"))
        .arg("replay")
        .arg("--no-dedup")
        .args(args)
        .arg(input)
        .output()
        .expect("run hubwatch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect()
}

fn write_input(dir: &Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").expect("input written");
    p
}

#[test]
fn sqlite_answers_the_runbook_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "in.jsonl", &history());
    let db = dir.path().join("state/context.sqlite");
    let args = ["--context-sqlite", db.to_str().unwrap()];
    let first = replay(&input, &args);
    check_answers(&first, "sqlite");
    // Without a store the alerts are what the rules make.
    let plain = replay(&input, &[]);
    let updates: Vec<&Value> = first
        .iter()
        .filter(|a| a["kind"] == "alert_update")
        .collect();
    // The SecretGet alert 2 hours before T0 is followed up once the stream passes T0+4h.
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(
        updates[0]["rule_id"],
        "Azure.KeyVault.AuditEvent.SecretAccessedOrRecovered"
    );
    assert_eq!(plain.len(), first.len() - 1);
    assert!(plain.iter().all(|a| a.get("runbook_answers").is_none()));
    // Again into the same store: nothing is stored twice and every answer is the same.
    // Nine records; retention (30 days behind the newest) removes the one of 40 days before.
    let retention = 30 * 86_400_000;
    let store = hubwatch::context::sqlite::SqliteStore::open(&db, retention, 1 << 30).unwrap();
    assert_eq!(store.count().unwrap(), 9);
    assert_eq!(store.maintain().unwrap(), 1);
    let stored = store.count().unwrap();
    assert_eq!(stored, 8);
    drop(store);
    let second = replay(&input, &args);
    assert_eq!(answers(&first), answers(&second));
    let store = hubwatch::context::sqlite::SqliteStore::open(&db, retention, 1 << 30).unwrap();
    store.maintain().unwrap();
    assert_eq!(store.count().unwrap(), stored);
}

#[test]
fn redis_answers_the_runbook_deterministically() {
    let Some(redis) = Redis::shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "in.jsonl", &history());
    let prefix = unique_prefix("replay");
    let args = [
        "--context-redis",
        &redis.url,
        "--context-redis-prefix",
        &prefix,
    ];
    let first = replay(&input, &args);
    check_answers(&first, "redis");
    let mut conn = redis.connection();
    let members = |conn: &mut redis::Connection| -> i64 {
        redis::cmd("ZCARD")
            .arg(format!("{prefix}id:oid-b"))
            .query(conn)
            .unwrap()
    };
    assert_eq!(members(&mut conn), 2);
    let second = replay(&input, &args);
    assert_eq!(answers(&first), answers(&second));
    assert_eq!(members(&mut conn), 2, "a replayed write is stored once");
}

#[test]
fn two_replicas_sharing_redis_answer_from_each_others_records() {
    let Some(redis) = Redis::shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lines = history();
    // Replica A reads the partition with the history, replica B the one with the alerts.
    let a = write_input(dir.path(), "a.jsonl", &lines[..4]);
    let b = write_input(dir.path(), "b.jsonl", &lines[4..]);
    let prefix = unique_prefix("replicas");
    let args = [
        "--context-redis",
        &redis.url,
        "--context-redis-prefix",
        &prefix,
    ];
    replay(&a, &args);
    let alerts = replay(&b, &args);
    check_answers(&alerts, "redis");
    // Each with its own SQLite file, B knows nothing of A's records.
    let db = dir.path().join("b.sqlite");
    let alone = replay(&b, &["--context-sqlite", db.to_str().unwrap()]);
    let ip = &key_get(&alone, "oid-c")["runbook_answers"]["caller_ip_keyvault_operations"];
    assert_eq!(ip["count"], 0);
}

#[test]
fn replay_waits_for_an_unreachable_store_and_loses_nothing() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lines = history();
    let input = write_input(dir.path(), "in.jsonl", &lines);
    let prefix = unique_prefix("outage");
    redis.stop();
    let url = redis.url.clone();
    // Replay waits for the store to write (a replay loses nothing); bring it back meanwhile.
    let child = Command::new(env!("CARGO_BIN_EXE_hubwatch"))
        .args([
            "replay",
            "--no-dedup",
            "--context-redis",
            &url,
            "--context-redis-prefix",
            &prefix,
        ])
        .arg(&input)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    redis.restart();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut conn = redis.connection();
    let n: i64 = redis::cmd("ZCARD")
        .arg(format!("{prefix}id:oid-a"))
        .query(&mut conn)
        .unwrap();
    // T0, T0+2h and T0+5h30; the record 40 days before the newest is past the retention.
    assert_eq!(
        n, 3,
        "every record of the history was written once the store was back"
    );
    let alerts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    check_answers(&alerts, "redis");
}

#[test]
fn follow_ups_are_kept_and_sent_once_the_stream_passes_six_hours() {
    for store in ["sqlite", "redis"] {
        let redis = if store == "redis" {
            match Redis::shared() {
                Some(r) => Some(r),
                None => continue,
            }
        } else {
            None
        };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("context.sqlite");
        let prefix = unique_prefix("followups");
        let args: Vec<String> = match &redis {
            Some(r) => vec![
                "--context-redis".into(),
                r.url.clone(),
                "--context-redis-prefix".into(),
                prefix,
            ],
            None => vec!["--context-sqlite".into(), db.display().to_string()],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // The history alone: the follow-ups are not due, and stay kept in the store.
        let first = write_input(dir.path(), "first.jsonl", &history());
        let alerts = replay(&first, &args);
        assert!(keyget_updates(&alerts).is_empty(), "{store}");
        // A later replay (another process) reads on and sends them.
        let second = write_input(dir.path(), "second.jsonl", &later());
        let updates = replay(&second, &args);
        check_updates(&updates);
        // Sent once: reading on sends nothing more.
        let again = replay(&second, &args);
        assert!(
            again.iter().all(|a| a.get("kind").is_none()),
            "{store}: {again:#?}"
        );
        // The whole stream at once, into a fresh store, sends the same updates after the alerts.
        let whole: Vec<String> = history().into_iter().chain(later()).collect();
        let input = write_input(dir.path(), "whole.jsonl", &whole);
        let fresh = dir.path().join("fresh.sqlite");
        let fresh_prefix = unique_prefix("followups-fresh");
        let args: Vec<String> = match &redis {
            Some(r) => vec![
                "--context-redis".into(),
                r.url.clone(),
                "--context-redis-prefix".into(),
                fresh_prefix,
            ],
            None => vec!["--context-sqlite".into(), fresh.display().to_string()],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let all = replay(&input, &args);
        check_updates(&all);
        // Each update comes after the alert it follows up, and after the records of its window.
        let keyget = |a: &Value| a["rule_id"] == "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered";
        let last_alert = all
            .iter()
            .rposition(|a| keyget(a) && a.get("kind").is_none())
            .unwrap();
        let first_update = all
            .iter()
            .position(|a| keyget(a) && a["kind"] == "alert_update")
            .unwrap();
        assert!(first_update > last_alert + 1, "{store}: {all:#?}");
        let strip = |v: &[Value]| -> Vec<Value> {
            keyget_updates(v)
                .into_iter()
                .map(|a| a["runbook_answers"].clone())
                .collect()
        };
        assert_eq!(
            strip(&all),
            strip(&updates),
            "{store}: the same answers whichever way the stream was read"
        );
    }
}
