//! `hubwatch run` against the local Event Hubs-compatible server, through the real SDK over
//! AMQP: alerts from every partition, malformed bodies, SIGTERM drain and checkpoints, SIGKILL
//! and restart, and a server restart under a running service.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use support::service::*;
use tokio::task::block_in_place;

const WAIT: Duration = Duration::from_secs(60);

fn seed_test_logs() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/azure_keyvault_key_accessed_or_recovered.yml"
    ))
    .unwrap();
    let spec: Value = serde_norway::from_str(&text).unwrap();
    spec["Tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["Log"].to_string(), t["ExpectedResult"].as_bool().unwrap()))
        .collect()
}

fn has_all(alerts: &[Value], want: &HashSet<String>) -> bool {
    let got: HashSet<String> = ids(alerts).into_iter().collect();
    want.is_subset(&got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_from_every_partition_then_sigterm_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(4, None).await;
    let producer = producer(emu.local_addr()).await;
    let mut want = HashSet::new();
    for p in 0..4 {
        let bodies: Vec<String> = (0..10)
            .map(|i| {
                want.insert(format!("p{p}-{i}"));
                matching_body(&format!("p{p}-{i}"))
            })
            .collect();
        send(&producer, &p.to_string(), &bodies[..5]).await;
        if p == 2 {
            send(&producer, "2", &["this is not json".to_string()]).await;
        }
        send(&producer, &p.to_string(), &bodies[5..]).await;
    }
    // The seed's own test events, as bare records.
    let seeds = seed_test_logs();
    send(
        &producer,
        "3",
        &seeds.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>(),
    )
    .await;
    let seed_ids: Vec<String> = seeds
        .iter()
        .filter(|(_, expect)| *expect)
        .map(|(l, _)| {
            serde_json::from_str::<Value>(l).unwrap()["correlationId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    want.extend(seed_ids.iter().cloned());

    let config = config(dir.path(), emu.local_addr(), "");
    let hw = Hubwatch::start(&config, &dir.path().join("run1.log"));
    let alerts =
        block_in_place(|| hw.wait_for(WAIT, "every expected alert", |a| has_all(a, &want)));
    // Field by field for one alert.
    let a = alerts
        .iter()
        .find(|a| a["correlationId"] == "p1-7")
        .unwrap();
    assert_eq!(
        a["rule_id"],
        "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered"
    );
    assert_eq!(
        a["title"],
        "Azure Key Vault key read from [kv] by [10.0.0.1]"
    );
    assert_eq!(a["source"]["kind"], "eventhubs");
    assert_eq!(a["source"]["namespace"], NAMESPACE);
    assert_eq!(a["source"]["eventhub"], HUB);
    assert_eq!(a["source"]["consumer_group"], "$Default");
    assert_eq!(a["source"]["partition"], "1");
    assert_eq!(a["source"]["sequence_number"], 7);
    assert_eq!(a["source"]["record_index"], 1);
    assert!(a["source"]["enqueued_time"].as_str().is_some());
    // The malformed body was dead-lettered and partition 2 went on past it.
    let dl = std::fs::read_to_string(dir.path().join("state/dead-letter.jsonl")).unwrap();
    let entry: Value = serde_json::from_str(dl.lines().next().unwrap()).unwrap();
    assert_eq!(entry["kind"], "body");
    assert_eq!(entry["body"], "this is not json");
    assert_eq!(entry["source"]["partition"], "2");
    assert_eq!(entry["source"]["sequence_number"], 5);
    assert!(ids(&alerts).contains(&"p2-9".to_string()));
    // The seed's non-matching test event raised nothing; every alert is unique.
    assert_eq!(alerts.len(), want.len(), "{:?}", ids(&alerts));

    // Live events arrive while it runs.
    send(&producer, "0", &[matching_body("live-1")]).await;
    block_in_place(|| {
        hw.wait_for(WAIT, "live event", |a| {
            ids(a).contains(&"live-1".to_string())
        })
    });

    let (code, _) = block_in_place(|| hw.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0), "SIGTERM exits 0");
    let ckpt = checkpoints(&dir.path().join("state"));
    let expected: BTreeMap<String, i64> = [("0", 10), ("1", 9), ("2", 10), ("3", 13)]
        .into_iter()
        .map(|(p, s)| (p.to_string(), s))
        .collect();
    assert_eq!(
        ckpt, expected,
        "every delivered event is checkpointed on SIGTERM"
    );

    // A second start reads nothing already delivered, then the next event only.
    let hw = Hubwatch::start(&config, &dir.path().join("run2.log"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    send(&producer, "1", &[matching_body("after-restart")]).await;
    let alerts = block_in_place(|| hw.wait_for(WAIT, "the new event", |a| !a.is_empty()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ids(&hw.alerts()),
        vec!["after-restart".to_string()],
        "{alerts:?}"
    );
    let (code, _) = block_in_place(|| hw.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_repeats_nothing_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(4, None).await;
    let producer = producer(emu.local_addr()).await;
    let mut want = HashSet::new();
    for p in 0..4 {
        let bodies: Vec<String> = (0..60)
            .map(|i| {
                want.insert(format!("k{p}-{i}"));
                matching_body(&format!("k{p}-{i}"))
            })
            .collect();
        send(&producer, &p.to_string(), &bodies).await;
    }
    let config = config(dir.path(), emu.local_addr(), "");
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut runs = 0;
    loop {
        runs += 1;
        let hw = Hubwatch::start(&config, &dir.path().join(format!("run{runs}.log")));
        let before = checkpoints(&dir.path().join("state"));
        let done = if runs < 3 {
            // Kill it part-way through.
            let target = seen.len() + 40;
            block_in_place(|| {
                hw.wait_for(WAIT, "some progress", |a| {
                    a.len() >= 40 || has_all(a, &want)
                })
            });
            let _ = target;
            let alerts = block_in_place(|| hw.kill9());
            check_run(&alerts, &before, &mut seen);
            false
        } else {
            let alerts = block_in_place(|| {
                hw.wait_for(WAIT, "the rest", |a| {
                    let mut all: HashSet<String> = seen.keys().cloned().collect();
                    all.extend(ids(a));
                    want.is_subset(&all)
                })
            });
            check_run(&alerts, &before, &mut seen);
            let _ = block_in_place(|| hw.terminate(Duration::from_secs(20)));
            true
        };
        if done {
            break;
        }
    }
    let all: HashSet<String> = seen.keys().cloned().collect();
    assert!(
        want.is_subset(&all),
        "every expected alert arrived at least once"
    );
    emu.shutdown().await;
}

/// Checks one run's alerts: none is for an event checkpointed before the run started, and a
/// repeated alert carries the id it had before.
fn check_run(
    alerts: &[Value],
    checkpointed: &BTreeMap<String, i64>,
    seen: &mut HashMap<String, String>,
) {
    for a in alerts {
        let partition = a["source"]["partition"].as_str().unwrap();
        let seq = a["source"]["sequence_number"].as_i64().unwrap();
        if let Some(&c) = checkpointed.get(partition) {
            assert!(
                seq > c,
                "event {partition}/{seq} was checkpointed at {c} and processed again"
            );
        }
        let id = a["correlationId"].as_str().unwrap().to_string();
        let alert_id = a["alert_id"].as_str().unwrap().to_string();
        if let Some(prev) = seen.insert(id.clone(), alert_id.clone()) {
            assert_eq!(prev, alert_id, "a duplicate of {id} has the same alert_id");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_under_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emulator-data");
    let emu = start_emulator(2, Some(data.clone())).await;
    let addr = emu.local_addr();
    let producer1 = producer(addr).await;
    let first: Vec<String> = (0..10)
        .map(|i| matching_body(&format!("before-{i}")))
        .collect();
    send(&producer1, "0", &first[..5]).await;
    send(&producer1, "1", &first[5..]).await;
    let config = config(dir.path(), addr, "");
    let hw = Hubwatch::start(&config, &dir.path().join("run.log"));
    block_in_place(|| hw.wait_for(WAIT, "first events", |a| a.len() >= 10));

    drop(producer1);
    emu.shutdown().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let emu = start_emulator_on(&addr.to_string(), 2, Some(data)).await;
    let producer2 = producer(addr).await;
    let second: Vec<String> = (0..10)
        .map(|i| matching_body(&format!("after-{i}")))
        .collect();
    send(&producer2, "0", &second[..5]).await;
    send(&producer2, "1", &second[5..]).await;
    let want: HashSet<String> = (0..10)
        .flat_map(|i| [format!("before-{i}"), format!("after-{i}")])
        .collect();
    let alerts = block_in_place(|| {
        hw.wait_for(Duration::from_secs(90), "events after the restart", |a| {
            has_all(a, &want)
        })
    });
    // Nothing lost; repeats only of events not yet checkpointed, with their ids.
    let mut seen = HashMap::new();
    check_run(&alerts, &BTreeMap::new(), &mut seen);
    let (code, _) = block_in_place(|| hw.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0));
    emu.shutdown().await;
}
