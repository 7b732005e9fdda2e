//! Loads the local Event Hubs emulator with corpus bodies, through the SDK's `ProducerClient`
//! (the Python SDK cannot talk to this branch's emulator: its management reply fails to parse).
//!
//! ```text
//! cargo build --release --locked --features bench-load --example bench-load
//! bench-load preload --endpoint amqp://127.0.0.1:P --corpus C --records N
//!     sends bodies of C (one per line; the corpus is cycled if needed) round-robin over the
//!     hub's partitions, in batches as large as the link allows, all partitions concurrently,
//!     until at least N records are sent.
//! bench-load steady --endpoint amqp://127.0.0.1:P --corpus C --rate R --seconds S
//!     offers R records/s for S seconds: every 100 ms one batch (partitions in turn) brings the
//!     cumulative record count up to R * elapsed.
//! ```
//!
//! Prints one line `events=E records=R bytes=B seconds=S ...`. Built only with the `bench-load`
//! feature, so `cargo test` and clippy never compile it.

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_messaging_eventhubs::{EventDataBatchOptions, ProducerClient};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct AnyCredential;

#[async_trait::async_trait]
impl TokenCredential for AnyCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            "bench-token",
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

#[derive(serde::Deserialize)]
struct Envelope {
    records: Vec<serde::de::IgnoredAny>,
}

struct Args {
    mode: String,
    endpoint: String,
    hub: String,
    corpus: String,
    records: u64,
    rate: f64,
    seconds: f64,
}

fn args() -> Args {
    let mut a = Args {
        mode: String::new(),
        endpoint: String::new(),
        hub: "activity".into(),
        corpus: String::new(),
        records: 200_000,
        rate: 5000.0,
        seconds: 45.0,
    };
    let mut it = std::env::args().skip(1);
    a.mode = it.next().unwrap_or_default();
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--endpoint" => a.endpoint = v,
            "--hub" => a.hub = v,
            "--corpus" => a.corpus = v,
            "--records" => a.records = v.parse().expect("--records"),
            "--rate" => a.rate = v.parse().expect("--rate"),
            "--seconds" => a.seconds = v.parse().expect("--seconds"),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

/// (body, records) pairs covering at least `want` records, cycling the corpus.
fn bodies(path: &str, want: u64) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(path).expect("corpus");
    let mut out = Vec::new();
    let mut total = 0;
    while total < want {
        for l in text.lines().filter(|l| !l.is_empty()) {
            if total >= want {
                break;
            }
            let n = serde_json::from_str::<Envelope>(l)
                .map(|e| e.records.len() as u64)
                .unwrap_or(1);
            total += n;
            out.push((l.to_string(), n));
        }
    }
    out
}

/// Sends `items` to one partition in batches as large as the link allows.
async fn send_all(producer: &ProducerClient, partition: &str, items: &[(String, u64)]) {
    let opts = || {
        Some(EventDataBatchOptions {
            partition_id: Some(partition.to_string()),
            ..Default::default()
        })
    };
    let mut batch = producer.create_batch(opts()).await.expect("batch");
    for (body, _) in items {
        if !batch
            .try_add_event_data(body.clone().into_bytes(), None)
            .expect("add")
        {
            producer.send_batch(batch, None).await.expect("send");
            batch = producer.create_batch(opts()).await.expect("batch");
            assert!(batch
                .try_add_event_data(body.clone().into_bytes(), None)
                .expect("add"));
        }
    }
    if !batch.is_empty() {
        producer.send_batch(batch, None).await.expect("send");
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let producer = ProducerClient::builder()
        .with_custom_endpoint(a.endpoint.clone())
        .open(
            "bench.servicebus.windows.net",
            &a.hub,
            Arc::new(AnyCredential),
        )
        .await
        .expect("producer opens");
    let partitions = producer
        .get_eventhub_properties()
        .await
        .expect("properties")
        .partition_ids;
    match a.mode.as_str() {
        "preload" => {
            let items = bodies(&a.corpus, a.records);
            let start = Instant::now();
            let mut per: Vec<Vec<(String, u64)>> = vec![Vec::new(); partitions.len()];
            for (i, item) in items.iter().enumerate() {
                per[i % partitions.len()].push(item.clone());
            }
            futures::future::join_all(
                partitions
                    .iter()
                    .zip(per.iter())
                    .map(|(p, items)| send_all(&producer, p, items)),
            )
            .await;
            let secs = start.elapsed().as_secs_f64();
            let records: u64 = items.iter().map(|i| i.1).sum();
            let bytes: usize = items.iter().map(|i| i.0.len()).sum();
            println!(
                "events={} records={records} bytes={bytes} seconds={secs:.1} partitions={}",
                items.len(),
                partitions.len()
            );
        }
        "steady" => {
            let items = bodies(&a.corpus, (a.rate * a.seconds * 1.2) as u64 + 1000);
            let start = Instant::now();
            let (mut sent_records, mut sent_events, mut i, mut tick, mut late) =
                (0u64, 0u64, 0, 0, 0);
            loop {
                let now = start.elapsed().as_secs_f64();
                if now >= a.seconds {
                    break;
                }
                let due = (a.rate * now) as u64;
                let first = i;
                while sent_records < due && i < items.len() {
                    sent_records += items[i].1;
                    i += 1;
                }
                if i > first {
                    send_all(
                        &producer,
                        &partitions[tick % partitions.len()],
                        &items[first..i],
                    )
                    .await;
                    sent_events += (i - first) as u64;
                    tick += 1;
                }
                let next = Duration::from_secs_f64(((now / 0.1).floor() + 1.0) * 0.1);
                match next.checked_sub(start.elapsed()) {
                    Some(d) => tokio::time::sleep(d).await,
                    None => late += 1,
                }
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "events={sent_events} records={sent_records} seconds={secs:.1} offered_records_per_s={:.0} late_ticks={late}",
                sent_records as f64 / secs
            );
        }
        m => panic!("mode must be preload or steady, not {m:?}"),
    }
    // Every send was acknowledged; exiting closes the connection.
    std::process::exit(0);
}
