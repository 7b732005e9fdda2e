//! Several replicas share the partitions of a hub through the blob checkpoint store (Azurite):
//! balanced ownership, a SIGKILLed replica's partitions taken over within the expiry, a new
//! replica taking a share, every alert delivered and no checkpointed event processed twice.

mod support;

#[path = "support/azurite.rs"]
mod azurite;

use azure_messaging_eventhubs::CheckpointStore;
use hubwatch::checkpoint::{BlobAuth, BlobCheckpointStore, BlobCheckpointStoreOptions};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};
use support::service::*;

const PARTITIONS: u32 = 8;
const EXPIRY_SECS: u64 = 6;

async fn owners(store: &BlobCheckpointStore) -> BTreeMap<String, String> {
    store
        .list_ownerships(NAMESPACE, HUB, "$Default")
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|o| {
            o.owner_id.as_deref().is_some_and(|id| !id.is_empty())
                && o.last_modified_time.is_some_and(|t| {
                    t + Duration::from_secs(EXPIRY_SECS) > std::time::SystemTime::now()
                })
        })
        .map(|o| (o.partition_id, o.owner_id.unwrap_or_default()))
        .collect()
}

/// Partitions per replica (by pid, which the owner id carries).
fn spread(owners: &BTreeMap<String, String>, pids: &[u32]) -> Vec<usize> {
    pids.iter()
        .map(|pid| {
            owners
                .values()
                .filter(|o| o.contains(&format!("-{pid}-")))
                .count()
        })
        .collect()
}

