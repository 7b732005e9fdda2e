//! Contract tests for `FileCheckpointStore`.

use azure_core::http::Etag;
use azure_messaging_eventhubs::{
    models::{Checkpoint, Ownership},
    CheckpointStore,
};
use hubwatch::checkpoint::FileCheckpointStore;
use std::{future::Future, sync::Arc, time::Duration};
use time::OffsetDateTime;

const NS: &str = "HubWatch-Test.servicebus.windows.net";
const HUB: &str = "activity-logs";
const CG: &str = "$Default";

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test timed out after 60 s");
}

fn ownership(partition: &str, owner: &str, etag: Option<Etag>) -> Ownership {
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

fn checkpoint(partition: &str, seq: i64, offset: &str) -> Checkpoint {
    Checkpoint {
        fully_qualified_namespace: NS.into(),
        event_hub_name: HUB.into(),
        consumer_group: CG.into(),
        partition_id: partition.into(),
        offset: Some(offset.into()),
        sequence_number: Some(seq),
    }
}

fn assert_recent(t: Option<OffsetDateTime>) {
    let age = OffsetDateTime::now_utc() - t.expect("last_modified_time set");
    assert!(age < time::Duration::minutes(1) && age >= time::Duration::ZERO);
}

#[tokio::test]
async fn checkpoint_round_trip() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        assert!(store
            .list_checkpoints(NS, HUB, CG)
            .await
            .unwrap()
            .is_empty());
        store
            .update_checkpoint(checkpoint("0", 41, "4096"))
            .await
            .unwrap();
        store
            .update_checkpoint(checkpoint("1", 7, "100"))
            .await
            .unwrap();
        store
            .update_checkpoint(checkpoint("0", 42, "8192"))
            .await
            .unwrap();
        let cps = store.list_checkpoints(NS, HUB, CG).await.unwrap();
        assert_eq!(cps.len(), 2);
        assert_eq!(cps[0].partition_id, "0");
        assert_eq!(cps[0].sequence_number, Some(42));
        assert_eq!(cps[0].offset.as_deref(), Some("8192"));
        assert_eq!(cps[0].consumer_group, CG);
        assert_eq!(cps[1].sequence_number, Some(7));
        // Case-insensitive names; other consumer groups are separate.
        assert_eq!(
            store
                .list_checkpoints(&NS.to_uppercase(), HUB, "$default")
                .await
                .unwrap()
                .len(),
            2
        );
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
    })
    .await;
}

#[tokio::test]
async fn ownership_claims_honour_etags() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();

        let first = store
            .claim_ownership(&[ownership("0", "a", None)])
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        let etag1 = first[0].etag.clone().unwrap();
        assert_recent(first[0].last_modified_time);

        // Second "first claim" loses; a made-up etag loses.
        assert!(store
            .claim_ownership(&[ownership("0", "b", None)])
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .claim_ownership(&[ownership("0", "b", Some(Etag::from("nope")))])
            .await
            .unwrap()
            .is_empty());
        // An etag for a partition nobody owns loses (nothing to match).
        assert!(store
            .claim_ownership(&[ownership("9", "b", Some(etag1.clone()))])
            .await
            .unwrap()
            .is_empty());

        // Renewal with the current etag wins and rotates etag and time.
        let renewed = store
            .claim_ownership(&[ownership("0", "a", Some(etag1.clone()))])
            .await
            .unwrap();
        assert_eq!(renewed.len(), 1);
        let etag2 = renewed[0].etag.clone().unwrap();
        assert_ne!(etag1, etag2);
        assert!(renewed[0].last_modified_time >= first[0].last_modified_time);

        // Stale etag loses; a mixed batch returns only the winners.
        let mixed = store
            .claim_ownership(&[ownership("0", "b", Some(etag1)), ownership("1", "b", None)])
            .await
            .unwrap();
        assert_eq!(mixed.len(), 1);
        assert_eq!(mixed[0].partition_id, "1");

        let listed = store.list_ownerships(NS, HUB, CG).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].owner_id.as_deref(), Some("a"));
        assert_eq!(listed[0].etag.as_ref(), Some(&etag2));
        assert_eq!(listed[0].last_modified_time, renewed[0].last_modified_time);
        assert_eq!(listed[1].owner_id.as_deref(), Some("b"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_with_the_same_etag_exactly_one_wins() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileCheckpointStore::open(dir.path()).unwrap());
        for round in 0..20 {
            let partition = format!("{round}");
            let seen = store
                .list_ownerships(NS, HUB, CG)
                .await
                .unwrap()
                .into_iter()
                .find(|o| o.partition_id == partition)
                .and_then(|o| o.etag);
            let mut tasks = Vec::new();
            for owner in ["a", "b", "c", "d"] {
                let store = Arc::clone(&store);
                let o = ownership(&partition, owner, seen.clone());
                tasks.push(tokio::spawn(
                    async move { store.claim_ownership(&[o]).await },
                ));
            }
            let mut wins = 0;
            for t in tasks {
                wins += t.await.unwrap().unwrap().len();
            }
            assert_eq!(wins, 1, "round {round}: exactly one claim wins");
        }
    })
    .await;
}

