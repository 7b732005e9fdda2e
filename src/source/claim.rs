//! The start-up ramp: claims this replica's fair share of free partitions before the SDK's
//! processor runs its first load-balancing cycle, one partition per step and the steps back to
//! back, instead of one partition per `update_interval_secs` (16 partitions: 160 s at the
//! default 10 s). The processor then finds those partitions ours and reads them all at once,
//! and goes on balancing (renewals, taking over expired ownership, moving partitions to a
//! replica that joins) at its own pace.
//!
//! The first claim also makes this replica visible to replicas starting at the same time: the
//! ramp waits [`SETTLE`] after it, so that replicas started together all count each other before
//! they take more, and they split the free partitions without taking any from each other. Only
//! free partitions (never owned, handed back, or expired) are claimed here; a replica that
//! joins a group that owns everything gets its share from the processor's balancing.

use azure_messaging_eventhubs::models::Ownership;
use azure_messaging_eventhubs::CheckpointStore;
use rand::seq::IndexedRandom;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How long the ramp waits after its first claim for replicas starting at the same time to
/// show up (at most the update interval).
pub(super) const SETTLE: Duration = Duration::from_secs(2);

/// Steps at most: a replica never needs more than one per partition (plus lost races).
const MAX_STEPS_PER_PARTITION: usize = 3;

/// What the ramp works on.
pub(super) struct Ramp<'a> {
    pub store: &'a Arc<dyn CheckpointStore>,
    pub namespace: &'a str,
    pub eventhub: &'a str,
    pub consumer_group: &'a str,
    pub owner_id: &'a str,
    pub partition_ids: &'a [String],
    pub expiry: Duration,
    pub settle: Duration,
}

/// One step's decision from the listed ownership.
#[derive(Debug)]
enum Step {
    /// Claim one of these free partitions (their current records, if any).
    Claim(Vec<Ownership>),
    /// At the fair share, or nothing free that is ours to take.
    Done,
}

impl Ramp<'_> {
    /// Claims free partitions until this replica holds its fair share; returns how many it
    /// holds. Store errors end the ramp (the processor claims at its own pace then).
    pub(super) async fn run(&self, cancel: &CancellationToken) -> usize {
        let mut settled = false;
        let mut held = 0;
        for _ in 0..self.partition_ids.len().max(1) * MAX_STEPS_PER_PARTITION {
            if cancel.is_cancelled() {
                break;
            }
            let listed = match self
                .store
                .list_ownerships(self.namespace, self.eventhub, self.consumer_group)
                .await
            {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %crate::azure::error_chain(&e), "could not list ownership to claim partitions at start; the processor claims them at its own pace");
                    break;
                }
            };
            let (mine, step) = decide(
                &listed,
                self.partition_ids,
                self.owner_id,
                self.expiry,
                SystemTime::now(),
            );
            held = mine;
            let Step::Claim(free) = step else { break };
            let Some(pick) = free.choose(&mut rand::rng()) else {
                break;
            };
            let mut claim = pick.clone();
            claim.owner_id = Some(self.owner_id.to_string());
            claim.fully_qualified_namespace = self.namespace.to_string();
            claim.event_hub_name = self.eventhub.to_string();
            claim.consumer_group = self.consumer_group.to_string();
            match self.store.claim_ownership(&[claim]).await {
                // Lost to another replica: list again.
                Ok(won) if won.is_empty() => {}
                Ok(_) => {
                    held += 1;
                    if !settled {
                        settled = true;
                        // Let replicas starting together see each other before taking more.
                        tokio::select! {
                            _ = tokio::time::sleep(self.settle) => {}
                            _ = cancel.cancelled() => break,
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %crate::azure::error_chain(&e), "could not claim a partition at start; the processor claims it at its own pace");
                    break;
                }
            }
            // A little jitter keeps replicas ramping together from colliding on every step.
            let jitter = Duration::from_millis(rand::random_range(5..40));
            tokio::time::sleep(jitter).await;
        }
        held
    }
}