async fn wait_spread(
    store: &BlobCheckpointStore,
    pids: &[u32],
    want: &[usize],
    within: Duration,
) -> BTreeMap<String, String> {
    let end = Instant::now() + within;
    loop {
        let o = owners(store).await;
        let mut got = spread(&o, pids);
        got.sort_unstable();
        let mut w = want.to_vec();
        w.sort_unstable();
        if got == w && o.len() == PARTITIONS as usize {
            return o;
        }
        assert!(
            Instant::now() < end,
            "ownership spread {got:?}, wanted {w:?}: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_partitions_and_take_over_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let az = azurite::Azurite::start().await;
    let container = azurite::unique_container("scale");
    let container_url = az.container_url(&container);
    let store = BlobCheckpointStore::new(
        &container_url,
        BlobAuth::shared_key(azurite::ACCOUNT, azurite::KEY),
        BlobCheckpointStoreOptions::default(),
    )
    .unwrap();
    store.create_container_if_missing().await.unwrap();

    let emu = start_emulator(PARTITIONS, None).await;
    let producer = producer(emu.local_addr()).await;
    let mut want = HashSet::new();
    let mut next = 0;
    let mut send_round = |n: usize| {
        let mut batch = Vec::new();
        for p in 0..PARTITIONS {
            for _ in 0..n {
                let id = format!("e{next}");
                next += 1;
                want.insert(id.clone());
                batch.push((p.to_string(), matching_body(&id)));
            }
        }
        batch
    };
    for (p, b) in send_round(10) {
        send(&producer, &p, &[b]).await;
    }

    let config = config(dir.path(), emu.local_addr(), "");
    let env = [
        ("HUBWATCH_CHECKPOINT__KIND", "blob"),
        ("HUBWATCH_CHECKPOINT__CONTAINER_URL", container_url.as_str()),
        ("HUBWATCH_CHECKPOINT__AUTH", "shared-key"),
        ("HUBWATCH_CHECKPOINT__ACCOUNT_NAME", azurite::ACCOUNT),
        (
            "HUBWATCH_CHECKPOINT__ACCOUNT_KEY_ENV",
            "HUBWATCH_TEST_ACCOUNT_KEY",
        ),
        ("HUBWATCH_TEST_ACCOUNT_KEY", azurite::KEY),
        ("HUBWATCH_SOURCE__OWNERSHIP_EXPIRY_SECS", "6"),
        ("HUBWATCH_SOURCE__UPDATE_INTERVAL_SECS", "1"),
    ];
    let start = |name: &str| {
        Hubwatch::start_with_env(&config, &dir.path().join(format!("{name}.log")), &env)
    };
    let a = start("a");
    let b = start("b");
    let c = start("c");
    let pids = [a.pid(), b.pid(), c.pid()];
    let before_kill = wait_spread(&store, &pids, &[3, 3, 2], Duration::from_secs(60)).await;

    for (p, body) in send_round(5) {
        send(&producer, &p, &[body]).await;
    }
    // Let the replicas deliver and checkpoint, then kill one without warning.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_partitions: HashSet<String> = before_kill
        .iter()
        .filter(|(_, o)| o.contains(&format!("-{}-", a.pid())))
        .map(|(p, _)| p.clone())
        .collect();
    let checkpoints_at_kill: BTreeMap<String, i64> = store
        .list_checkpoints(NAMESPACE, HUB, "$Default")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.sequence_number.map(|s| (c.partition_id, s)))
        .collect();
    let killed_at = Instant::now();
    let alerts_a = tokio::task::block_in_place(|| a.kill9());

    // The survivors take the killed replica's partitions within the expiry.
    wait_spread(
        &store,
        &pids[1..],
        &[4, 4],
        Duration::from_secs(EXPIRY_SECS + 20),
    )
    .await;
    let takeover = killed_at.elapsed();
    assert!(
        takeover < Duration::from_secs(EXPIRY_SECS + 20),
        "takeover took {takeover:?}"
    );
    for (p, body) in send_round(5) {
        send(&producer, &p, &[body]).await;
    }

    // A new replica joins and takes a share.
    let d = start("d");
    let pids4 = [b.pid(), c.pid(), d.pid()];
    wait_spread(&store, &pids4, &[3, 3, 2], Duration::from_secs(60)).await;
    for (p, body) in send_round(5) {
        send(&producer, &p, &[body]).await;
    }

    // Everything arrives somewhere.
    let end = Instant::now() + Duration::from_secs(90);
    let all = loop {
        let mut all: Vec<Value> = alerts_a.clone();
        for r in [&b, &c, &d] {
            all.extend(r.alerts());
        }
        let got: HashSet<String> = ids(&all).into_iter().collect();
        if want.is_subset(&got) {
            break all;
        }
        assert!(
            Instant::now() < end,
            "missing alerts: {:?}",
            want.difference(&got).take(10).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Duplicates only where the killed replica had not checkpointed, with the same alert id.
    let mut by_event: HashMap<(String, i64), Vec<String>> = HashMap::new();
    for a in &all {
        let key = (
            a["source"]["partition"].as_str().unwrap().to_string(),
            a["source"]["sequence_number"].as_i64().unwrap(),
        );
        by_event
            .entry(key)
            .or_default()
            .push(a["alert_id"].as_str().unwrap().to_string());
    }
    for ((partition, seq), ids) in &by_event {
        if ids.len() > 1 {
            assert!(
                killed_partitions.contains(partition),
                "{partition}/{seq} processed twice but its replica was not killed"
            );
            let ckpt = checkpoints_at_kill.get(partition).copied().unwrap_or(-1);
            assert!(
                *seq > ckpt,
                "{partition}/{seq} was checkpointed ({ckpt}) and processed again"
            );
            assert!(
                ids.iter().all(|i| i == &ids[0]),
                "duplicates carry the same alert_id"
            );
        }
    }
    // A graceful stop hands partitions back at once.
    let d_log = d.log.clone();
    let (code, _) = tokio::task::block_in_place(|| d.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0));
    let left = owners(&store).await;
    assert!(
        !left
            .values()
            .any(|o| o.contains(&format!("-{}-", pids4[2]))),
        "the stopped replica still owns partitions: {left:?}\n{}",
        tail(&d_log)
    );
    drop(b);
    drop(c);
    emu.shutdown().await;
}
