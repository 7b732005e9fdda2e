//! `hubwatch replay` with a context store (a real SQLite file, a real `redis-server`): a
//! scripted Key Vault history answers the runbook's three questions in each alert's
//! `runbook_answers`, only from records at or before the alert's event time; replaying the same
//! stream again (into the same store: the writes are idempotent) answers the same; two
//! replays sharing one Redis (two replicas) answer from each other's records; a replay started
//! while Redis is down waits for it and loses no record.

#[path = "support/redis.rs"]
mod redis_support;

use redis_support::{unique_prefix, Redis};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const T0: &str = "2026-01-10T00:00:00Z";

/// `T0` plus `minutes` (may be negative), RFC 3339.
fn at(minutes: i64) -> String {
    let t0 =
        time::OffsetDateTime::parse(T0, &time::format_description::well_known::Rfc3339).unwrap();
    (t0 + time::Duration::minutes(minutes))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// One Key Vault AuditEvent record.
fn audit(
    minutes: i64,
    op: &str,
    vault: &str,
    object: &str,
    oid: &str,
    ip: &str,
    status: u16,
) -> Value {
    let collection = if op.starts_with("Key") {
        "keys"
    } else if op.starts_with("Secret") {
        "secrets"
    } else {
        "certificates"
    };
    json!({
        "time": at(minutes), "category": "AuditEvent", "operationName": op,
        "resultType": "Success", "resultSignature": if status == 200 { "OK" } else { "Forbidden" },
        "resourceId": format!("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{}", vault.to_uppercase()),
        "callerIpAddress": ip, "correlationId": format!("{op}-{minutes}-{oid}"),
        "identity": {"claim": {"oid": oid, "upn": format!("{oid}@contoso.com")}},
        "properties": {"id": format!("https://{vault}.vault.azure.net/{collection}/{object}/v1"), "httpStatusCode": status}
    })
}

fn body(records: &[Value]) -> String {
    json!({"records": records}).to_string()
}

const IP: &str = "203.0.113.5";

/// The history before the alerts, then the alerts, then records after them.
fn history() -> Vec<String> {
    vec![
        // 40 days before: outside the 30-day history.
        body(&[audit(
            -40 * 1440,
            "KeySign",
            "kv3",
            "old",
            "oid-a",
            "192.0.2.1",
            200,
        )]),
        // 2 hours before T0: outside the 6-hour IP window of the alert at T0+5h.
        body(&[audit(-120, "SecretGet", "kv9", "early", "oid-z", IP, 200)]),
        body(&[
            audit(0, "KeySign", "kv1", "pay", "oid-a", IP, 200),
            audit(60, "KeyDecrypt", "kv1", "pay", "oid-b", "198.51.100.9", 200),
            audit(61, "KeyDecrypt", "kv1", "pay", "oid-b", "198.51.100.9", 200),
        ]),
        body(&[audit(120, "SecretGet", "kv1", "db", "oid-a", IP, 403)]),
        // The alerts: a new identity reads the key from the same IP, then a known one.
        body(&[audit(300, "KeyGet", "kv1", "pay", "oid-c", IP, 200)]),
        body(&[audit(330, "KeyGet", "kv1", "pay", "oid-a", IP, 200)]),
        // After the alerts: never part of their answers, even when already stored.
        body(&[audit(331, "KeySign", "kv1", "pay", "oid-d", IP, 200)]),
    ]
}

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

/// The alert of `oid`'s KeyGet.
fn key_get<'a>(alerts: &'a [Value], oid: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| {
            a["rule_id"] == "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered"
                && a["actor"]["object_id"] == oid
        })
        .unwrap_or_else(|| panic!("no KeyGet alert for {oid}: {alerts:#?}"))
}

fn check_answers(alerts: &[Value], store: &str) {
    let new = &key_get(alerts, "oid-c")["runbook_answers"];
    assert_eq!(new["status"], "ok", "{new:#}");
    assert_eq!(new["store"], store);
    assert_eq!(new["as_of"], at(300));
    let ip = &new["caller_ip_keyvault_operations"];
    assert_eq!(ip["caller_ip"], IP);
    assert_eq!(ip["count"], 2, "{ip:#}");
    assert_eq!(ip["by_operation"], json!({"KeySign": 1, "SecretGet": 1}));
    assert_eq!(ip["by_vault"], json!({"kv1": 2}));
    assert_eq!(ip["newest"][0]["operation"], "SecretGet");
    assert_eq!(ip["newest"][0]["outcome"], "failure");
    assert_eq!(ip["newest"][1]["time"], at(0));
    assert_eq!(ip["window"]["from"], at(-60));
    let key = &new["key_usage"];
    assert_eq!(
        (key["vault"].as_str(), key["key"].as_str()),
        (Some("kv1"), Some("pay"))
    );
    assert_eq!(
        key["identities"],
        json!([
            {"identity": "oid-a", "identity_name": "oid-a@contoso.com", "count": 1, "last_seen": at(0)},
            {"identity": "oid-b", "identity_name": "oid-b@contoso.com", "count": 2, "last_seen": at(61)}
        ])
    );
    let h = &new["identity_history"];
    assert_eq!(
        (h["count"].as_u64(), &h["first_seen"], &h["new_for_vault"]),
        (Some(0), &Value::Null, &json!(true))
    );

    let known = &key_get(alerts, "oid-a")["runbook_answers"];
    let h = &known["identity_history"];
    // KeySign at T0 and SecretGet at T0+2h; the KeySign 40 days before is outside the window.
    assert_eq!(h["count"], 2, "{h:#}");
    assert_eq!(h["first_seen"], at(0));
    assert_eq!(h["vaults"], json!(["kv1"]));
    assert_eq!(h["new_for_vault"], false);
    assert_eq!(h["last_seen_on_vault"], at(120));
    // The new identity's KeyGet 30 minutes earlier is now in the IP's operations.
    let ip = &known["caller_ip_keyvault_operations"];
    assert_eq!(ip["count"], 3, "{ip:#}");
    assert_eq!(ip["newest"][0]["identity"], "oid-c");
    // Alerts of other rules carry no answers.
    for a in alerts {
        if !a["rule_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("Azure.KeyVault.AuditEvent")
        {
            assert!(a.get("runbook_answers").is_none());
        }
    }
}

fn answers(alerts: &[Value]) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = alerts
        .iter()
        .map(|a| {
            (
                a["alert_id"].as_str().unwrap_or("").to_string(),
                a["runbook_answers"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
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
    assert_eq!(plain.len(), first.len());
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
