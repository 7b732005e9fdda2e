//! The delivery loop with the file source's feed, its real position file and a real sink
//! worker in front of a sink the tests hold back or fail.

use super::*;
use crate::sink::SinkError;
use crate::source::file::FileFeed;
use crate::source::lines::Line;
use crate::source::positions::FilePositions;
use crate::test_support::{alert_body, eventually, pipeline, sink_config, Gate, QUIET_BODY};
use std::path::{Path, PathBuf};
use std::time::Instant;

const PATH: &str = "input.jsonl";

fn settings(grace: Duration) -> DeliverySettings {
    DeliverySettings {
        checkpoint_every_events: 1,
        checkpoint_every: Duration::from_millis(20),
        shutdown_grace: grace,
        channel_capacity: 16,
    }
}

/// The position on disk, as a restarted source would read it.
fn saved(dir: &Path) -> u64 {
    FilePositions::open(dir).map_or(u64::MAX, |p| p.get(PATH))
}

fn line(body: &[u8]) -> Line {
    Line::Body(body.to_vec())
}

fn checkpoint_failing(pipeline: &Pipeline) -> bool {
    pipeline
        .health()
        .readiness()
        .err()
        .unwrap_or_default()
        .iter()
        .any(|r| r == "checkpoint store failing")
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    positions_dir: PathBuf,
    positions: FilePositions,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().to_path_buf();
    let positions_dir = root.join("checkpoints");
    let positions = FilePositions::open(&positions_dir).unwrap_or_else(|e| panic!("{e}"));
    Setup {
        _dir: dir,
        root,
        positions_dir,
        positions,
    }
}

fn feed<'a>(positions: &'a mut FilePositions, skip: u64) -> FileFeed<'a> {
    FileFeed {
        path: PATH,
        skip,
        max_body_bytes: 1 << 20,
        positions: Some(positions),
    }
}

/// Delivers lines `1..=lines`, each raising an alert, from a channel closed after them, with the
/// first `skip` lines already checkpointed.
async fn deliver_alert_lines(
    s: &mut Setup,
    pipeline: &Pipeline,
    lines: u64,
    skip: u64,
) -> Finished {
    let (tx, rx) = mpsc::channel(16);
    for n in 1..=lines {
        assert!(tx.send((n, line(alert_body()))).await.is_ok());
    }
    drop(tx);
    let mut feed = feed(&mut s.positions, skip);
    deliver(
        &mut feed,
        rx,
        pipeline,
        settings(Duration::from_secs(5)),
        &CancellationToken::new(),
    )
    .await
}

