//! `hubwatch backfill` against Azurite (see `tests/support/azurite.rs`), over archives with the
//! blob names and layout diagnostic settings write (`tests/support/archive.rs`): only the hours
//! in range are read, alert ids are the ones `replay` (the live path's detection) gives, an
//! hour being appended while the backfill runs is read again later without losing or
//! repeating a line, a SIGKILLed backfill resumes without re-sending what a sink acknowledged,
//! and `--shard i/n` runs are disjoint and together cover the range. Auth: Shared Key, a
//! read-only SAS, and an Entra ID token from a managed identity (a local token endpoint, and a
//! bearer-checking proxy in front of Azurite: `tests/support/entra.rs`).

#[path = "support/archive.rs"]
mod archive;
#[path = "support/azurite.rs"]
mod azurite;
#[path = "support/entra.rs"]
mod entra;
#[path = "support/process.rs"]
mod process;

use archive::{Containers, Receiver};
use azurite::Azurite;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};
use time::macros::datetime;
use time::OffsetDateTime;

const FILE_SINK: &str = "[[sinks]]\nkind = \"file\"\npath = \"ALERTS\"\n";

fn file_sink(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let path = dir.join("alerts.jsonl");
    (
        FILE_SINK.replace("ALERTS", &path.display().to_string()),
        path,
    )
}

fn ids(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("hubwatch backfill runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "backfill failed: {stderr}");
    stderr
}

/// Switches `[backfill]` from Shared Key to `auth` (an `auth = ...` line and its keys) and drops
/// the shared-key keys: a key of another `auth` is refused.
fn set_auth(config: &std::path::Path, auth: &str) {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("account_name") && !l.starts_with("account_key_env"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("auth = \"shared-key\"", auth);
    std::fs::write(config, text).unwrap();
}

fn summary(stderr: &str) -> Value {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["backfill"] == "summary")
        .unwrap_or_else(|| panic!("no summary line in {stderr}"))
}

/// Three closed hours of two vaults and the Activity Log, several appends each, and one hour
/// outside the range: the alerts are those `replay` raises for the same lines, with the same
/// ids, each from its blob line; the hour outside the range is not read.
#[tokio::test(flavor = "multi_thread")]
async fn backfill_reads_the_range_with_the_live_alert_ids() {
    let azurite = Azurite::start().await;
    let c = Containers::new();
    let audit = archive::container(&azurite.account_url, &c.audit).await;
    let activity = archive::container(&azurite.account_url, &c.activity).await;
    let base = datetime!(2026-11-03 22:00 UTC);
    let mut all_lines = Vec::new();
    for h in 0..3 {
        let hour = base + time::Duration::hours(h);
        for vault in ["KV1", "KV2"] {
            let lines: Vec<String> = (0..30)
                .map(|i| {
                    archive::secret_get(
                        vault,
                        &format!("{vault}-h{h}-u{i}"),
                        hour + time::Duration::minutes(i),
                    )
                })
                .collect();
            archive::write_blob(&audit, &archive::audit_blob(vault, hour), &lines, 3).await;
            all_lines.extend(lines);
        }
        let lines: Vec<String> = (0..10)
            .map(|i| archive::key_read(&format!("192.0.2.{}", h * 10 + i), hour))
            .collect();
        archive::write_blob(&activity, &archive::activity_blob(hour), &lines, 4).await;
        all_lines.extend(lines);
    }
    // Outside the range: never listed, never read.
    let outside = base - time::Duration::hours(30);
    let stray = vec![archive::secret_get("KV1", "outside-the-range", outside)];
    archive::write_blob(&audit, &archive::audit_blob("KV1", outside), &stray, 1).await;

    let dir = tempfile::tempdir().unwrap();
    let (sinks, alerts_path) = file_sink(dir.path());
    let config = archive::config(dir.path(), &azurite.account_url, &c, &sinks, "");
    let stderr = run_ok(&mut archive::backfill(
        &config,
        &[
            "--from",
            "2026-11-03T22:00:00Z",
            "--to",
            "2026-11-04T01:00:00Z",
        ],
    ));
    let got = archive::alerts(&alerts_path);
    let s = summary(&stderr);
    assert_eq!(s["blobs"], 9, "{s}");
    assert_eq!(s["blobs_done"], 9, "{s}");
    assert_eq!(s["records"], all_lines.len() as u64, "{s}");
    assert!(!stderr.contains("outside-the-range"));
    assert!(got
        .iter()
        .all(|a| !a["event"].to_string().contains("outside-the-range")));
    for a in &got {
        assert_eq!(a["source"]["kind"], "blob", "{}", a["source"]);
        assert!(a["source"]["blob"]
            .as_str()
            .unwrap()
            .ends_with("/m=00/PT1H.json"));
    }

    // The same lines through `replay` (the live path's detection, dedup and alert building).
    let input = dir.path().join("lines.jsonl");
    std::fs::write(&input, all_lines.join("\n") + "\n").unwrap();
    let out = process::command()
        .arg("replay")
        .arg(&input)
        .output()
        .expect("replay runs");
    let replayed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replayed.len(), all_lines.len(), "one alert per record");
    let mut want = ids(&replayed);
    let mut have = ids(&got);
    want.sort();
    have.sort();
    assert_eq!(have, want, "backfill alert ids are the live path's");

    // Run again: everything is done, nothing is sent again.
    let stderr = run_ok(&mut archive::backfill(
        &config,
        &[
            "--from",
            "2026-11-03T22:00:00Z",
            "--to",
            "2026-11-04T01:00:00Z",
        ],
    ));
    assert_eq!(summary(&stderr)["bytes_read"], 0, "{stderr}");
    assert_eq!(archive::alerts(&alerts_path).len(), got.len());
}

