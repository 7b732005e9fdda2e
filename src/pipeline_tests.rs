//! The pipeline against real sink workers in front of sinks the tests hold back: what an
//! event's `Pending` waits for, durable dead letters, back-pressure and shutdown.

use super::*;
use crate::test_support::{alert_body, eventually, pipeline, sink_config, Gate};
use std::time::Duration;

fn source(line: u64) -> Origin {
    Origin::File {
        path: "input.jsonl".into(),
        line,
        record_index: None,
    }
}

fn not_ready(pipeline: &Pipeline, reason: &str) -> bool {
    pipeline
        .health()
        .readiness()
        .err()
        .unwrap_or_default()
        .iter()
        .any(|r| r == reason)
}

#[tokio::test]
async fn an_event_is_done_only_once_every_sink_acknowledged_its_alert() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (fast, slow) = (Gate::open_wide(Vec::new()), Gate::closed(Vec::new()));
    let pipeline = pipeline(
        dir.path(),
        vec![
            (fast.clone(), sink_config("")),
            (slow.clone(), sink_config("")),
        ],
    );
    let cancel = CancellationToken::new();
    let (pending, stats) = pipeline
        .process_with_stats(alert_body(), &source(1), &cancel)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.alerts, 1);
    slow.wait_seen(1).await;
    eventually(|| fast.seen().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_done(), "one sink has not acknowledged");
    slow.open(1);
    assert!(tokio::time::timeout(Duration::from_secs(5), pending.wait())
        .await
        .is_ok());
    assert_eq!(fast.seen(), slow.seen(), "the same alert to both sinks");
}

#[tokio::test]
async fn a_malformed_body_is_dead_lettered_before_process_returns() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pipeline = pipeline(
        dir.path(),
        vec![(Gate::closed(Vec::new()), sink_config(""))],
    );
    let pending = pipeline
        .process(
            b"{\"records\": [not json",
            &source(7),
            &CancellationToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pending.is_done(), "no alert to wait for");
    let dead = crate::dead_letter::read_file(&dir.path().join("dead-letter.jsonl"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!dead.is_empty());
    assert!(
        dead.iter()
            .all(|d| matches!(d.source, Some(Origin::File { line: 7, .. }))),
        "{dead:?}"
    );
}

#[tokio::test]
async fn a_failing_dead_letter_write_holds_the_event_until_shutdown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The dead-letter file's directory cannot be created: a file is in the way.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, b"").unwrap_or_else(|e| panic!("{e}"));
    let pipeline = pipeline(
        &blocked.join("state"),
        vec![(Gate::open_wide(Vec::new()), sink_config(""))],
    );
    let cancel = CancellationToken::new();
    let at = source(1);
    let processing = pipeline.process(b"not json", &at, &cancel);
    tokio::pin!(processing);
    let waited = tokio::time::timeout(Duration::from_millis(500), &mut processing).await;
    assert!(waited.is_err(), "returned before the entry was written");
    assert!(not_ready(&pipeline, "dead-letter file not writable"));
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), processing).await;
    assert!(matches!(result, Ok(Err(Cancelled))), "{result:?}");
}

#[tokio::test]
async fn a_full_sink_queue_holds_process_back_until_shutdown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gate = Gate::closed(Vec::new());
    let pipeline = pipeline(
        dir.path(),
        vec![(gate.clone(), sink_config("queue_size = 1"))],
    );
    let cancel = CancellationToken::new();
    let mut blocked = None;
    for n in 1..=10 {
        let at = source(n);
        let processing = pipeline.process(alert_body(), &at, &cancel);
        match tokio::time::timeout(Duration::from_millis(300), processing).await {
            Ok(result) => assert!(result.is_ok()),
            Err(_) => {
                blocked = Some(n);
                break;
            }
        }
    }
    // One alert in the held send, one in the queue: the third waits.
    assert_eq!(blocked, Some(3));
    cancel.cancel();
    let result = pipeline.process(alert_body(), &source(3), &cancel).await;
    assert!(result.is_err(), "a cancelled hand-over is not handled");
}

#[tokio::test]
async fn close_waits_for_the_sinks_to_deliver_what_is_queued() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gate = Gate::closed(Vec::new());
    let pipeline = pipeline(dir.path(), vec![(gate.clone(), sink_config(""))]);
    let cancel = CancellationToken::new();
    let mut pendings = Vec::new();
    for n in 1..=3 {
        let pending = pipeline.process(alert_body(), &source(n), &cancel).await;
        pendings.push(pending.unwrap_or_else(|e| panic!("{e}")));
    }
    gate.wait_seen(1).await;
    tokio::spawn({
        let gate = gate.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            gate.open(3);
        }
    });
    pipeline.close().await;
    assert!(pendings.iter().all(|p| p.is_done()));
    assert_eq!(gate.seen().len(), 3);
}