#[tokio::test]
async fn out_of_order_acknowledgements_checkpoint_only_the_delivered_prefix() {
    let mut s = setup();
    let gate = Gate::closed(Vec::new());
    let pipeline = pipeline(&s.root, vec![(gate.clone(), sink_config(""))]);
    let (tx, rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let cp = s.positions_dir.clone();
    let drive = async move {
        // Lines 2 and 4 raise nothing and are done at once; 1 and 3 wait for the sink.
        for (n, body) in [(1, alert_body()), (2, QUIET_BODY.as_bytes())] {
            assert!(tx.send((n, line(body))).await.is_ok());
        }
        gate.wait_seen(1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(saved(&cp), 0, "line 2 is done, but line 1 is not");
        gate.open(1);
        eventually(|| saved(&cp) == 2).await;
        for (n, body) in [(3, alert_body()), (4, QUIET_BODY.as_bytes())] {
            assert!(tx.send((n, line(body))).await.is_ok());
        }
        gate.wait_seen(2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(saved(&cp), 2, "line 4 is done, but line 3 is not");
        gate.open(1);
        eventually(|| saved(&cp) == 4).await;
    };
    let mut feed = feed(&mut s.positions, 0);
    let (finished, ()) = tokio::join!(
        deliver(
            &mut feed,
            rx,
            &pipeline,
            settings(Duration::from_secs(5)),
            &cancel
        ),
        drive
    );
    assert_eq!(
        finished,
        Finished {
            end: End::Ended,
            undelivered: 0
        }
    );
}

#[tokio::test]
async fn a_dead_lettered_alert_still_lets_the_position_advance() {
    let mut s = setup();
    // The sink refuses the first alert for good: the worker dead-letters it.
    let gate = Gate::open_wide(vec![Err(SinkError::permanent("422 refused"))]);
    let pipeline = pipeline(&s.root, vec![(gate.clone(), sink_config(""))]);
    let finished = deliver_alert_lines(&mut s, &pipeline, 2, 0).await;
    assert_eq!(finished.undelivered, 0);
    assert_eq!(gate.seen().len(), 2);
    assert_eq!(saved(&s.positions_dir), 2);
    let dead = crate::dead_letter::read_file(&s.root.join("dead-letter-sink-0.jsonl"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].reason.contains("422 refused"), "{:?}", dead[0]);
}

#[tokio::test]
async fn shutdown_drains_in_flight_deliveries_before_the_final_checkpoint() {
    let mut s = setup();
    let gate = Gate::closed(Vec::new());
    let pipeline = pipeline(&s.root, vec![(gate.clone(), sink_config(""))]);
    let (tx, rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let cp = s.positions_dir.clone();
    let drive = {
        let cancel = cancel.clone();
        async move {
            assert!(tx.send((1, line(alert_body()))).await.is_ok());
            gate.wait_seen(1).await;
            cancel.cancel();
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(saved(&cp), 0, "not delivered yet");
            gate.open(1);
            // The channel stays open: the loop ends on the shutdown, not the end of input.
            tx
        }
    };
    let started = Instant::now();
    let mut feed = feed(&mut s.positions, 0);
    let (finished, _tx) = tokio::join!(
        deliver(
            &mut feed,
            rx,
            &pipeline,
            settings(Duration::from_secs(5)),
            &cancel
        ),
        drive
    );
    assert_eq!(
        finished,
        Finished {
            end: End::Stopped,
            undelivered: 0
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait out the grace period"
    );
    assert_eq!(saved(&s.positions_dir), 1);
}

#[tokio::test]
async fn shutdown_gives_up_on_deliveries_at_the_end_of_the_grace_period() {
    let mut s = setup();
    let gate = Gate::closed(Vec::new());
    let pipeline = pipeline(&s.root, vec![(gate.clone(), sink_config(""))]);
    let (tx, rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    for (n, body) in [(1, QUIET_BODY.as_bytes()), (2, alert_body())] {
        assert!(tx.send((n, line(body))).await.is_ok());
    }
    let drive = {
        let cancel = cancel.clone();
        async move {
            gate.wait_seen(1).await;
            cancel.cancel();
        }
    };
    let grace = Duration::from_millis(300);
    let mut feed = feed(&mut s.positions, 0);
    let (finished, ()) = tokio::join!(
        deliver(&mut feed, rx, &pipeline, settings(grace), &cancel),
        drive
    );
    assert_eq!(
        finished,
        Finished {
            end: End::Stopped,
            undelivered: 1
        }
    );
    assert_eq!(saved(&s.positions_dir), 1, "only the delivered line");
    drop(tx);
}

#[tokio::test]
async fn a_failing_checkpoint_is_reported_and_written_once_it_works_again() {
    let mut s = setup();
    let gate = Gate::open_wide(Vec::new());
    let pipeline = pipeline(&s.root, vec![(gate, sink_config(""))]);
    // The positions directory replaced by a file: every save fails.
    std::fs::write(&s.positions_dir, b"not a directory").unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let cp = s.positions_dir.clone();
    let drive = async {
        assert!(tx.send((1, line(QUIET_BODY.as_bytes()))).await.is_ok());
        eventually(|| checkpoint_failing(&pipeline)).await;
        std::fs::remove_file(&cp).unwrap_or_else(|e| panic!("{e}"));
        // Retried at a later tick without a newer line to carry it.
        eventually(|| saved(&cp) == 1).await;
        eventually(|| !checkpoint_failing(&pipeline)).await;
        drop(tx);
    };
    let mut feed = feed(&mut s.positions, 0);
    let (finished, ()) = tokio::join!(
        deliver(
            &mut feed,
            rx,
            &pipeline,
            settings(Duration::from_secs(5)),
            &cancel
        ),
        drive
    );
    assert_eq!(finished.end, End::Ended);
}

#[tokio::test]
async fn lines_before_the_saved_position_are_not_delivered_again() {
    let mut s = setup();
    let gate = Gate::open_wide(Vec::new());
    let pipeline = pipeline(&s.root, vec![(gate.clone(), sink_config(""))]);
    let finished = deliver_alert_lines(&mut s, &pipeline, 3, 2).await;
    assert_eq!(finished.undelivered, 0);
    assert_eq!(gate.seen().len(), 1, "only line 3 reached the sink");
    assert_eq!(saved(&s.positions_dir), 3);
}
