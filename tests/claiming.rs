//! How fast replicas claim partitions (blob ownership records in Azurite, the local Event Hubs
//! server): a single replica owns every partition within seconds of its first claim, three replicas
//! converge to a fair share and stay there, and a replica restarted after SIGKILL takes back
//! what its previous process held at once instead of waiting for that ownership to expire.
//!
//! The bounds are counted in update intervals, set long here, so claiming one partition per
//! interval, as the SDK's processor does on its own, fails them by several intervals.

mod support;

#[path = "support/azurite.rs"]
mod azurite;

use azure_messaging_eventhubs::CheckpointStore;
use hubwatch::checkpoint::{BlobAuth, BlobCheckpointStore, BlobCheckpointStoreOptions};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use support::service::*;

/// Live owners (not expired) by partition.
async fn owners(store: &BlobCheckpointStore, expiry: Duration) -> BTreeMap<String, String> {
    store
        .list_ownerships(NAMESPACE, HUB, "$Default")
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|o| {
            o.owner_id.as_deref().is_some_and(|id| !id.is_empty())
                && o.last_modified_time
                    .is_some_and(|t| t + expiry > SystemTime::now())
        })
        .map(|o| (o.partition_id, o.owner_id.unwrap_or_default()))
        .collect()
}

/// Partitions owned by the process `pid` (the owner id carries it as `-{pid}-`).
fn owned_by(owners: &BTreeMap<String, String>, pid: u32) -> usize {
    owners
        .values()
        .filter(|o| o.contains(&format!("-{pid}-")))
        .count()
}

