//! The checkpoint store conformance suite: the ownership and checkpoint contract that the
//! SDK's `EventProcessor` relies on, written once and run against every store.
//!
//! A store's test file includes this module by path as `checkpoint_conformance`, implements
//! [`Fixture`] for its backing state (a temporary directory, an Azurite container), and
//! invokes `checkpoint_conformance!`, which generates one `#[tokio::test]` per case in a
//! `conformance` module:
//!
//! ```ignore
//! #[macro_use]
//! #[path = "support/checkpoint_conformance.rs"]
//! mod checkpoint_conformance;
//! checkpoint_conformance!(FileFixture);
//! ```
//!
//! The helpers (`ownership`, `checkpoint`, `assert_recent`, `bounded`, the names) are shared
//! with the store-specific tests.
#![allow(dead_code)]

use azure_core::http::Etag;
use azure_messaging_eventhubs::{
    models::{Checkpoint, Ownership},
    CheckpointStore,
};
use std::{future::Future, sync::Arc, time::Duration};
use time::OffsetDateTime;

/// Mixed case on purpose: the stores lower-case names in their layout, and listings must
/// still answer with the names as the caller passed them.
pub const NS: &str = "HubWatch-Test.servicebus.windows.net";
pub const HUB: &str = "Activity-Logs";
pub const CG: &str = "$Default";

/// The backing state of one test (a directory, a container) from which store instances are
/// opened. Each generated test makes a fresh fixture.
pub trait Fixture: Sized {
    type Store: CheckpointStore + Send + Sync + 'static;

    /// Bounds each test, set-up included.
    const TIMEOUT: Duration;

    /// Fresh, empty state.
    fn create() -> impl Future<Output = Self>;

    /// A store instance over this state, as a new process (or a restarted one) would open it.
    fn open(&self) -> Self::Store;

    /// The handle a competing processor claims through. The blob store is decided by the
    /// service (ETag conditions), so this is an independent instance; the file store decides
    /// claims under a lock held by the instance (one process per directory), so this is a
    /// clone sharing it.
    fn competitor(&self, store: &Self::Store) -> Self::Store;
}

/// Generates the conformance tests for a store, in a module `conformance`: one test per case,
/// each on a fresh `$fixture` (a type in scope implementing [`Fixture`]).
macro_rules! checkpoint_conformance {
    ($fixture:ident) => {
        mod conformance {
            use super::$fixture as Fx;
            use $crate::checkpoint_conformance::{self as suite, Fixture as _};

            #[tokio::test]
            async fn claim_unowned_then_renew_with_current_etag() {
                suite::bounded(Fx::TIMEOUT, async {
                    suite::claim_unowned_then_renew_with_current_etag(&Fx::create().await).await
                })
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_claims_exactly_one_wins() {
                suite::bounded(Fx::TIMEOUT, async {
                    suite::concurrent_claims_exactly_one_wins(&Fx::create().await).await
                })
                .await;
            }

            #[tokio::test]
            async fn checkpoints_round_trip() {
                suite::bounded(Fx::TIMEOUT, async {
                    suite::checkpoints_round_trip(&Fx::create().await).await
                })
                .await;
            }

            #[tokio::test]
            async fn state_survives_restart() {
                suite::bounded(Fx::TIMEOUT, async {
                    suite::state_survives_restart(&Fx::create().await).await
                })
                .await;
            }

            #[tokio::test]
            async fn usable_as_the_sdk_checkpoint_store() {
                suite::bounded(Fx::TIMEOUT, async {
                    suite::usable_as_the_sdk_checkpoint_store(&Fx::create().await)
                })
                .await;
            }
        }
    };
}

/// Fails the test instead of hanging.
pub async fn bounded<F: Future<Output = ()>>(limit: Duration, f: F) {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("test timed out after {limit:?}"));
}

