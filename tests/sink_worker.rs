//! The sink worker against a scripted sink (no network): batching, backoff through transient
//! failures, dead letters for permanent ones, acknowledgements only after either, and a bounded
//! queue that makes the pipeline wait.

mod support;

use hubwatch::ack::Pending;
use hubwatch::alert::Alert;
use hubwatch::dead_letter::{read_file, DeadLetterFile};
use hubwatch::sink::worker::{self, Delivery};
use hubwatch::sink::{Sink, SinkConfig, SinkError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A sink answering from a script (then `Ok`), recording every batch it is given.
struct Scripted {
    answers: Mutex<VecDeque<Result<(), SinkError>>>,
    batches: Mutex<Vec<Vec<String>>>,
    /// Never answers (a sink that hangs).
    hang: bool,
}

impl Scripted {
    fn new(answers: Vec<Result<(), SinkError>>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            batches: Mutex::new(Vec::new()),
            hang: false,
        })
    }

    fn batches(&self) -> Vec<Vec<String>> {
        self.batches.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Sink for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        self.batches
            .lock()
            .unwrap()
            .push(alerts.iter().map(|a| a.alert_id.clone()).collect());
        if self.hang {
            std::future::pending::<()>().await;
        }
        self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

fn config(extra: &str) -> SinkConfig {
    let linger = if extra.contains("linger_ms") {
        ""
    } else {
        "linger_ms = 5\n"
    };
    toml::from_str(&format!(
        "kind = \"stdout\"\nbatch_size = 2\n{linger}retry_backoff_max_ms = 20\n{extra}"
    ))
    .unwrap()
}

/// Queues `n` alerts and returns what tracks their acknowledgement.
async fn deliver(handle: &worker::SinkHandle, n: usize) -> Arc<Pending> {
    let pending = Pending::new(n);
    for i in 0..n {
        let d = Delivery {
            alert: Arc::new(support::fixtures::alert(i)),
            ack: pending.ack(),
        };
        assert!(handle.deliver(d).await.is_ok());
    }
    pending
}

async fn done_within(pending: &Pending, secs: u64) -> bool {
    tokio::time::timeout(Duration::from_secs(secs), pending.wait())
        .await
        .is_ok()
}

#[tokio::test]
async fn transient_failures_are_retried_in_batches_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl.jsonl");
    let sink = Scripted::new(vec![
        Err(SinkError::transient("down")),
        Err(SinkError::transient("still down")),
    ]);
    let handle = worker::spawn(sink.clone(), config(""), Arc::new(DeadLetterFile::new(&dl)));
    let pending = deliver(&handle, 5).await;
    assert!(done_within(&pending, 10).await, "not acknowledged");
    let batches = sink.batches();
    assert!(batches.iter().all(|b| b.len() <= 2), "{batches:?}");
    // The first batch three times (two failures, then accepted), every alert accepted once.
    assert_eq!(batches[0], batches[1]);
    assert_eq!(batches[1], batches[2]);
    let accepted: Vec<String> = batches[2..].iter().flatten().cloned().collect();
    let want: Vec<String> = (0..5).map(|i| format!("alert-{i:04}")).collect();
    assert_eq!(accepted, want);
    assert!(!dl.exists(), "nothing dead-lettered");
    handle.close().await;
}

#[tokio::test]
async fn a_refused_alert_goes_to_the_dead_letter_file_and_its_neighbours_are_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl.jsonl");
    // The batch of two is refused; tried one by one, the first is accepted, the second refused.
    let sink = Scripted::new(vec![
        Err(SinkError::permanent("422 bad alert")),
        Ok(()),
        Err(SinkError::permanent("422 bad alert")),
    ]);
    let handle = worker::spawn(sink.clone(), config(""), Arc::new(DeadLetterFile::new(&dl)));
    let pending = deliver(&handle, 3).await;
    assert!(done_within(&pending, 10).await, "not acknowledged");
    let entries = read_file(&dl).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].sink.as_deref(), Some("scripted"));
    assert!(
        entries[0].reason.contains("422 bad alert"),
        "{:?}",
        entries[0]
    );
    let id = |i: usize| format!("alert-{i:04}");
    assert_eq!(
        sink.batches(),
        vec![vec![id(0), id(1)], vec![id(0)], vec![id(1)], vec![id(2)]]
    );
    handle.close().await;
}

#[tokio::test]
async fn a_full_queue_makes_the_caller_wait() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Scripted {
        answers: Mutex::new(VecDeque::new()),
        batches: Mutex::new(Vec::new()),
        hang: true,
    });
    let handle = worker::spawn(
        sink.clone(),
        // A long linger: the worker waits for a full batch of two before it sends.
        config("queue_size = 3\nlinger_ms = 10000"),
        Arc::new(DeadLetterFile::new(dir.path().join("dl.jsonl"))),
    );
    let pending = Pending::new(20);
    let mut queued = 0;
    for i in 0..20 {
        let d = Delivery {
            alert: Arc::new(support::fixtures::alert(i)),
            ack: pending.ack(),
        };
        match tokio::time::timeout(Duration::from_millis(300), handle.deliver(d)).await {
            Ok(r) => {
                assert!(r.is_ok());
                queued += 1;
            }
            Err(_) => break,
        }
    }
    // The batch in the hanging send (2) plus the queue (3); nothing acknowledged.
    assert_eq!(
        queued, 5,
        "deliveries accepted before the caller had to wait"
    );
    assert!(!pending.is_done());
}
