//! Consumer lag and the stall watchdog's view of each claimed partition: the last sequence
//! numbers received and processed here, and the hub's last enqueued one, read from partition
//! properties over a client of its own.

use crate::azure;
use azure_messaging_eventhubs::ConsumerClient;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Per claimed partition: the last sequence numbers received and processed here, and the
/// hub's last enqueued one (from the partition's properties, polled every few seconds). Feeds
/// the consumer lag gauge and the stall watchdog.
#[derive(Clone, Default)]
pub(super) struct LagTracker {
    partitions: Arc<std::sync::Mutex<std::collections::HashMap<String, Tracked>>>,
}

#[derive(Default)]
struct Tracked {
    /// Claimed by this replica now: only these are polled and reported.
    owned: bool,
    /// Kept across a release and a new claim, so a receiver reopened after a stall that stays
    /// silent is caught again even if no new event arrives.
    received: Option<i64>,
    processed: Option<i64>,
    /// The hub's last enqueued sequence number at the latest poll.
    enqueued: Option<i64>,
    /// The first poll's value: a partition that has received nothing yet is behind once the
    /// hub enqueues more than it held when the partition was first claimed.
    enqueued_at_claim: Option<i64>,
    /// The partition's first sequence number still held, at the latest poll.
    beginning: Option<i64>,
}

/// How often partition properties are read for the lag gauge.
const LAG_INTERVAL: Duration = Duration::from_secs(5);

impl LagTracker {
    fn with<R>(&self, partition: &str, f: impl FnOnce(&mut Tracked) -> R) -> R {
        let mut map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(partition.to_string()).or_default())
    }

    pub(super) fn claimed(&self, partition: &str) {
        self.with(partition, |t| t.owned = true);
    }

    pub(super) fn released(&self, partition: &str) {
        self.with(partition, |t| t.owned = false);
    }

    pub(super) fn received(&self, partition: &str, sequence_number: i64) {
        self.with(partition, |t| t.received = Some(sequence_number));
    }

    pub(super) fn processed(&self, partition: &str, sequence_number: i64) {
        self.with(partition, |t| t.processed = Some(sequence_number));
    }

    /// `(last enqueued, last received)` when the hub holds events newer than the last one
    /// received here.
    pub(super) fn behind(&self, partition: &str) -> Option<(i64, Option<i64>)> {
        self.with(partition, |t| {
            let enqueued = t.enqueued?;
            let behind = match t.received {
                Some(r) => enqueued > r,
                None => t.enqueued_at_claim.is_some_and(|c| enqueued > c),
            };
            behind.then_some((enqueued, t.received))
        })
    }

    /// Polls the properties of owned partitions every [`LAG_INTERVAL`] over a client of its
    /// own. A call gets [`PROPERTIES_TIMEOUT`]; after [`PROPERTIES_FAILURES`] failures in a row
    /// the client is closed and a new one opened, so a connection that hangs does not leave
    /// the lag gauge and the stall watchdog blind for good.
    pub(super) async fn run(self, open: impl Fn() -> OpenClient, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(LAG_INTERVAL);
        let mut client: Option<ConsumerClient> = None;
        let mut failures = 0u32;
        let mut blind = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let error = match &client {
                None => match tokio::time::timeout(PROPERTIES_TIMEOUT, open()).await {
                    Ok(Ok(c)) => {
                        client = Some(c);
                        continue;
                    }
                    Ok(Err(e)) => azure::error_chain(&e),
                    Err(_) => "opening a client timed out".to_string(),
                },
                Some(c) => match self.poll(c).await {
                    Ok(()) => {
                        failures = 0;
                        if std::mem::take(&mut blind) {
                            tracing::info!("partition properties readable again");
                        }
                        continue;
                    }
                    Err(e) => e,
                },
            };
            failures += 1;
            tracing::debug!(error, failures, "reading partition properties failed");
            if failures >= PROPERTIES_FAILURES {
                if !std::mem::replace(&mut blind, true) {
                    tracing::warn!(error, "cannot read partition properties: consumer lag and the stall watchdog are blind until this works; retrying with a new connection");
                }
                failures = 0;
                if let Some(c) = client.take() {
                    let _ = tokio::time::timeout(PROPERTIES_TIMEOUT, c.close()).await;
                }
            }
        }
        if let Some(c) = client {
            let _ = c.close().await;
        }
    }

    /// Reads the properties of every owned partition; stops at the first failure.
    async fn poll(&self, client: &ConsumerClient) -> Result<(), String> {
        for partition in self.owned() {
            let read = tokio::time::timeout(
                PROPERTIES_TIMEOUT,
                client.get_partition_properties(&partition),
            )
            .await;
            match read {
                Ok(Ok(p)) => {
                    self.with(&partition, |t| {
                        t.beginning = Some(p.beginning_sequence_number)
                    });
                    self.record_enqueued(&partition, p.last_enqueued_sequence_number)
                }
                Ok(Err(e)) => return Err(azure::error_chain(&e)),
                Err(_) => return Err("reading partition properties timed out".to_string()),
            }
        }
        Ok(())
    }

    fn owned(&self) -> Vec<String> {
        let map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|(_, t)| t.owned)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// The hub's last enqueued sequence number of a partition, at the latest poll.
    pub(super) fn enqueued(&self, partition: &str) -> Option<i64> {
        self.with(partition, |t| t.enqueued)
    }

    /// The partition's first sequence number still held, at the latest poll.
    pub(super) fn beginning(&self, partition: &str) -> Option<i64> {
        self.with(partition, |t| t.beginning)
    }

    /// Records a partition's last enqueued sequence number and updates its lag gauge.
    fn record_enqueued(&self, partition: &str, last: i64) {
        let processed = self.with(partition, |t| {
            t.enqueued = Some(last);
            t.enqueued_at_claim.get_or_insert(last);
            t.processed
        });
        if let Some(processed) = processed {
            metrics::gauge!("hubwatch_partition_lag_events", "partition" => partition.to_string())
                .set((last - processed).max(0) as f64);
        }
    }
}

/// Opens a client for [`LagTracker::run`].
pub(super) type OpenClient = std::pin::Pin<
    Box<dyn std::future::Future<Output = azure_messaging_eventhubs::Result<ConsumerClient>>>,
>;

/// Budget of one partition properties call (or of opening the client for them).
const PROPERTIES_TIMEOUT: Duration = Duration::from_secs(10);

/// Failed properties calls in a row after which their client is replaced.
const PROPERTIES_FAILURES: u32 = 3;
