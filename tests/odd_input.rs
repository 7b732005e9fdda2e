//! Odd input through the real path, as a new user would send it: the Python `azure-eventhub`
//! SDK produces to the local Event Hubs server and `hubwatch run` consumes. Every document of
//! every body ends as evaluated records or dead-letter entries with a reason; an oversized body
//! is dead-lettered with its first 4 KiB. Also: `check-config` and `run` agree on connection
//! strings.

mod support;

use serde_json::json;
use std::time::Duration;
use support::service::*;

/// A Key Vault key read record (alerts with the built-in rule), `correlationId` = `id`.
fn key_read(id: &str) -> String {
    json!({"time": "2025-12-23T10:30:00Z", "operationName": "Microsoft.KeyVault/vaults/keys/read/action",
           "resultType": "Success", "category": "Administrative",
           "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/keys/k",
           "callerIpAddress": "10.0.0.1", "correlationId": id})
    .to_string()
}

fn envelope(ids: &[&str]) -> String {
    let records: Vec<String> = ids.iter().map(|id| key_read(id)).collect();
    format!("{{\"records\":[{}]}}", records.join(","))
}

fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_bodies_are_evaluated_or_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(1, None).await;
    let padding = "x".repeat(1_048_000 - 24);
    let oversized = format!("{{\"records\":[{{\"pad\":\"{padding}\"}}]}}");
    assert_eq!(oversized.len(), 1_048_000);
    let bodies: Vec<Vec<u8>> = vec![
        // 0, 1: two documents, back to back and newline-delimited (a forwarder's batch).
        format!(
            "{}{}",
            envelope(&["back-to-back-1"]),
            envelope(&["back-to-back-2"])
        )
        .into_bytes(),
        format!("{}\n{}\n", envelope(&["ndjson-1"]), envelope(&["ndjson-2"])).into_bytes(),
        // 2: a duplicate "records" key: the last wins, as in Python's json.
        format!(
            "{{\"records\":[{}],\"records\":[{}]}}",
            key_read("shadowed"),
            key_read("last-wins")
        )
        .into_bytes(),
        // 3: invalid UTF-8 in an envelope string value.
        bytes(&[
            b"{\"category\":\"\xff\",\"records\":[",
            key_read("envelope-utf8").as_bytes(),
            b"]}",
        ]),
        // 4, 5, 6: trailing bytes after the document.
        bytes(&[envelope(&["trailing-brace"]).as_bytes(), b"}xyz"]),
        bytes(&[envelope(&["trailing-ff"]).as_bytes(), b"\xff"]),
        bytes(&[envelope(&["trailing-nul"]).as_bytes(), b"\x00"]),
        // 7: a trailing comma in `records`.
        format!("{{\"records\":[{},]}}", key_read("trailing-comma")).into_bytes(),
        // 8: over service.max_body_bytes (but under Event Hubs' limit).
        oversized.into_bytes(),
        // 9: a field that names serde_json's private number token: a plain object, as in
        // Python (serde_json's `Value` refuses "1.5$" as a number).
        format!(
            "{{\"records\":[{},\"properties\":{{\"k\":{{\"$serde_json::private::Number\":\"1.5$\"}}}}}}]}}",
            key_read("private-token").trim_end_matches('}')
        )
        .into_bytes(),
        // 10: the stream goes on.
        envelope(&["last"]).into_bytes(),
    ];
    let events: Vec<(&str, Vec<u8>)> = bodies.into_iter().map(|b| ("0", b)).collect();
    for (i, sent) in python_send(emu.local_addr(), &events)
        .into_iter()
        .enumerate()
    {
        assert!(sent.is_ok(), "event {i}: {sent:?}");
    }

    let config = config(dir.path(), emu.local_addr(), "");
    let log = dir.path().join("hubwatch.log");
    let hw = Hubwatch::start_with_env(
        &config,
        &log,
        &[("HUBWATCH_SERVICE__MAX_BODY_BYTES", "262144")],
    );
    let want = [
        "back-to-back-1",
        "back-to-back-2",
        "ndjson-1",
        "ndjson-2",
        "last-wins",
        "envelope-utf8",
        "trailing-brace",
        "trailing-ff",
        "trailing-nul",
        "trailing-comma",
        "private-token",
        "last",
    ];
    let alerts = hw.wait_for(Duration::from_secs(90), "every document's alerts", |a| {
        ids(a).contains(&"last".to_string())
    });
    assert_eq!(ids(&alerts), want, "one alert per document, in order");
    let state = dir.path().join("state");
    let dl_path = state.join("dead-letter.jsonl");
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while checkpoints(&state).get("0") != Some(&10) {
        assert!(
            std::time::Instant::now() < end,
            "partition 0 was not checkpointed past its last event: {:?}\n{}",
            checkpoints(&state),
            tail(&log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _) = hw.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));

    let dead = dead_letters(&dl_path);
    let got: Vec<(i64, &str, &str)> = dead
        .iter()
        .map(|d| {
            (
                d["source"]["sequence_number"].as_i64().unwrap_or(-1),
                d["kind"].as_str().unwrap_or_default(),
                d["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let expect: [(i64, &str, &str); 7] = [
        (2, "body", "a later \"records\" key replaces this array"),
        (3, "body", "not valid JSON outside its records"),
        (4, "body", "not valid JSON"),
        (5, "body", "not valid JSON"),
        (6, "body", "not valid JSON"),
        (7, "record", "ends with a comma after record 0"),
        (8, "body", "exceeds the limit of 262144 bytes"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (g, w) in got.iter().zip(expect.iter()) {
        assert_eq!((g.0, g.1), (w.0, w.1), "{got:#?}");
        assert!(g.2.contains(w.2), "{g:?} should say {:?}", w.2);
    }
    // The replaced array is kept, not dropped silently.
    assert!(dead[0]["body"]
        .as_str()
        .is_some_and(|b| b.contains("shadowed")));
    // Not-UTF-8 parts are kept as base64, the rest as text.
    assert!(dead[1]["body_base64"].is_string());
    assert_eq!(dead[2]["body"], "}xyz");
    assert_eq!(dead[3]["body_base64"], "/w==");
    assert_eq!(dead[4]["body"], "\u{0}");
    // The oversized body: its first 4 KiB, one bounded line.
    let kept = dead[6]["body"].as_str().map_or(usize::MAX, str::len);
    assert_eq!(kept, 4096);
    assert!(
        got[6].2.contains("keeps the first 4096 bytes"),
        "{}",
        got[6].2
    );
    let longest = std::fs::read_to_string(&dl_path)
        .unwrap()
        .lines()
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest < 8192, "a dead-letter line of {longest} bytes");
    emu.shutdown().await;
}

/// `hubwatch check-config` for a configuration whose connection string is `cs`.
fn check_config(config: &std::path::Path, cs: &str) -> (bool, String) {
    let out = support::process::command()
        .args(["check-config", "--config"])
        .arg(config)
        .env("HUBWATCH_TEST_CONNECTION_STRING", cs)
        .output()
        .expect("check-config runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_refuses_what_run_cannot_parse() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(1, None).await;
    send(
        &producer(emu.local_addr()).await,
        "0",
        &[matching_body("cs-ok")],
    )
    .await;
    let key = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";
    let cases: [(String, bool); 5] = [
        (CONNECTION_STRING.to_string(), true),
        // No scheme: not a URL, so no namespace.
        (
            format!("Endpoint=hubwatch-test.servicebus.windows.net;SharedAccessKeyName=listen;SharedAccessKey={key};EntityPath={HUB}"),
            false,
        ),
        (
            "Endpoint=sb://hubwatch-test.servicebus.windows.net/;SharedAccessKeyName=listen"
                .to_string(),
            false,
        ),
        (key.to_string(), false),
        // A hub other than the configured one.
        (
            CONNECTION_STRING.replace("EntityPath=activity", "EntityPath=elsewhere"),
            false,
        ),
    ];
    for (i, (cs, good)) in cases.iter().enumerate() {
        let case = dir.path().join(format!("case-{i}"));
        std::fs::create_dir_all(&case).unwrap();
        let config = config(&case, emu.local_addr(), "");
        let (ok, text) = check_config(&config, cs);
        assert_eq!(ok, *good, "check-config, case {i}: {text}");
        assert!(!text.contains(key), "check-config printed the key: {text}");
        // `run` agrees: it connects and alerts, or stops at once with the same reason.
        let log = case.join("hubwatch.log");
        let mut hw =
            Hubwatch::start_with_env(&config, &log, &[("HUBWATCH_TEST_CONNECTION_STRING", cs)]);
        if *good {
            hw.wait_for(Duration::from_secs(60), "an alert", |a| {
                ids(a).contains(&"cs-ok".to_string())
            });
            let (code, _) = hw.terminate(Duration::from_secs(30));
            assert_eq!(code, Some(0));
        } else {
            let status = hw.wait_exit(Duration::from_secs(30));
            assert_eq!(status.code(), Some(2), "run, case {i}");
            let logged = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(!logged.contains(key), "run logged the key");
            let reason = text
                .lines()
                .find_map(|l| l.split_once("source.connection_string_env: "))
                .map(|(_, r)| r.to_string())
                .unwrap_or_else(|| panic!("check-config names the key: {text}"));
            assert!(
                logged.contains(&reason),
                "run gives the same reason ({reason}):\n{logged}"
            );
        }
    }
    emu.shutdown().await;
}
