//! `FileCheckpointStore`: the shared conformance suite (`conformance::*`, see
//! `tests/support/checkpoint_conformance.rs`) over a temporary directory, and the file store's
//! own guarantees: temporary files from a crash, corrupt records, I/O errors naming the path,
//! and `kill -9` in the middle of a write.

#[macro_use]
#[path = "support/checkpoint_conformance.rs"]
mod checkpoint_conformance;

use azure_messaging_eventhubs::CheckpointStore;
use checkpoint_conformance::{checkpoint, ownership, Fixture, CG, HUB, NS};
use hubwatch::checkpoint::FileCheckpointStore;
use std::{future::Future, time::Duration};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A temporary directory; every `open` is `FileCheckpointStore::open` on it.
struct FileFixture {
    dir: tempfile::TempDir,
}

impl Fixture for FileFixture {
    type Store = FileCheckpointStore;
    const TIMEOUT: Duration = TIMEOUT;

    async fn create() -> FileFixture {
        FileFixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn open(&self) -> FileCheckpointStore {
        FileCheckpointStore::open(self.dir.path()).unwrap()
    }

    /// A clone: the claim lock is per instance, and one process owns a directory.
    fn competitor(&self, store: &FileCheckpointStore) -> FileCheckpointStore {
        store.clone()
    }
}

checkpoint_conformance!(FileFixture);

async fn bounded<F: Future<Output = ()>>(f: F) {
    checkpoint_conformance::bounded(TIMEOUT, f).await;
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
