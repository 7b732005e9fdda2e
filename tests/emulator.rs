//! End-to-end tests of the Event Hubs emulator with the real Rust SDK and the Python SDK.

#[path = "support/credential.rs"]
mod credential;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azure_messaging_eventhubs::error::ErrorKind;
use azure_messaging_eventhubs::models::ReceivedEventData;
use azure_messaging_eventhubs::{
    ConsumerClient, EventDataBatchOptions, EventReceiver, OpenReceiverOptions, ProducerClient,
    SendEventOptions, StartLocation, StartPosition,
};
use credential::FakeCredential;
use futures::StreamExt;
use hubwatch_eventhubs_emulator::{Emulator, EmulatorConfig};

const HUB: &str = "emuhub";
const NAMESPACE: &str = "emulator.servicebus.windows.net";
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

async fn start(data_dir: Option<PathBuf>) -> Emulator {
    start_on("127.0.0.1:0".parse().unwrap(), data_dir).await
}

async fn start_on(listen: SocketAddr, data_dir: Option<PathBuf>) -> Emulator {
    Emulator::start(EmulatorConfig {
        listen,
        hub: HUB.to_string(),
        partitions: 4,
        data_dir,
    })
    .await
    .expect("emulator starts")
}

fn endpoint(emu: &Emulator) -> String {
    format!("amqp://{}", emu.local_addr())
}

async fn producer(emu: &Emulator) -> ProducerClient {
    ProducerClient::builder()
        .with_custom_endpoint(endpoint(emu))
        .open(NAMESPACE, HUB, Arc::new(FakeCredential::default()))
        .await
        .expect("producer opens")
}

async fn consumer(emu: &Emulator) -> ConsumerClient {
    ConsumerClient::builder()
        .with_custom_endpoint(endpoint(emu))
        .open(
            NAMESPACE,
            HUB.to_string(),
            Arc::new(FakeCredential::default()),
        )
        .await
        .expect("consumer opens")
}

fn position(location: StartLocation, inclusive: bool) -> Option<OpenReceiverOptions> {
    Some(OpenReceiverOptions {
        start_position: Some(StartPosition {
            location,
            inclusive,
        }),
        ..Default::default()
    })
}

/// Reads exactly `n` events (fails on error or after `within`).
async fn read_n(receiver: &EventReceiver, n: usize, within: Duration) -> Vec<ReceivedEventData> {
    let stream = receiver.stream_events();
    futures::pin_mut!(stream);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(ev))) => out.push(ev),
            Ok(Some(Err(e))) => panic!("receive failed after {} events: {e:?}", out.len()),
            Ok(None) => panic!("stream ended after {} events", out.len()),
            Err(_) => panic!("timed out after {} of {n} events", out.len()),
        }
    }
    out
}

/// Asserts that nothing more arrives within `quiet`.
async fn expect_nothing(receiver: &EventReceiver, quiet: Duration) {
    let stream = receiver.stream_events();
    futures::pin_mut!(stream);
    if let Ok(Some(item)) = tokio::time::timeout(quiet, stream.next()).await {
        panic!(
            "expected no more events, got {:?}",
            item.map(|e| e.sequence_number())
        );
    }
}

fn body(ev: &ReceivedEventData) -> String {
    String::from_utf8(ev.event_data().body().expect("one Data section").to_vec()).unwrap()
}