#[tokio::test]
async fn state_survives_reopen() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let claimed = {
            let store = FileCheckpointStore::open(dir.path()).unwrap();
            store
                .update_checkpoint(checkpoint("0", 42, "8192"))
                .await
                .unwrap();
            store
                .claim_ownership(&[ownership("0", "a", None), ownership("1", "a", None)])
                .await
                .unwrap()
        };
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        let cps = store.list_checkpoints(NS, HUB, CG).await.unwrap();
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].sequence_number, Some(42));
        let owns = store.list_ownerships(NS, HUB, CG).await.unwrap();
        assert_eq!(owns.len(), 2);
        for (listed, claimed) in owns.iter().zip(&claimed) {
            assert_eq!(listed.etag, claimed.etag);
            assert_eq!(listed.last_modified_time, claimed.last_modified_time);
            assert_eq!(listed.owner_id.as_deref(), Some("a"));
        }
        // The reopened store honours etags from before the restart.
        let renewed = store
            .claim_ownership(&[ownership("0", "a", owns[0].etag.clone())])
            .await
            .unwrap();
        assert_eq!(renewed.len(), 1);
    })
    .await;
}

/// Walks `root` and returns every file path.
fn files_under(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn partial_temp_files_do_not_break_reopen() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = FileCheckpointStore::open(dir.path()).unwrap();
            store
                .update_checkpoint(checkpoint("0", 42, "8192"))
                .await
                .unwrap();
            store
                .claim_ownership(&[ownership("0", "a", None)])
                .await
                .unwrap();
        }
        // Simulate a crash between creating and renaming temp files: leave
        // truncated JSON next to every record.
        let records = files_under(dir.path());
        assert_eq!(records.len(), 2, "{records:?}");
        for record in &records {
            let parent = record.parent().unwrap();
            let name = record.file_name().unwrap().to_str().unwrap();
            std::fs::write(
                parent.join(format!(".tmp.{name}.99999.0")),
                b"{\"version\":1,\"ful",
            )
            .unwrap();
        }
        // Listing with the garbage present ignores it.
        let store = FileCheckpointStore::open(dir.path());
        let store = store.unwrap();
        assert_eq!(store.list_checkpoints(NS, HUB, CG).await.unwrap().len(), 1);
        // open() cleaned them up.
        assert_eq!(files_under(dir.path()).len(), 2);

        // Garbage written after open is ignored by list as well.
        let parent = records[0].parent().unwrap();
        std::fs::write(parent.join(".tmp.x.json.1.1"), b"garbage").unwrap();
        assert_eq!(store.list_checkpoints(NS, HUB, CG).await.unwrap().len(), 1);
        assert_eq!(store.list_ownerships(NS, HUB, CG).await.unwrap().len(), 1);
        let cps = store.list_checkpoints(NS, HUB, CG).await.unwrap();
        assert_eq!(cps[0].sequence_number, Some(42));
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_record_is_a_clear_error() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::open(dir.path()).unwrap();
        store
            .update_checkpoint(checkpoint("0", 42, "8192"))
            .await
            .unwrap();
        let record = files_under(dir.path()).pop().unwrap();
        std::fs::write(&record, b"{ not json").unwrap();
        let err = store.list_checkpoints(NS, HUB, CG).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(record.to_str().unwrap()), "{text}");
        // Rewriting the checkpoint repairs it.
        store
            .update_checkpoint(checkpoint("0", 43, "9000"))
            .await
            .unwrap();
        assert_eq!(
            store.list_checkpoints(NS, HUB, CG).await.unwrap()[0].sequence_number,
            Some(43)
        );
    })
    .await;
}

#[tokio::test]
async fn io_errors_name_the_path() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"file").unwrap();
        let err = FileCheckpointStore::open(blocker.join("state")).unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    })
    .await;
}

const CHILD_ENV: &str = "HUBWATCH_FILE_STORE_KILL9_DIR";

/// Helper run as a child process by `survives_kill_9_mid_write`: writes
/// checkpoints and claims in a tight loop until killed. A no-op in a normal
/// test run.
#[tokio::test]
async fn kill9_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = FileCheckpointStore::open(dir).unwrap();
    let mut etag = None;
    for seq in 0.. {
        store
            .update_checkpoint(checkpoint("0", seq, &seq.to_string()))
            .await
            .unwrap();
        let won = store
            .claim_ownership(&[ownership("0", "child", etag.clone())])
            .await
            .unwrap();
        etag = won.into_iter().next().and_then(|o| o.etag);
    }
}

#[tokio::test]
async fn survives_kill_9_mid_write() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "kill9_writer_child", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Let it write for a while (without opening the store here: open()
        // removes temporary files, and a directory has one writer), then
        // SIGKILL it (std's kill is SIGKILL) while it is still writing.
        let started = std::time::Instant::now();
        let record = dir.path().join("hubwatch-test.servicebus.windows.net");
        while !record.exists() && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer child must still be running when killed"
        );
        child.kill().unwrap();
        child.wait().unwrap();

        let store = FileCheckpointStore::open(dir.path()).unwrap();
        let cps = store.list_checkpoints(NS, HUB, CG).await.unwrap();
        assert_eq!(cps.len(), 1);
        let seq = cps[0].sequence_number.unwrap();
        assert!(seq > 0, "the child made progress");
        assert_eq!(cps[0].offset.as_deref(), Some(seq.to_string().as_str()));
        let owns = store.list_ownerships(NS, HUB, CG).await.unwrap();
        assert_eq!(owns.len(), 1);
        // The last state is consistent: a renewal with the listed etag wins.
        let won = store
            .claim_ownership(&[ownership("0", "parent", owns[0].etag.clone())])
            .await
            .unwrap();
        assert_eq!(won.len(), 1);
        // No temporary files survive a reopen.
        assert!(files_under(dir.path()).iter().all(|p| !p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with('.')));
    })
    .await;
}
