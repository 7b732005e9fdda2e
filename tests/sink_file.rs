//! The file sink: fsynced JSON lines and size-based rotation.

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::{alert, sink_config};
use hubwatch::sink::file::FileSink;
use hubwatch::sink::Sink;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn ids(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["alert_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn appends_one_line_per_alert() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/alerts.jsonl");
        let sink = hubwatch::sink::build(
            &sink_config(&format!("kind = \"file\"\npath = \"{}\"", path.display())),
            0,
        )
        .await
        .unwrap();
        assert_eq!(sink.name(), "file");
        sink.send(&[Arc::new(alert(1)), Arc::new(alert(2))])
            .await
            .unwrap();
        // Readable right after send returns: no flush needed.
        assert_eq!(ids(&path), ["alert-0001", "alert-0002"]);
        sink.send(&[Arc::new(alert(3))]).await.unwrap();
        assert_eq!(ids(&path), ["alert-0001", "alert-0002", "alert-0003"]);
        // A second sink on the same file appends.
        let again = FileSink::new("again", &path, None, 5);
        again.send(&[Arc::new(alert(4))]).await.unwrap();
        assert_eq!(ids(&path).len(), 4);
        let line = std::fs::read_to_string(&path).unwrap();
        let first: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert_eq!(first["event"]["operationName"], "KeyGet");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn rotates_by_size_keeping_max_files() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let line = alert(0).to_json().len() as u64 + 1;
        // Two lines per file.
        let sink = FileSink::new("file", &path, Some(line * 2 + 10), 2);
        for i in 0..9 {
            sink.send(&[Arc::new(alert(i))]).await.unwrap();
        }
        let rotated = |n: u32| dir.path().join(format!("alerts.jsonl.{n}"));
        assert_eq!(ids(&path), ["alert-0008"]);
        assert_eq!(ids(&rotated(1)), ["alert-0006", "alert-0007"]);
        assert_eq!(ids(&rotated(2)), ["alert-0004", "alert-0005"]);
        assert!(
            !rotated(3).exists(),
            "only max_files rotated files are kept"
        );
        for p in [path.clone(), rotated(1), rotated(2)] {
            assert!(std::fs::metadata(&p).unwrap().len() <= line * 2 + 10);
        }
        // A batch larger than max_bytes goes whole into a fresh file.
        let big: Vec<_> = (20..25).map(|i| Arc::new(alert(i))).collect();
        sink.send(&big).await.unwrap();
        assert_eq!(ids(&path).len(), 5);
        assert_eq!(ids(&rotated(1)), ["alert-0008"]);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn io_errors_are_transient() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        // The parent "directory" is a file: opening fails.
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, "x").unwrap();
        let sink = FileSink::new("file", blocker.join("alerts.jsonl"), None, 5);
        let e = sink.send(&[Arc::new(alert(1))]).await.unwrap_err();
        assert!(
            matches!(e, hubwatch::sink::SinkError::Transient { .. }),
            "{e}"
        );
    })
    .await
    .expect("test timed out");
}