/// Polls until `done` holds for the live owners; panics with `what` and the last state after
/// `within`.
async fn wait_owners(
    store: &BlobCheckpointStore,
    expiry: Duration,
    within: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let end = Instant::now() + within;
    loop {
        let o = owners(store, expiry).await;
        if done(&o) {
            return o;
        }
        assert!(Instant::now() < end, "{what} not within {within:?}: {o:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Setup {
    _az: azurite::Azurite,
    container_url: String,
    store: BlobCheckpointStore,
    emu: Emulator,
}

async fn setup(partitions: u32) -> Setup {
    let az = azurite::Azurite::start().await;
    let container_url = az.container_url(&azurite::unique_container("claim"));
    let store = BlobCheckpointStore::new(
        &container_url,
        BlobAuth::shared_key(azurite::ACCOUNT, azurite::KEY),
        BlobCheckpointStoreOptions::default(),
    )
    .unwrap();
    store.create_container_if_missing().await.unwrap();
    let emu = start_emulator(partitions, None).await;
    Setup {
        _az: az,
        container_url,
        store,
        emu,
    }
}

fn start(
    s: &Setup,
    config: &Path,
    log: &Path,
    update_interval: u64,
    expiry: u64,
    state: &Path,
) -> Hubwatch {
    let (update, expiry) = (update_interval.to_string(), expiry.to_string());
    let state = state.display().to_string();
    let env = [
        ("HUBWATCH_CHECKPOINT__KIND", "blob"),
        (
            "HUBWATCH_CHECKPOINT__CONTAINER_URL",
            s.container_url.as_str(),
        ),
        ("HUBWATCH_CHECKPOINT__AUTH", "shared-key"),
        ("HUBWATCH_CHECKPOINT__ACCOUNT_NAME", azurite::ACCOUNT),
        (
            "HUBWATCH_CHECKPOINT__ACCOUNT_KEY_ENV",
            "HUBWATCH_TEST_ACCOUNT_KEY",
        ),
        ("HUBWATCH_TEST_ACCOUNT_KEY", azurite::KEY),
        ("HUBWATCH_SOURCE__UPDATE_INTERVAL_SECS", update.as_str()),
        ("HUBWATCH_SOURCE__OWNERSHIP_EXPIRY_SECS", expiry.as_str()),
        ("HUBWATCH_SERVICE__STATE_DIR", state.as_str()),
    ];
    Hubwatch::start_with_env(config, log, &env)
}

/// One event per partition; waits until `replica` raised the alert of each.
async fn every_partition_read(
    producer: &azure_messaging_eventhubs::ProducerClient,
    replicas: &[&Hubwatch],
    partitions: u32,
    tag: &str,
    within: Duration,
) {
    let mut want = HashSet::new();
    for p in 0..partitions {
        let id = format!("{tag}-{p}");
        send(producer, &p.to_string(), &[matching_body(&id)]).await;
        want.insert(id);
    }
    let end = Instant::now() + within;
    loop {
        let got: HashSet<String> = replicas.iter().flat_map(|r| ids(&r.alerts())).collect();
        let missing: Vec<_> = want.difference(&got).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < end,
            "not read within {within:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_owns_every_partition_within_seconds() {
    const PARTITIONS: u32 = 16;
    const UPDATE: u64 = 30;
    let expiry = Duration::from_secs(3 * UPDATE);
    let dir = tempfile::tempdir().unwrap();
    let s = setup(PARTITIONS).await;
    let config = config(dir.path(), s.emu.local_addr(), "");
    let a = start(
        &s,
        &config,
        &dir.path().join("a.log"),
        UPDATE,
        3 * UPDATE,
        &dir.path().join("a"),
    );
    // From the first claim (whenever start-up got there): one partition per interval would
    // need 15 more intervals; a third of one is plenty for a single cycle.
    let first = wait_owners(
        &s.store,
        expiry,
        Duration::from_secs(120),
        "a first claim",
        |o| !o.is_empty(),
    )
    .await;
    let first_at = Instant::now();
    eprintln!("first claim: {} partition(s)", first.len());
    wait_owners(
        &s.store,
        expiry,
        Duration::from_secs(UPDATE / 3),
        "every partition owned by the one replica",
        |o| owned_by(o, a.pid()) == PARTITIONS as usize,
    )
    .await;
    eprintln!(
        "all {PARTITIONS} owned {:?} after the first claim",
        first_at.elapsed()
    );
    let producer = producer(s.emu.local_addr()).await;
    every_partition_read(
        &producer,
        &[&a],
        PARTITIONS,
        "one",
        Duration::from_secs(UPDATE / 2),
    )
    .await;
    let (code, _) = tokio::task::block_in_place(|| a.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0), "{}", tail(&dir.path().join("a.log")));
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_converge_to_a_fair_share_and_stay() {
    const PARTITIONS: u32 = 16;
    const UPDATE: u64 = 8;
    let expiry = Duration::from_secs(4 * UPDATE);
    let dir = tempfile::tempdir().unwrap();
    let s = setup(PARTITIONS).await;
    let config = config(dir.path(), s.emu.local_addr(), "");
    // Three replicas on one state directory: each still gets an identity of its own.
    let state = dir.path().join("state");
    let replicas: Vec<Hubwatch> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            start(
                &s,
                &config,
                &dir.path().join(format!("{n}.log")),
                UPDATE,
                4 * UPDATE,
                &state,
            )
        })
        .collect();
    let pids: Vec<u32> = replicas.iter().map(Hubwatch::pid).collect();
    wait_owners(
        &s.store,
        expiry,
        Duration::from_secs(120),
        "a first claim",
        |o| !o.is_empty(),
    )
    .await;
    let first_at = Instant::now();
    // Every partition read within two intervals of the first claim (three replicas claiming
    // one each per interval would need five more).
    wait_owners(
        &s.store,
        expiry,
        Duration::from_secs(2 * UPDATE),
        "every partition owned",
        |o| o.len() == PARTITIONS as usize,
    )
    .await;
    eprintln!(
        "all {PARTITIONS} owned {:?} after the first claim",
        first_at.elapsed()
    );
    let spread = |o: &BTreeMap<String, String>| {
        let mut s: Vec<usize> = pids.iter().map(|p| owned_by(o, *p)).collect();
        s.sort_unstable();
        s
    };
    let settled = wait_owners(
        &s.store,
        expiry,
        Duration::from_secs(12 * UPDATE),
        "a 6/5/5 spread",
        |o| o.len() == PARTITIONS as usize && spread(o) == [5, 5, 6],
    )
    .await;
    eprintln!("6/5/5 {:?} after the first claim", first_at.elapsed());
    // No flapping: three more cycles change no owner.
    let end = Instant::now() + Duration::from_secs(3 * UPDATE);
    while Instant::now() < end {
        let now = owners(&s.store, expiry).await;
        assert_eq!(now, settled, "ownership moved after settling");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let producer = producer(s.emu.local_addr()).await;
    let refs: Vec<&Hubwatch> = replicas.iter().collect();
    every_partition_read(
        &producer,
        &refs,
        PARTITIONS,
        "three",
        Duration::from_secs(2 * UPDATE),
    )
    .await;
    drop(replicas);
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_restarted_after_sigkill_takes_back_its_partitions_at_once() {
    const PARTITIONS: u32 = 4;
    const UPDATE: u64 = 2;
    // Long enough that waiting for the killed process's ownership to expire fails the bound.
    const EXPIRY: u64 = 90;
    let expiry = Duration::from_secs(EXPIRY);
    let dir = tempfile::tempdir().unwrap();
    let s = setup(PARTITIONS).await;
    let config = config(dir.path(), s.emu.local_addr(), "");
    let state = dir.path().join("state");
    let log = dir.path().join("a.log");
    let a = start(&s, &config, &log, UPDATE, EXPIRY, &state);
    let a_pid = a.pid();
    wait_owners(
        &s.store,
        expiry,
        Duration::from_secs(120),
        "every partition owned before the kill",
        |o| owned_by(o, a_pid) == PARTITIONS as usize,
    )
    .await;
    tokio::task::block_in_place(|| a.kill9());

    let restarted_at = Instant::now();
    let a2 = start(&s, &config, &log, UPDATE, EXPIRY, &state);
    wait_owners(
        &s.store,
        expiry,
        Duration::from_secs(EXPIRY / 3),
        "every partition owned by the restarted process",
        |o| owned_by(o, a2.pid()) == PARTITIONS as usize,
    )
    .await;
    eprintln!(
        "restarted process owns all {PARTITIONS} partitions {:?} after its start",
        restarted_at.elapsed()
    );
    let producer = producer(s.emu.local_addr()).await;
    every_partition_read(
        &producer,
        &[&a2],
        PARTITIONS,
        "restart",
        Duration::from_secs(EXPIRY / 3),
    )
    .await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("took back the partitions this replica's previous process owned"),
        "{}",
        tail(&log)
    );
    let (code, _) = tokio::task::block_in_place(|| a2.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0), "{}", tail(&log));
    s.emu.shutdown().await;
}
