//! Test helper: a running Azurite blob endpoint.
//!
//! If `AZURITE_BLOB_URL` is set (for example `http://127.0.0.1:10000/devstoreaccount1`),
//! tests use that endpoint. Otherwise each [`Azurite::start`] launches
//! `node_modules/.bin/azurite-blob` (installed by `npm ci` from the committed
//! `package.json`/`package-lock.json`) on a free port with in-memory
//! persistence, waits until it answers HTTP, and kills it on drop. A missing
//! Azurite install fails the test: it is never skipped.
#![allow(dead_code)]

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public, not a secret), as
/// in `node_modules/azurite/dist/src/common/utils/constants.js`
/// (`EMULATOR_ACCOUNT_KEY`).
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    /// Account URL, path-style: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub account_url: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Azurite {
    /// Uses `AZURITE_BLOB_URL` or starts a private Azurite.
    pub async fn start() -> Azurite {
        if let Ok(url) = std::env::var("AZURITE_BLOB_URL") {
            let url = url.trim().trim_end_matches('/').to_string();
            if !url.is_empty() {
                wait_ready(&url, None)
                    .await
                    .unwrap_or_else(|e| panic!("AZURITE_BLOB_URL={url} does not answer: {e}"));
                return Azurite {
                    account_url: url,
                    child: None,
                    _dir: None,
                };
            }
        }

        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let bin = root.join("node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "Azurite is not installed ({} is missing): run `npm ci` in {} \
             (package.json pins azurite 3.37.0), or set AZURITE_BLOB_URL to a running \
             Azurite blob endpoint such as http://127.0.0.1:10000/devstoreaccount1",
            bin.display(),
            root.display()
        );

        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir for azurite");
            let log = std::fs::File::create(dir.path().join("azurite.log")).expect("log file");
            let child = Command::new(&bin)
                .args([
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    &port.to_string(),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                    "--loose",
                    "--silent",
                ])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {}: {e} (is node installed?)", bin.display())
                });
            let mut azurite = Azurite {
                account_url: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
                child: Some(child),
                _dir: Some(dir),
            };
            match wait_ready(&azurite.account_url, azurite.child.as_mut()).await {
                Ok(()) => return azurite,
                Err(e) => {
                    let log = azurite
                        ._dir
                        .as_ref()
                        .and_then(|d| std::fs::read_to_string(d.path().join("azurite.log")).ok())
                        .unwrap_or_default();
                    last_error = format!("{e}; azurite stderr: {log}");
                    // Dropping `azurite` kills it; try another port.
                }
            }
        }
        panic!("Azurite did not start: {last_error}");
    }

    /// A private Azurite on `port` (a test that starts it only after the service), waiting
    /// until it answers.
    pub async fn start_on(port: u16) -> Azurite {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let bin = root.join("node_modules/.bin/azurite-blob");
        let dir = tempfile::tempdir().expect("temp dir for azurite");
        let log = std::fs::File::create(dir.path().join("azurite.log")).expect("log file");
        let child = Command::new(&bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (is node installed?)", bin.display()));
        let mut azurite = Azurite {
            account_url: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
            child: Some(child),
            _dir: Some(dir),
        };
        if let Err(e) = wait_ready(&azurite.account_url, azurite.child.as_mut()).await {
            panic!("Azurite did not start on port {port}: {e}");
        }
        azurite
    }

    pub fn container_url(&self, container: &str) -> String {
        format!("{}/{container}", self.account_url)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Waits (at most 60 s) until the endpoint answers any HTTP response.
async fn wait_ready(account_url: &str, mut child: Option<&mut Child>) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("azurite exited early with {status}"));
            }
        }
        match client.get(format!("{account_url}?comp=list")).send().await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.without_url().to_string(),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Err(format!("not ready after 60 s: {last}"))
}

/// A unique container name for one test.
pub fn unique_container(tag: &str) -> String {
    let n: u64 = rand::random();
    format!("{tag}-{n:016x}")
}

/// An account SAS for Azurite's dev account (blob service, all resource types) with
/// `permissions` (e.g. `rwdlac`, or `rl` for read and list), signed per the account SAS spec
/// for version 2021-12-02.
pub fn account_sas(permissions: &str) -> String {
    use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
    use hmac::{Hmac, Mac};
    let (sv, ss, srt, sp, se, spr) = (
        "2021-12-02",
        "b",
        "sco",
        permissions,
        "2099-01-01T00:00:00Z",
        "https,http",
    );
    let to_sign = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n{spr}\n{sv}\n\n");
    let key = BASE64.decode(KEY).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = BASE64.encode(mac.finalize().into_bytes());
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut()
        .append_pair("sv", sv)
        .append_pair("ss", ss)
        .append_pair("srt", srt)
        .append_pair("sp", sp)
        .append_pair("se", se)
        .append_pair("spr", spr)
        .append_pair("sig", &sig);
    url.query().unwrap().to_string()
}
