//! Test helper: a real `redis-server` (Debian package `redis-server`).
//!
//! [`Redis::start`] launches a private server on a free loopback port with append-only
//! persistence (`appendfsync always`) in a temporary directory, so [`Redis::restart`] brings
//! back what was written; it is killed on drop. [`Redis::shared`] uses `REDIS_URL` (set by
//! `scripts/test.sh`) when present. Without `redis-server` the test fails under `CI=true` and
//! says `SKIPPED` on stderr elsewhere.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    pub url: String,
    pub port: u16,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

/// `None` (after saying so) when no `redis-server` can be run here and CI is not set.
pub fn available() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "redis-server is not installed (apt-get install redis-server; .ci/run does this)"
        );
        eprintln!("SKIPPED: redis-server is not installed");
    }
    ok
}

/// A key prefix no other test uses.
pub fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("test:{tag}:{}:{nanos}:", std::process::id())
}

impl Redis {
    /// `REDIS_URL` if set, else a private server.
    pub fn shared() -> Option<Redis> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            if !url.trim().is_empty() {
                let port = url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.trim_end_matches('/').parse().ok())
                    .unwrap_or(6379);
                return Some(Redis {
                    url,
                    port,
                    child: None,
                    dir: None,
                });
            }
        }
        Redis::start()
    }

    /// A private server on a free port.
    pub fn start() -> Option<Redis> {
        if !available() {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = tempfile::tempdir().expect("redis dir");
        let mut r = Redis {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            child: None,
            dir: Some(dir),
        };
        r.spawn();
        Some(r)
    }

    fn spawn(&mut self) {
        let dir = self
            .dir
            .as_ref()
            .expect("private server")
            .path()
            .to_path_buf();
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
            ])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(c) = redis::Client::open(self.url.as_str()) {
                if let Ok(mut conn) = c.get_connection() {
                    if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < end,
                "redis-server did not answer on {}",
                self.url
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGKILL; the append-only file keeps every acknowledged write).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection())
            .expect("redis connection")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