pub fn ownership(partition: &str, owner: &str, etag: Option<Etag>) -> Ownership {
    Ownership {
        fully_qualified_namespace: NS.into(),
        event_hub_name: HUB.into(),
        consumer_group: CG.into(),
        partition_id: partition.into(),
        owner_id: Some(owner.into()),
        etag,
        last_modified_time: None,
    }
}

pub fn checkpoint(partition: &str, seq: i64, offset: &str) -> Checkpoint {
    Checkpoint {
        fully_qualified_namespace: NS.into(),
        event_hub_name: HUB.into(),
        consumer_group: CG.into(),
        partition_id: partition.into(),
        offset: Some(offset.into()),
        sequence_number: Some(seq),
    }
}

/// Set, not in the future, and less than a minute old (the SDK computes expiry from it).
pub fn assert_recent(t: Option<OffsetDateTime>) {
    let t = t.expect("last_modified_time is set");
    let age = OffsetDateTime::now_utc() - t;
    assert!(
        age < time::Duration::minutes(1) && age >= time::Duration::ZERO,
        "last_modified_time {t} is not recent"
    );
}

/// First claim, what the listing says about it, every way a claim loses (without an error),
/// renewal with the current ETag, and a batch that returns only its winners.
pub async fn claim_unowned_then_renew_with_current_etag<F: Fixture>(fx: &F) {
    let store = fx.open();
    assert!(store.list_ownerships(NS, HUB, CG).await.unwrap().is_empty());

    let claimed = store
        .claim_ownership(&[ownership("0", "owner-a", None)])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let first = &claimed[0];
    assert_eq!(first.owner_id.as_deref(), Some("owner-a"));
    assert_eq!(first.partition_id, "0");
    let etag1 = first.etag.clone().expect("etag after claim");
    assert_recent(first.last_modified_time);

    // The listing agrees with the claim result (etag, owner, expiry data) and answers with
    // the names as passed.
    let listed = store.list_ownerships(NS, HUB, CG).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].etag.as_ref(), Some(&etag1));
    assert_eq!(listed[0].owner_id.as_deref(), Some("owner-a"));
    assert_eq!(listed[0].fully_qualified_namespace, NS);
    assert_eq!(listed[0].consumer_group, CG);
    assert_eq!(listed[0].last_modified_time, first.last_modified_time);

    // A second "first claim" loses; a made-up etag loses.
    assert!(store
        .claim_ownership(&[ownership("0", "owner-b", None)])
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim_ownership(&[ownership("0", "owner-b", Some(Etag::from("nope")))])
        .await
        .unwrap()
        .is_empty());
    // An etag for a partition nobody owns loses (nothing to match).
    assert!(store
        .claim_ownership(&[ownership("9", "owner-b", Some(etag1.clone()))])
        .await
        .unwrap()
        .is_empty());

    // Renewal with the current etag wins and rotates etag and time (the pause makes the
    // time differ at the blob service's one-second resolution).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = store
        .claim_ownership(&[ownership("0", "owner-a", Some(etag1.clone()))])
        .await
        .unwrap();
    assert_eq!(renewed.len(), 1);
    let etag2 = renewed[0].etag.clone().unwrap();
    assert_ne!(etag1, etag2, "renewal must change the etag");
    assert!(renewed[0].last_modified_time > first.last_modified_time);
    assert_recent(renewed[0].last_modified_time);

    // The old etag is now stale: a claim with it loses, without error.
    let stale = store
        .claim_ownership(&[ownership("0", "owner-b", Some(etag1.clone()))])
        .await
        .unwrap();
    assert!(stale.is_empty());
    // A "first" claim on an owned partition loses too.
    let again = store
        .claim_ownership(&[ownership("0", "owner-b", None)])
        .await
        .unwrap();
    assert!(again.is_empty());

    // A batch mixing a stale and a fresh claim returns only the fresh one.
    let mixed = store
        .claim_ownership(&[
            ownership("0", "owner-b", Some(etag1)),
            ownership("1", "owner-b", None),
        ])
        .await
        .unwrap();
    assert_eq!(mixed.len(), 1);
    assert_eq!(mixed[0].partition_id, "1");

    let listed = store.list_ownerships(NS, HUB, CG).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].owner_id.as_deref(), Some("owner-a"));
    assert_eq!(listed[0].etag.as_ref(), Some(&etag2));
    assert_eq!(listed[0].last_modified_time, renewed[0].last_modified_time);
    assert_eq!(listed[1].owner_id.as_deref(), Some("owner-b"));
}

