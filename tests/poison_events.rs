//! An event that can never be received must not wedge its partition, through the real path
//! (Python `azure-eventhub` producer -> local Event Hubs server -> `hubwatch run`):
//! - the local server, like Event Hubs, refuses at ingress an event no link could deliver;
//! - an event that got in anyway (`Emulator::set_accept_oversized`: every receive of it fails)
//!   is dead-lettered after `poison_after_failures` failed receives at its position, the
//!   partition is checkpointed past it, one WARN is logged and the metric counts it.

mod support;

use std::time::{Duration, Instant};
use support::process::{get, sample};
use support::service::*;

/// 16 bytes under 1 MiB: Event Hubs' limit for the body alone, not for the event delivered.
const NEARLY_ONE_MIB: usize = 1_048_560;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_no_link_can_carry_is_refused_at_ingress() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(1, None).await;
    let sent = python_send(
        emu.local_addr(),
        &[
            ("0", vec![b'a'; NEARLY_ONE_MIB]),
            ("0", matching_body("after-refused").into_bytes()),
        ],
    );
    let refused = sent[0].as_ref().err().cloned().unwrap_or_default();
    assert!(
        refused.contains("LinkMessageSizeExceeded") && refused.contains("exceeds the limit"),
        "the oversized send must fail: {sent:?}"
    );
    assert!(sent[1].is_ok(), "{sent:?}");
    assert_eq!(emu.partition_len("0"), 1, "nothing undeliverable is stored");

    let config = config(dir.path(), emu.local_addr(), "");
    let log = dir.path().join("hubwatch.log");
    let hw = Hubwatch::start(&config, &log);
    hw.wait_for(Duration::from_secs(60), "the event behind", |a| {
        ids(a).contains(&"after-refused".to_string())
    });
    let (code, _) = hw.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains("receiving from partition failed"),
        "{logged}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_dead_lettered_and_its_partition_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_emulator(2, None).await;
    emu.set_accept_oversized(true);
    let sent = python_send(
        emu.local_addr(),
        &[
            ("0", matching_body("before-poison").into_bytes()),
            ("0", vec![b'a'; NEARLY_ONE_MIB]),
            ("0", matching_body("behind-poison-1").into_bytes()),
            ("0", matching_body("behind-poison-2").into_bytes()),
            ("1", matching_body("other-partition").into_bytes()),
        ],
    );
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");
    assert_eq!(emu.partition_len("0"), 4);

    let config = config(dir.path(), emu.local_addr(), "");
    let log = dir.path().join("hubwatch.log");
    let hw = Hubwatch::start_with_env(
        &config,
        &log,
        &[
            ("HUBWATCH_SOURCE__POISON_AFTER_FAILURES", "3"),
            ("HUBWATCH_HTTP__LISTEN", "127.0.0.1:0"),
        ],
    );
    let http = http_addr_from_log(&log, Duration::from_secs(30));
    let alerts = hw.wait_for(
        Duration::from_secs(180),
        "the events behind the poison",
        |a| ids(a).contains(&"behind-poison-2".to_string()),
    );
    let mut partition0: Vec<String> = ids(&alerts)
        .into_iter()
        .filter(|id| id != "other-partition")
        .collect();
    // At least once: an event before the poison may be read again after a failed receive.
    partition0.dedup();
    assert_eq!(
        partition0,
        ["before-poison", "behind-poison-1", "behind-poison-2"]
    );
    hw.wait_for(Duration::from_secs(60), "the other partition", |a| {
        ids(a).contains(&"other-partition".to_string())
    });

    let state = dir.path().join("state");
    let end = Instant::now() + Duration::from_secs(30);
    while checkpoints(&state).get("0") != Some(&3) {
        assert!(
            Instant::now() < end,
            "partition 0 not checkpointed past the poison: {:?}",
            checkpoints(&state)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, metrics) = get(http, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    assert_eq!(
        sample(&metrics, "hubwatch_poison_events_total{partition=\"0\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "hubwatch_dead_lettered_total{kind=\"event\"}"),
        Some(1.0)
    );
    let (code, _) = hw.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));

    let dead = dead_letters(&state.join("dead-letter.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let d = &dead[0];
    assert_eq!(d["kind"], "event");
    assert_eq!(d["source"]["partition"], "0");
    assert_eq!(d["source"]["sequence_number"], 1);
    let reason = d["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("could not be received 3 times in a row")
            && reason.contains("exceeds the link's maximum message size"),
        "{reason}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    let warnings = logged
        .lines()
        .filter(|l| l.contains("\"WARN\"") && l.contains("poison event"))
        .count();
    assert_eq!(warnings, 1, "one WARN per poison event:\n{}", tail(&log));
    emu.shutdown().await;
}