fn seqs(evs: &[ReceivedEventData]) -> Vec<i64> {
    evs.iter().map(|e| e.sequence_number().unwrap()).collect()
}

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 6)]
async fn produce_and_consume_with_the_rust_sdk() {
    bounded(async {
        let emu = start(None).await;
        let producer = producer(&emu).await;

        let props = producer.get_eventhub_properties().await.unwrap();
        assert_eq!(props.name, HUB);
        assert_eq!(props.partition_ids, vec!["0", "1", "2", "3"]);
        let empty = producer.get_partition_properties("3").await.unwrap();
        assert!(empty.is_empty);
        assert_eq!(empty.last_enqueued_sequence_number, -1);

        // Single events to a given partition.
        for i in 0..3 {
            producer
                .send_event(
                    format!("p1-{i}").into_bytes(),
                    Some(SendEventOptions {
                        partition_id: Some("1".to_string()),
                    }),
                )
                .await
                .unwrap();
        }
        assert_eq!(emu.partition_len("1"), 3);
        assert_eq!(
            emu.events("1"),
            (0..3)
                .map(|i| (i as i64, format!("p1-{i}").into_bytes()))
                .collect::<Vec<_>>()
        );

        // A batch with a partition key: all in one partition, unpacked into single events.
        let batch = producer
            .create_batch(Some(EventDataBatchOptions {
                partition_key: Some("tenant-42".to_string()),
                ..Default::default()
            }))
            .await
            .unwrap();
        for i in 0..4 {
            assert!(batch
                .try_add_event_data(format!("key-{i}").into_bytes(), None)
                .unwrap());
        }
        producer.send_batch(batch, None).await.unwrap();
        let key_partitions: Vec<String> = (0..4)
            .map(|p| p.to_string())
            .filter(|p| emu.events(p).iter().any(|(_, b)| b.starts_with(b"key-")))
            .collect();
        assert_eq!(
            key_partitions.len(),
            1,
            "a partition key maps to one partition"
        );
        let key_partition = key_partitions[0].clone();
        let keyed: Vec<Vec<u8>> = emu
            .events(&key_partition)
            .into_iter()
            .filter(|(_, b)| b.starts_with(b"key-"))
            .map(|(_, b)| b)
            .collect();
        assert_eq!(
            keyed,
            (0..4)
                .map(|i| format!("key-{i}").into_bytes())
                .collect::<Vec<_>>()
        );

        // A batch to a given partition.
        let batch = producer
            .create_batch(Some(EventDataBatchOptions {
                partition_id: Some("2".to_string()),
                ..Default::default()
            }))
            .await
            .unwrap();
        for i in 0..2 {
            assert!(batch
                .try_add_event_data(format!("p2-{i}").into_bytes(), None)
                .unwrap());
        }
        producer.send_batch(batch, None).await.unwrap();
        assert!(emu.events("2").iter().any(|(_, b)| b.as_slice() == b"p2-1"));

        // Partition properties reflect the stored state.
        let p1 = producer.get_partition_properties("1").await.unwrap();
        assert_eq!(p1.id, "1");
        assert_eq!(p1.eventhub, HUB);
        assert!(!p1.is_empty);
        assert_eq!(p1.beginning_sequence_number, 0);
        assert_eq!(p1.last_enqueued_sequence_number, 2);
        assert!(p1.last_enqueued_time_utc.is_some());

        let consumer = consumer(&emu).await;

        // Earliest.
        let rx = consumer
            .open_receiver_on_partition("1".to_string(), position(StartLocation::Earliest, false))
            .await
            .unwrap();
        let evs = read_n(&rx, 3, Duration::from_secs(20)).await;
        assert_eq!(seqs(&evs), vec![0, 1, 2]);
        assert_eq!(
            evs.iter().map(body).collect::<Vec<_>>(),
            vec!["p1-0", "p1-1", "p1-2"]
        );
        let offsets: Vec<i64> = evs
            .iter()
            .map(|e| e.offset().as_deref().unwrap().parse().unwrap())
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        assert_eq!(p1.last_enqueued_offset, offsets[2].to_string());
        assert!(evs.iter().all(|e| e.enqueued_time().is_some()));
        expect_nothing(&rx, Duration::from_millis(300)).await;
        rx.close().await.unwrap();

        // Keyed events carry their partition key.
        let rx = consumer
            .open_receiver_on_partition(
                key_partition.clone(),
                position(StartLocation::Earliest, true),
            )
            .await
            .unwrap();
        let evs = read_n(
            &rx,
            emu.partition_len(&key_partition) as usize,
            Duration::from_secs(20),
        )
        .await;
        let keyed: Vec<&ReceivedEventData> =
            evs.iter().filter(|e| body(e).starts_with("key-")).collect();
        assert_eq!(keyed.len(), 4);
        assert!(keyed
            .iter()
            .all(|e| e.partition_key().as_deref() == Some("tenant-42")));
        rx.close().await.unwrap();

        // From a sequence number, inclusive and exclusive.
        let rx = consumer
            .open_receiver_on_partition(
                "1".to_string(),
                position(StartLocation::SequenceNumber(1), true),
            )
            .await
            .unwrap();
        assert_eq!(
            seqs(&read_n(&rx, 2, Duration::from_secs(20)).await),
            vec![1, 2]
        );
        rx.close().await.unwrap();
        let rx = consumer
            .open_receiver_on_partition(
                "1".to_string(),
                position(StartLocation::SequenceNumber(1), false),
            )
            .await
            .unwrap();
        assert_eq!(
            seqs(&read_n(&rx, 1, Duration::from_secs(20)).await),
            vec![2]
        );
        rx.close().await.unwrap();

        // From an offset (exclusive).
        let rx = consumer
            .open_receiver_on_partition(
                "1".to_string(),
                position(StartLocation::Offset(offsets[0].to_string()), false),
            )
            .await
            .unwrap();
        assert_eq!(
            seqs(&read_n(&rx, 2, Duration::from_secs(20)).await),
            vec![1, 2]
        );
        rx.close().await.unwrap();

        // From an enqueued time in the future: only new events.
        let rx = consumer
            .open_receiver_on_partition(
                "1".to_string(),
                position(
                    StartLocation::EnqueuedTime(SystemTime::now() + Duration::from_secs(3600)),
                    false,
                ),
            )
            .await
            .unwrap();
        expect_nothing(&rx, Duration::from_millis(500)).await;
        rx.close().await.unwrap();

        // @latest: only events sent after the receiver attached.
        let rx = consumer
            .open_receiver_on_partition("1".to_string(), position(StartLocation::Latest, false))
            .await
            .unwrap();
        let first_new = {
            let stream = rx.stream_events();
            futures::pin_mut!(stream);
            let mut n = 0;
            loop {
                producer
                    .send_event(
                        format!("latest-{n}").into_bytes(),
                        Some(SendEventOptions {
                            partition_id: Some("1".to_string()),
                        }),
                    )
                    .await
                    .unwrap();
                n += 1;
                match tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
                    Ok(Some(Ok(ev))) => break ev,
                    Ok(other) => panic!("unexpected stream item: {:?}", other.map(|r| r.err())),
                    Err(_) => assert!(n < 40, "no event received with @latest"),
                }
            }
        };
        assert!(
            body(&first_new).starts_with("latest-"),
            "{}",
            body(&first_new)
        );
        assert!(first_new.sequence_number().unwrap() >= 3);
        rx.close().await.unwrap();

        consumer.close().await.unwrap();
        producer.close().await.unwrap();
        emu.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 6)]