/// Claims from four processors at once, through their own handles
/// ([`Fixture::competitor`]), on many threads: exactly one wins a first claim, and exactly
/// one wins a steal with the same etag (as processors would after all listing the same
/// expired ownership).
pub async fn concurrent_claims_exactly_one_wins<F: Fixture>(fx: &F) {
    let store = fx.open();
    let owners = ["owner-a", "owner-b", "owner-c", "owner-d"];
    let handles: Vec<Arc<F::Store>> = owners
        .iter()
        .map(|_| Arc::new(fx.competitor(&store)))
        .collect();
    let race = |partition: &str, etag: Option<Etag>| {
        let tasks: Vec<_> = owners
            .iter()
            .zip(&handles)
            .map(|(owner, handle)| {
                let handle = Arc::clone(handle);
                let claim = ownership(partition, owner, etag.clone());
                tokio::spawn(async move { handle.claim_ownership(&[claim]).await })
            })
            .collect();
        async move {
            let mut won = Vec::new();
            for task in tasks {
                won.extend(task.await.unwrap().unwrap());
            }
            won
        }
    };

    // Races for unowned partitions.
    for round in 0..20 {
        let partition = round.to_string();
        let seen = store
            .list_ownerships(NS, HUB, CG)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.partition_id == partition)
            .and_then(|o| o.etag);
        let won = race(&partition, seen).await;
        assert_eq!(won.len(), 1, "round {round}: exactly one first claim wins");
    }

    // Race to steal with the same etag.
    let seen = store.list_ownerships(NS, HUB, CG).await.unwrap();
    let etag = seen
        .iter()
        .find(|o| o.partition_id == "3")
        .and_then(|o| o.etag.clone());
    assert!(etag.is_some());
    let won = race("3", etag.clone()).await;
    assert_eq!(won.len(), 1, "exactly one claim with the same etag wins");
    let winner = &won[0];
    let listed = store.list_ownerships(NS, HUB, CG).await.unwrap();
    let listed = listed
        .iter()
        .find(|o| o.partition_id == "3")
        .expect("partition 3 is listed");
    assert_eq!(listed.owner_id, winner.owner_id);
    assert_eq!(listed.etag, winner.etag);

    // A batch mixing a stale and a fresh claim returns only the fresh one.
    let mixed = handles[1]
        .claim_ownership(&[
            ownership("3", "owner-b", etag),
            ownership("20", "owner-b", None),
        ])
        .await
        .unwrap();
    assert_eq!(mixed.len(), 1);
    assert_eq!(mixed[0].partition_id, "20");
}

/// Checkpoints `0` (overwritten), `1` and `2` (a sequence number only), and ownership of
/// `0` and `1` by `owner-a`; returns the claims.
async fn write_sample_state<S: CheckpointStore>(store: &S) -> Vec<Ownership> {
    store
        .update_checkpoint(checkpoint("0", 41, "4096"))
        .await
        .unwrap();
    store
        .update_checkpoint(checkpoint("1", 7, "100"))
        .await
        .unwrap();
    // Overwrite an existing checkpoint.
    store
        .update_checkpoint(checkpoint("0", 42, "8192"))
        .await
        .unwrap();
    // Only a sequence number.
    store
        .update_checkpoint(Checkpoint {
            offset: None,
            ..checkpoint("2", 5, "")
        })
        .await
        .unwrap();
    let claimed = store
        .claim_ownership(&[
            ownership("0", "owner-a", None),
            ownership("1", "owner-a", None),
        ])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    claimed
}