/// How many live partitions `me` owns, and whether to claim one more: while below the fair
/// share of the owners seen (the SDK's rule: `partitions / owners`, one more while partitions
/// are left over), and the one more only when the free partitions outnumber what the other
/// owners still lack of the even share, so that they are not left to take it from us.
fn decide(
    listed: &[Ownership],
    partition_ids: &[String],
    me: &str,
    expiry: Duration,
    now: SystemTime,
) -> (usize, Step) {
    let mut owners: BTreeMap<&str, usize> = BTreeMap::new();
    owners.insert(me, 0);
    let mut live: HashSet<&str> = HashSet::new();
    for o in listed {
        let fresh = o.last_modified_time.is_none_or(|t| t + expiry > now);
        if let (Some(owner), true) = (o.owner_id.as_deref().filter(|s| !s.is_empty()), fresh) {
            *owners.entry(owner).or_default() += 1;
            live.insert(o.partition_id.as_str());
        }
    }
    let mine = owners.get(me).copied().unwrap_or(0);
    let free: Vec<Ownership> = partition_ids
        .iter()
        .filter(|p| !live.contains(p.as_str()))
        .map(|p| {
            listed
                .iter()
                .find(|o| &o.partition_id == p)
                .cloned()
                .unwrap_or_else(|| Ownership {
                    partition_id: p.clone(),
                    ..Default::default()
                })
        })
        .collect();
    let even = partition_ids.len() / owners.len();
    let left_over = !partition_ids.len().is_multiple_of(owners.len());
    let others_lack: usize = owners
        .iter()
        .filter(|(o, _)| **o != me)
        .map(|(_, n)| even.saturating_sub(*n))
        .sum();
    let claim = !free.is_empty()
        && (mine < even || (left_over && mine == even && free.len() > others_lack));
    (mine, if claim { Step::Claim(free) } else { Step::Done })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    fn owned(partition: usize, owner: &str) -> Ownership {
        Ownership {
            partition_id: partition.to_string(),
            owner_id: Some(owner.into()),
            last_modified_time: Some(time::OffsetDateTime::now_utc()),
            ..Default::default()
        }
    }

    fn claims(step: &Step) -> usize {
        match step {
            Step::Claim(free) => free.len(),
            Step::Done => 0,
        }
    }

    const EXPIRY: Duration = Duration::from_secs(60);

    #[test]
    fn alone_it_claims_everything() {
        let (mine, step) = decide(&[], &ids(16), "a", EXPIRY, SystemTime::now());
        assert_eq!((mine, claims(&step)), (0, 16));
        let listed: Vec<_> = (0..15).map(|p| owned(p, "a")).collect();
        let (mine, step) = decide(&listed, &ids(16), "a", EXPIRY, SystemTime::now());
        assert_eq!((mine, claims(&step)), (15, 1));
        let listed: Vec<_> = (0..16).map(|p| owned(p, "a")).collect();
        let (mine, step) = decide(&listed, &ids(16), "a", EXPIRY, SystemTime::now());
        assert_eq!((mine, claims(&step)), (16, 0));
    }

    #[test]
    fn three_stop_at_six_five_five_without_leaving_one_short() {
        // a and b hold 5 each, c 4: a may not take a 6th while c still lacks one and only one
        // partition is free.
        let mut listed: Vec<_> = (0..5).map(|p| owned(p, "a")).collect();
        listed.extend((5..10).map(|p| owned(p, "b")));
        listed.extend((10..14).map(|p| owned(p, "c")));
        let (_, step) = decide(&listed, &ids(16), "a", EXPIRY, SystemTime::now());
        assert_eq!(claims(&step), 2, "two free, c lacks one: a may take one");
        listed.push(owned(14, "a"));
        let (mine, step) = decide(&listed, &ids(16), "b", EXPIRY, SystemTime::now());
        assert_eq!((mine, claims(&step)), (5, 0), "the last one is c's");
        let (mine, step) = decide(&listed, &ids(16), "c", EXPIRY, SystemTime::now());
        assert_eq!((mine, claims(&step)), (4, 1));
        listed.push(owned(15, "c"));
        for me in ["a", "b", "c"] {
            let (_, step) = decide(&listed, &ids(16), me, EXPIRY, SystemTime::now());
            assert_eq!(claims(&step), 0, "{me}");
        }
    }

    #[test]
    fn expired_and_handed_back_partitions_are_free_and_keep_their_records() {
        let mut stale = owned(0, "gone");
        stale.last_modified_time = Some(time::OffsetDateTime::now_utc() - EXPIRY * 2);
        stale.etag = Some("\"0x1\"".to_string().into());
        let mut released = owned(1, "b");
        released.owner_id = None;
        let (mine, step) = decide(&[stale, released], &ids(2), "a", EXPIRY, SystemTime::now());
        assert_eq!(mine, 0);
        let Step::Claim(free) = step else {
            panic!("both are free")
        };
        assert_eq!(free.len(), 2);
        assert!(free[0].etag.is_some(), "a claim updates the record it saw");
    }
}