async fn higher_epoch_steals_the_partition() {
    bounded(async {
        let emu = start(None).await;
        let producer = producer(&emu).await;
        for i in 0..2 {
            producer
                .send_event(
                    format!("e-{i}").into_bytes(),
                    Some(SendEventOptions {
                        partition_id: Some("0".to_string()),
                    }),
                )
                .await
                .unwrap();
        }
        let consumer = consumer(&emu).await;
        let with_epoch = |epoch: i64| {
            Some(OpenReceiverOptions {
                owner_level: Some(epoch),
                start_position: Some(StartPosition {
                    location: StartLocation::Earliest,
                    inclusive: false,
                }),
                ..Default::default()
            })
        };

        let old = consumer
            .open_receiver_on_partition("0".to_string(), with_epoch(1))
            .await
            .unwrap();
        assert_eq!(
            seqs(&read_n(&old, 2, Duration::from_secs(20)).await),
            vec![0, 1]
        );

        // Another client (as another replica would): the SDK shares one link per partition
        // within a client.
        let consumer_b = self::consumer(&emu).await;
        let new = consumer_b
            .open_receiver_on_partition("0".to_string(), with_epoch(2))
            .await
            .unwrap();
        assert_eq!(
            seqs(&read_n(&new, 2, Duration::from_secs(20)).await),
            vec![0, 1]
        );

        // The old receiver is detached with amqp:link:stolen.
        {
            let stream = old.stream_events();
            futures::pin_mut!(stream);
            match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
                Ok(Some(Err(e))) => assert!(
                    matches!(e.kind, ErrorKind::ConsumerDisconnected(_)),
                    "expected ConsumerDisconnected, got {e:?}"
                ),
                Ok(Some(Ok(ev))) => {
                    panic!("old receiver still got event {:?}", ev.sequence_number())
                }
                Ok(None) => panic!("old receiver stream ended without an error"),
                Err(_) => panic!("old receiver was not disconnected"),
            }
        }

        // A lower epoch is refused.
        let consumer_c = self::consumer(&emu).await;
        let lower = consumer_c
            .open_receiver_on_partition("0".to_string(), with_epoch(1))
            .await;
        if let Ok(lower) = lower {
            let stream = lower.stream_events();
            futures::pin_mut!(stream);
            match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
                Ok(Some(Err(e))) => assert!(
                    matches!(e.kind, ErrorKind::ConsumerDisconnected(_)),
                    "expected ConsumerDisconnected, got {e:?}"
                ),
                other => panic!(
                    "lower epoch receiver was not refused: {:?}",
                    other.map(|o| o.map(|r| r.map(|e| e.sequence_number())))
                ),
            }
        }

        // The winner keeps receiving.
        producer
            .send_event(
                b"e-2".to_vec(),
                Some(SendEventOptions {
                    partition_id: Some("0".to_string()),
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            seqs(&read_n(&new, 1, Duration::from_secs(20)).await),
            vec![2]
        );

        new.close().await.unwrap();
        consumer_b.close().await.unwrap();
        let _ = consumer_c.close().await;
        let _ = consumer.close().await;
        producer.close().await.unwrap();
        emu.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 6)]
async fn data_dir_keeps_events_across_restarts() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let emu = start(Some(dir.path().to_path_buf())).await;
        let producer = producer(&emu).await;
        for i in 0..3 {
            producer
                .send_event(
                    format!("d-{i}").into_bytes(),
                    Some(SendEventOptions {
                        partition_id: Some("0".to_string()),
                    }),
                )
                .await
                .unwrap();
        }
        let batch = producer
            .create_batch(Some(EventDataBatchOptions {
                partition_id: Some("3".to_string()),
                ..Default::default()
            }))
            .await
            .unwrap();
        for i in 0..3 {
            assert!(batch
                .try_add_event_data(format!("b-{i}").into_bytes(), None)
                .unwrap());
        }
        producer.send_batch(batch, None).await.unwrap();
        let before: Vec<_> = (0..4).map(|p| emu.events(&p.to_string())).collect();
        assert_eq!(before[0].len(), 3);
        assert_eq!(before[3].len(), 3);
        let p0_before = producer.get_partition_properties("0").await.unwrap();
        let _ = producer.close().await;
        emu.shutdown().await;

        let emu = start(Some(dir.path().to_path_buf())).await;
        let after: Vec<_> = (0..4).map(|p| emu.events(&p.to_string())).collect();
        assert_eq!(before, after);

        let producer = self::producer(&emu).await;
        let p0_after = producer.get_partition_properties("0").await.unwrap();
        assert_eq!(p0_after.last_enqueued_sequence_number, 2);
        assert_eq!(
            p0_after.last_enqueued_offset,
            p0_before.last_enqueued_offset
        );
        assert_eq!(
            p0_after.last_enqueued_time_utc,
            p0_before.last_enqueued_time_utc
        );

        producer
            .send_event(
                b"d-3".to_vec(),
                Some(SendEventOptions {
                    partition_id: Some("0".to_string()),
                }),
            )
            .await
            .unwrap();
        assert_eq!(emu.events("0").last().unwrap(), &(3, b"d-3".to_vec()));

        let consumer = consumer(&emu).await;
        let rx = consumer
            .open_receiver_on_partition("0".to_string(), position(StartLocation::Earliest, false))
            .await
            .unwrap();
        let evs = read_n(&rx, 4, Duration::from_secs(20)).await;
        assert_eq!(seqs(&evs), vec![0, 1, 2, 3]);
        assert_eq!(
            evs.iter().map(body).collect::<Vec<_>>(),
            vec!["d-0", "d-1", "d-2", "d-3"]
        );
        rx.close().await.unwrap();
        consumer.close().await.unwrap();
        producer.close().await.unwrap();
        emu.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 6)]