/// The current hour is still being written: lines are appended while the backfill runs, the
/// last one in two pieces. Each run reads up to the last complete line; the next run goes on
/// from there. Every line raises exactly one alert, and the half line is never read alone.
#[tokio::test(flavor = "multi_thread")]
async fn an_hour_being_appended_is_read_again_without_loss_or_repeat() {
    let azurite = Azurite::start().await;
    let c = Containers::new();
    let audit = archive::container(&azurite.account_url, &c.audit).await;
    archive::container(&azurite.account_url, &c.activity).await;
    let now = OffsetDateTime::now_utc();
    let hour = now.replace_time(time::Time::MIDNIGHT) + time::Duration::hours(now.hour() as i64);
    let name = archive::audit_blob("KV1", hour);
    let line = |i: usize| archive::secret_get("KV1", &format!("live-{i}"), hour);
    let first: Vec<String> = (0..40).map(line).collect();
    archive::write_blob(&audit, &name, &first, 4).await;

    // A slow sink keeps the backfill running while lines are appended.
    let dir = tempfile::tempdir().unwrap();
    let (sinks, alerts_path) = file_sink(dir.path());
    let config = archive::config(dir.path(), &azurite.account_url, &c, &sinks, "");
    let args = ["--from", "now", "--to", "now"];
    let child = archive::backfill(&config, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("backfill starts");
    let mut n = 40;
    for _ in 0..10 {
        archive::append(&audit, &name, &(line(n) + "\n")).await;
        n += 1;
    }
    // The last line arrives in two appends; the first half stays unread.
    let last = line(n);
    let (head, tail) = last.split_at(last.len() / 2);
    archive::append(&audit, &name, head).await;
    let out = child.wait_with_output().expect("backfill ends");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let after_first = archive::alerts(&alerts_path).len();
    assert!(
        after_first >= 40 && after_first <= n,
        "{after_first} alerts"
    );
    assert!(
        !dir.path().join("state/dead-letter.jsonl").exists(),
        "the half line was read: {stderr}"
    );

    archive::append(&audit, &name, &(tail.to_string() + "\n")).await;
    for _ in 0..5 {
        n += 1;
        archive::append(&audit, &name, &(line(n) + "\n")).await;
    }
    run_ok(&mut archive::backfill(&config, &args));
    let got = archive::alerts(&alerts_path);
    let who: Vec<String> = got
        .iter()
        .map(|a| a["correlationId"].as_str().unwrap_or_default().to_string())
        .collect();
    let distinct: BTreeSet<&String> = who.iter().collect();
    assert_eq!(distinct.len(), who.len(), "an alert was sent twice");
    assert_eq!(who.len(), n + 1, "every line raised its alert once");
    assert!(!dir.path().join("state/dead-letter.jsonl").exists());
}

/// A webhook acknowledges 25 alerts and then stops answering; the backfill is SIGKILLed. The
/// same command again sends every other alert and none of the acknowledged ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_backfill_resumes_without_resending_acknowledged_alerts() {
    let azurite = Azurite::start().await;
    let c = Containers::new();
    let audit = archive::container(&azurite.account_url, &c.audit).await;
    archive::container(&azurite.account_url, &c.activity).await;
    let base = datetime!(2026-10-01 00:00 UTC);
    let mut expected = 0;
    for h in 0..4 {
        let hour = base + time::Duration::hours(h);
        let lines: Vec<String> = (0..20)
            .map(|i| archive::secret_get("KV1", &format!("kill-h{h}-u{i}"), hour))
            .collect();
        expected += lines.len();
        archive::write_blob(&audit, &archive::audit_blob("KV1", hour), &lines, 2).await;
    }
    let webhook = |url: &str| {
        format!("[[sinks]]\nkind = \"webhook\"\nurl = \"{url}\"\nbatch_size = 1\nlinger_ms = 0\nretry_backoff_max_ms = 200\n")
    };
    let dir = tempfile::tempdir().unwrap();
    let first = Receiver::start(25).await;
    // Only saves triggered by acknowledged alerts can make the resume exact.
    let extra = "cursor_interval_ms = 600000";
    let config = archive::config(
        dir.path(),
        &azurite.account_url,
        &c,
        &webhook(&first.url),
        extra,
    );
    let args = ["--from", "2026-10-01", "--to", "2026-10-01T04:00:00Z"];
    let mut child = archive::backfill(&config, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("backfill starts");
    let end = Instant::now() + Duration::from_secs(60);
    while first.received().len() <= 25 {
        assert!(
            Instant::now() < end,
            "the receiver got {} requests",
            first.received().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let acked: HashSet<String> = first
        .received()
        .into_iter()
        .filter(|r| r.answered)
        .map(|r| r.alert_id)
        .collect();
    assert_eq!(acked.len(), 25);

    let second = Receiver::start(usize::MAX).await;
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace(&first.url, &second.url),
    )
    .unwrap();
    run_ok(&mut archive::backfill(&config, &args));
    let resent: Vec<String> = second.received().into_iter().map(|r| r.alert_id).collect();
    let again: Vec<&String> = resent.iter().filter(|id| acked.contains(*id)).collect();
    assert!(
        again.is_empty(),
        "acknowledged alerts sent again: {again:?}"
    );
    let all: HashSet<&String> = acked.iter().chain(resent.iter()).collect();
    assert_eq!(all.len(), expected, "every alert delivered");
}

/// `--shard 0/2` and `--shard 1/2` read disjoint sets of blobs that together are the range
/// (and a configured container that does not exist is skipped).
#[tokio::test(flavor = "multi_thread")]
async fn shards_are_disjoint_and_cover_the_range() {
    let azurite = Azurite::start().await;
    let c = Containers::new();
    // No Activity Log container: a category never written has none; it is skipped.
    let audit = archive::container(&azurite.account_url, &c.audit).await;
    let base = datetime!(2026-09-30 20:00 UTC);
    let mut expected = BTreeSet::new();
    for h in 0..8 {
        let hour = base + time::Duration::hours(h);
        let who = format!("shard-h{h}");
        expected.insert(format!("{who}@contoso.com"));
        let line = archive::secret_get("KV3", &who, hour);
        archive::write_blob(&audit, &archive::audit_blob("KV3", hour), &[line], 1).await;
    }
    let args = [
        "--from",
        "2026-09-30T20:00:00Z",
        "--to",
        "2026-10-01T04:00:00Z",
    ];
    let mut seen: Vec<BTreeSet<String>> = Vec::new();
    for shard in ["0/2", "1/2"] {
        let dir = tempfile::tempdir().unwrap();
        let (sinks, alerts_path) = file_sink(dir.path());
        let config = archive::config(dir.path(), &azurite.account_url, &c, &sinks, "");
        let mut a = args.to_vec();
        a.extend(["--shard", shard]);
        run_ok(&mut archive::backfill(&config, &a));
        let callers: BTreeSet<String> = archive::alerts(&alerts_path)
            .iter()
            .map(|a| a["actor"]["upn"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(!callers.is_empty(), "shard {shard} read nothing");
        seen.push(callers);
    }
    assert!(seen[0].is_disjoint(&seen[1]), "{seen:?}");
    let union: BTreeSet<String> = seen[0].union(&seen[1]).cloned().collect();
    assert_eq!(union, expected);
}

/// A read-and-list SAS (in `sas_env`) is all the backfill needs; the token is never printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_sas_is_enough_and_never_printed() {
    let azurite = Azurite::start().await;
    let c = Containers::new();
    let audit = archive::container(&azurite.account_url, &c.audit).await;
    let hour = datetime!(2026-08-01 05:00 UTC);
    let lines: Vec<String> = (0..5)
        .map(|i| archive::secret_get("KV9", &format!("sas-u{i}"), hour))
        .collect();
    archive::write_blob(&audit, &archive::audit_blob("KV9", hour), &lines, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let (sinks, alerts_path) = file_sink(dir.path());
    let config = archive::config(dir.path(), &azurite.account_url, &c, &sinks, "");
    set_auth(&config, "auth = \"sas\"\nsas_env = \"HUBWATCH_TEST_SAS\"");
    let sas = azurite::account_sas("rl");
    let out = archive::backfill(&config, &["--from", "2026-08-01", "--to", "2026-08-02"])
        .env("HUBWATCH_TEST_SAS", &sas)
        .env_remove("HUBWATCH_TEST_ACCOUNT_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(archive::alerts(&alerts_path).len(), 5);
    let sig = sas.split("sig=").nth(1).unwrap();
    assert!(!stderr.contains(sig), "the SAS signature was printed");
}

/// `auth = "entra"` with `credential = "managed-identity"`: the token comes from the App
/// Service managed-identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`) for the storage
/// resource, is cached rather than fetched per request, goes on every list and read as a
/// bearer token, and is never printed, nor is the identity header.
#[tokio::test(flavor = "multi_thread")]
async fn an_entra_token_from_a_managed_identity_reads_the_archive() {
    let azurite = Azurite::start().await;
    let c = Containers::new();
    let audit = entra::public_container(&azurite.account_url, &c.audit).await;
    entra::public_container(&azurite.account_url, &c.activity).await;
    let hour = datetime!(2026-08-02 07:00 UTC);
    let lines: Vec<String> = (0..6)
        .map(|i| archive::secret_get("KV8", &format!("entra-u{i}"), hour))
        .collect();
    archive::write_blob(&audit, &archive::audit_blob("KV8", hour), &lines, 2).await;
    let token = format!("entra-token-{:016x}", rand::random::<u64>());
    let identity_header = format!("identity-header-{:016x}", rand::random::<u64>());
    let tokens = entra::TokenServer::start(&token, &identity_header).await;
    let proxy = entra::BearerProxy::start(&azurite.account_url, &token).await;

    let dir = tempfile::tempdir().unwrap();
    let (sinks, alerts_path) = file_sink(dir.path());
    let config = archive::config(dir.path(), &proxy.account_url, &c, &sinks, "");
    set_auth(
        &config,
        "auth = \"entra\"\ncredential = \"managed-identity\"",
    );
    // At debug level, so that whatever logs requests (here or in the SDK) is checked too.
    let out = archive::backfill(&config, &["--from", "2026-08-02", "--to", "2026-08-03"])
        .env("IDENTITY_ENDPOINT", &tokens.endpoint)
        .env("IDENTITY_HEADER", &identity_header)
        .env("RUST_LOG", "debug")
        .env_remove("IDENTITY_SERVER_THUMBPRINT")
        .env_remove("HUBWATCH_TEST_ACCOUNT_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(archive::alerts(&alerts_path).len(), lines.len());

    let asked = tokens.requests();
    assert!(!asked.is_empty(), "the token endpoint was never asked");
    for r in &asked {
        assert_eq!(r.method, "GET", "{r:?}");
        assert_eq!(r.query["api-version"], "2019-08-01", "{r:?}");
        assert_eq!(r.query["resource"], "https://storage.azure.com", "{r:?}");
        assert_eq!(r.identity_header.as_deref(), Some(identity_header.as_str()));
    }
    let seen = proxy.seen();
    assert!(seen.iter().all(|r| r.bearer), "without the token: {seen:?}");
    assert!(seen.iter().all(|r| r.status < 300), "{seen:?}");
    assert!(seen.iter().any(|r| r.is_list()), "no listing: {seen:?}");
    assert!(seen.iter().any(|r| r.is_blob_read()), "no read: {seen:?}");
    // Cached: one token for the run (at most one per container), not one per request.
    assert!(
        asked.len() <= 2 && asked.len() < seen.len(),
        "{} tokens for {} requests: not cached",
        asked.len(),
        seen.len()
    );
    assert!(!stderr.contains(&token), "the access token was printed");
    assert!(
        !stderr.contains(&identity_header),
        "the identity header was printed"
    );

    // The proxy is what let them through: without the token it refuses.
    let bare = reqwest::get(format!(
        "{}/{}?restype=container&comp=list",
        proxy.account_url, c.audit
    ))
    .await
    .unwrap();
    assert_eq!(bare.status(), 403);
}

/// Configuration errors name the key.
#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let c = Containers::new();
    let config = archive::config(
        dir.path(),
        "http://127.0.0.1:9/devstoreaccount1",
        &c,
        FILE_SINK,
        "cursor_interval_ms = 0",
    );
    let out = archive::backfill(&config, &["--from", "2026-01-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("backfill.cursor_interval_ms"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `[context]` on, the backfill writes the archive's Key Vault operations to the context
/// store before its cursor passes them (the same pipeline as `run`): each alert answers from
/// the records before it, and the store holds every operation once, also after a second run.
#[tokio::test(flavor = "multi_thread")]
async fn the_backfill_seeds_the_context_store() {
    let azurite = Azurite::start().await;
    let c = Containers::new();
    let audit = archive::container(&azurite.account_url, &c.audit).await;
    archive::container(&azurite.account_url, &c.activity).await;
    let hour = datetime!(2026-11-03 22:00 UTC);
    let lines: Vec<String> = (0..5)
        .map(|i| {
            archive::secret_get(
                "KV1",
                &format!("seed-u{i}"),
                hour + time::Duration::minutes(i),
            )
        })
        .collect();
    archive::write_blob(&audit, &archive::audit_blob("KV1", hour), &lines, 2).await;

    let dir = tempfile::tempdir().unwrap();
    let (sinks, alerts_path) = file_sink(dir.path());
    let store = dir.path().join("context.sqlite");
    let context = format!(
        "[context]\nenabled = true\nstore = \"sqlite\"\npath = \"{}\"\n",
        store.display()
    );
    let config = archive::config(dir.path(), &azurite.account_url, &c, &sinks, &context);
    let args = [
        "--from",
        "2026-11-03T22:00:00Z",
        "--to",
        "2026-11-03T23:00:00Z",
    ];
    run_ok(&mut archive::backfill(&config, &args));
    let got = archive::alerts(&alerts_path);
    assert_eq!(got.len(), 5, "one alert per record");
    let counts: Vec<u64> = got
        .iter()
        .map(|a| {
            let answers = &a["runbook_answers"];
            assert_eq!(answers["status"], "ok", "{answers}");
            answers["caller_ip_keyvault_operations"]["count"]
                .as_u64()
                .unwrap_or_else(|| panic!("{answers}"))
        })
        .collect();
    assert_eq!(
        counts,
        [0, 1, 2, 3, 4],
        "each alert sees the operations before it"
    );
    let stored = || -> i64 {
        let db = rusqlite::Connection::open(&store).unwrap();
        db.query_row("SELECT count(*) FROM ops", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(stored(), 5);
    run_ok(&mut archive::backfill(
        &config,
        &["--restart", args[0], args[1], args[2], args[3]],
    ));
    assert_eq!(stored(), 5, "replayed writes store nothing twice");
}