/// `(partition, sequence number, offset)` of each listed checkpoint.
fn summary(cps: &[Checkpoint]) -> Vec<(&str, Option<i64>, Option<&str>)> {
    cps.iter()
        .map(|c| {
            (
                c.partition_id.as_str(),
                c.sequence_number,
                c.offset.as_deref(),
            )
        })
        .collect()
}

/// Checkpoints read back as written, sorted by partition; names are case-insensitive;
/// consumer groups are separate; empty identifying fields are rejected.
pub async fn checkpoints_round_trip<F: Fixture>(fx: &F) {
    let store = fx.open();
    assert!(store
        .list_checkpoints(NS, HUB, CG)
        .await
        .unwrap()
        .is_empty());
    write_sample_state(&store).await;

    let cps = store.list_checkpoints(NS, HUB, CG).await.unwrap();
    assert_eq!(cps.len(), 3);
    assert_eq!(cps[0].partition_id, "0");
    assert_eq!(cps[0].sequence_number, Some(42));
    assert_eq!(cps[0].offset.as_deref(), Some("8192"));
    assert_eq!(cps[0].consumer_group, CG);
    assert_eq!(cps[1].sequence_number, Some(7));
    assert_eq!(cps[2].offset, None);
    assert_eq!(cps[2].sequence_number, Some(5));

    // Names are case-insensitive, as in the other SDKs; other consumer groups are separate.
    let upper = store
        .list_checkpoints(&NS.to_uppercase(), HUB, "$default")
        .await
        .unwrap();
    assert_eq!(summary(&upper), summary(&cps));
    assert!(store
        .list_checkpoints(NS, HUB, "other")
        .await
        .unwrap()
        .is_empty());

    // Empty identifying fields are rejected.
    assert!(store
        .update_checkpoint(checkpoint("", 1, "1"))
        .await
        .is_err());
}

/// A new store instance over the same state (a restart) sees every checkpoint and ownership
/// as written, and honours the etags from before the restart.
pub async fn state_survives_restart<F: Fixture>(fx: &F) {
    let claimed = {
        let store = fx.open();
        write_sample_state(&store).await
    };

    let store = fx.open();
    let cps = store.list_checkpoints(NS, HUB, CG).await.unwrap();
    assert_eq!(
        summary(&cps),
        vec![
            ("0", Some(42), Some("8192")),
            ("1", Some(7), Some("100")),
            ("2", Some(5), None)
        ]
    );
    assert!(cps
        .iter()
        .all(|c| c.consumer_group == CG && c.event_hub_name == HUB));

    let owns = store.list_ownerships(NS, HUB, CG).await.unwrap();
    assert_eq!(owns.len(), 2);
    for (listed, claimed) in owns.iter().zip(&claimed) {
        assert_eq!(listed.partition_id, claimed.partition_id);
        assert_eq!(listed.owner_id.as_deref(), Some("owner-a"));
        assert!(listed.etag.is_some());
        assert_eq!(listed.etag, claimed.etag);
        assert_eq!(listed.last_modified_time, claimed.last_modified_time);
        assert_recent(listed.last_modified_time);
    }

    // Names are case-insensitive after a restart too; another consumer group sees nothing.
    let lower = store
        .list_checkpoints(&NS.to_lowercase(), &HUB.to_uppercase(), "$default")
        .await
        .unwrap();
    assert_eq!(lower.len(), 3);
    assert!(store
        .list_checkpoints(NS, HUB, "other")
        .await
        .unwrap()
        .is_empty());

    // The restarted instance can renew with the listed etag.
    let renewed = store
        .claim_ownership(&[ownership("0", "owner-a", owns[0].etag.clone())])
        .await
        .unwrap();
    assert_eq!(renewed.len(), 1);
}

/// The `EventProcessor` takes an `Arc<dyn CheckpointStore>`.
pub fn usable_as_the_sdk_checkpoint_store<F: Fixture>(fx: &F) {
    let _dyn_store: Arc<dyn CheckpointStore> = Arc::new(fx.open());
}