async fn python_sdk_interop() {
    let check = tokio::process::Command::new("python3")
        .args(["-c", "import azure.eventhub"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("python3 must be installed for the interop test");
    assert!(
        check.status.success(),
        "the Python package azure-eventhub is not importable; install it with \
         `pip install -r tests/python/requirements.txt`: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let emu = start(None).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/emulator_interop.py"
    );
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--port", &emu.local_addr().port().to_string(), "--hub", HUB])
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read_all = |mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut s = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut r, &mut s).await;
            s
        })
    };
    let out = read_all(Box::new(stdout));
    let err = read_all(Box::new(stderr));
    let status = match tokio::time::timeout(Duration::from_secs(120), child.wait()).await {
        Ok(status) => status.expect("wait for python3"),
        Err(_) => {
            let _ = child.kill().await;
            panic!(
                "python interop script timed out\nstdout:\n{}\nstderr:\n{}",
                out.await.unwrap_or_default(),
                err.await.unwrap_or_default()
            );
        }
    };
    let out = out.await.unwrap_or_default();
    let err = err.await.unwrap_or_default();
    assert!(
        status.success(),
        "python interop script failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    // Python sent its events to partition 0 and by round-robin; they are stored here too.
    assert!(emu.partition_len("0") >= 3, "stdout:\n{out}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_survives_a_server_restart() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let emu = start(Some(dir.path().to_path_buf())).await;
        let addr = emu.local_addr();
        let producer = producer(&emu).await;
        let to_p0 = || {
            Some(SendEventOptions {
                partition_id: Some("0".to_string()),
            })
        };
        producer
            .send_event(b"before".to_vec(), to_p0())
            .await
            .unwrap();
        let consumer = consumer(&emu).await;
        let rx = consumer
            .open_receiver_on_partition("0".to_string(), position(StartLocation::Earliest, false))
            .await
            .unwrap();
        let stream = rx.stream_events();
        futures::pin_mut!(stream);
        let first = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("first event")
            .expect("stream open")
            .expect("no error");
        assert_eq!(body(&first), "before");
        let _ = producer.close().await;

        // Restart on the same address while the consumer is connected.
        emu.shutdown().await;
        let emu = start_on(addr, Some(dir.path().to_path_buf())).await;
        assert_eq!(emu.events("0"), vec![(0, b"before".to_vec())]);
        let producer = self::producer(&emu).await;
        producer
            .send_event(b"after".to_vec(), to_p0())
            .await
            .unwrap();
        assert_eq!(emu.events("0").last().unwrap(), &(1, b"after".to_vec()));

        // The consumer recovers (errors surfaced on the way are tolerated) and gets the new event.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut errors = 0;
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(ev))) if body(&ev) == "after" => {
                    assert_eq!(ev.sequence_number(), Some(1));
                    break;
                }
                Ok(Some(Ok(_replayed))) => {}
                Ok(Some(Err(e))) => {
                    errors += 1;
                    assert!(errors < 20, "consumer keeps failing: {e:?}");
                }
                Ok(None) => panic!("consumer stream ended"),
                Err(_) => panic!("consumer did not get the event sent after the restart"),
            }
        }
        let _ = consumer.close().await;
        let _ = producer.close().await;
        emu.shutdown().await;
    })
    .await;
}
