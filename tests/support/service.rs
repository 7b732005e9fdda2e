//! Test support: the local Event Hubs-compatible server, a producer, and a `hubwatch run`
//! child process whose stdout sink is captured line by line.
#![allow(dead_code)]

pub use super::credential::FakeCredential;
use azure_messaging_eventhubs::{ProducerClient, SendEventOptions};
pub use hubwatch_eventhubs_emulator::{Emulator, EmulatorConfig};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const HUB: &str = "activity";
pub const NAMESPACE: &str = "hubwatch-test.servicebus.windows.net";
pub const CONNECTION_STRING: &str = "Endpoint=sb://hubwatch-test.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0LWtleS1mb3ItdGVzdHM=;EntityPath=activity";

pub async fn start_emulator(partitions: u32, data_dir: Option<PathBuf>) -> Emulator {
    start_emulator_on("127.0.0.1:0", partitions, data_dir).await
}

pub async fn start_emulator_on(
    listen: &str,
    partitions: u32,
    data_dir: Option<PathBuf>,
) -> Emulator {
    Emulator::start(EmulatorConfig {
        listen: listen.parse().expect("address"),
        hub: HUB.to_string(),
        partitions,
        data_dir,
    })
    .await
    .expect("emulator starts")
}

pub async fn producer(addr: std::net::SocketAddr) -> ProducerClient {
    ProducerClient::builder()
        .with_custom_endpoint(format!("amqp://{addr}"))
        .open(NAMESPACE, HUB, Arc::new(FakeCredential::default()))
        .await
        .expect("producer opens")
}

/// Sends each body as one event to `partition`.
///
/// A send is tried again (up to five times, a second apart) when it fails: on a loaded 2-core
/// CI machine the SDK once gave up on a session the local server had just ended ("Connection
/// dropped: Illegal session state") while three services were starting; its next call opens a
/// new connection. A retried event may arrive twice: tests that compare sets of ids absorb
/// that; one that counts alerts fails and lists them, where before it failed at the send.
pub async fn send(producer: &ProducerClient, partition: &str, bodies: &[String]) {
    for b in bodies {
        let mut tries = 0;
        loop {
            let sent = producer
                .send_event(
                    b.clone().into_bytes(),
                    Some(SendEventOptions {
                        partition_id: Some(partition.to_string()),
                    }),
                )
                .await;
            match sent {
                Ok(()) => break,
                Err(e) if tries < 4 => {
                    tries += 1;
                    eprintln!("send to partition {partition} failed (try {tries}): {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("event not sent after {} tries: {e}", tries + 1),
            }
        }
    }
}

/// A body of one matching Key Vault key read (correlationId `id`) and one unrelated record.
pub fn matching_body(id: &str) -> String {
    json!({"records": [
        {"time": "2025-12-23T10:30:00Z", "operationName": "Microsoft.Web/sites/write", "resultType": "Success",
         "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app", "correlationId": format!("other-{id}")},
        {"time": "2025-12-23T10:30:00Z", "operationName": "Microsoft.KeyVault/vaults/keys/read/action", "resultType": "Success",
         "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/keys/k",
         "callerIpAddress": "10.0.0.1", "correlationId": id}
    ]})
    .to_string()
}

/// A service configuration against the local server: stdout sink, file checkpoints, dedup off
/// (one alert per matching record, so every record's alert can be checked).
pub fn config(dir: &Path, addr: std::net::SocketAddr, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[service]
state_dir = "{state}"
shutdown_grace_secs = 10
log_format = "json"

[http]
listen = ""

[source]
kind = "eventhubs"
eventhub = "{HUB}"
credential = "connection-string"
connection_string_env = "HUBWATCH_TEST_CONNECTION_STRING"
custom_endpoint = "amqp://{addr}"
start_position = "earliest"
update_interval_secs = 1
ownership_expiry_secs = 6

[checkpoint]
kind = "file"
interval_events = 5
interval_ms = 200

[rules]
dedup = false

[[sinks]]
kind = "stdout"
{extra}
"#,
        state = dir.join("state").display()
    );
    let path = dir.join("hubwatch.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// A running `hubwatch run`.
pub struct Hubwatch {
    child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub log: PathBuf,
}

impl Hubwatch {
    pub fn start(config: &Path, log: &Path) -> Hubwatch {
        Hubwatch::start_with_env(config, log, &[])
    }

    /// Starts with extra environment variables (e.g. `HUBWATCH_*` overrides).
    pub fn start_with_env(config: &Path, log: &Path, env: &[(&str, &str)]) -> Hubwatch {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubwatch"));
        cmd.args(["run", "--config"]).arg(config);
        Hubwatch::spawn(cmd, log, env)
    }

    /// Starts with `dir` on a private tmpfs of `size` (e.g. `"1m"`), mounted in a new user and
    /// mount namespace (`unshare -rm`; no privileges needed where user namespaces are allowed)
    /// so the file system can be filled. Outside the process `dir` stays empty: reach the
    /// tmpfs as `/proc/<pid>/root/<dir>`. `None` when namespaces are not available here.
    pub fn start_on_small_fs(
        config: &Path,
        log: &Path,
        dir: &Path,
        size: &str,
    ) -> Option<Hubwatch> {
        let usable = Command::new("unshare")
            .args(["-rm", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !usable {
            return None;
        }
        std::fs::create_dir_all(dir).expect("mount point");
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-rm",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size="$1" tmpfs "$2" && exec "$3" run --config "$4""#,
            "sh",
            size,
        ])
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_hubwatch"))
        .arg(config);
        Some(Hubwatch::spawn(cmd, log, &[]))
    }

    fn spawn(mut cmd: Command, log: &Path, env: &[(&str, &str)]) -> Hubwatch {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let mut child = cmd
            .env("HUBWATCH_TEST_CONNECTION_STRING", CONNECTION_STRING)
            .env(
                "RUST_LOG",
                "info,azure_messaging_eventhubs=warn,azure_core_amqp=warn,fe2o3_amqp=warn",
            )
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("hubwatch starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Hubwatch {
            child,
            lines,
            log: log.to_path_buf(),
        }
    }

    pub fn alerts(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            // As hubwatch reads records: serde_json's `Value` would refuse the private-token
            // keys odd_input.rs sends.
            .map(|l| hubwatch::record::parse_document(l, 1000).expect("alert JSON"))
            .collect()
    }

    /// Waits until `pred` holds for the alerts so far, or panics after `within`.
    pub fn wait_for(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let end = Instant::now() + within;
        loop {
            let alerts = self.alerts();
            if pred(&alerts) {
                return alerts;
            }
            if Instant::now() > end {
                panic!(
                    "timed out waiting for {what}; {} alerts so far; log:\n{}",
                    alerts.len(),
                    tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn kill9(mut self) -> Vec<Value> {
        self.signal("KILL");
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.alerts()
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub fn terminate(mut self, within: Duration) -> (Option<i32>, Vec<Value>) {
        self.signal("TERM");
        let status = self.wait_exit(within);
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.alerts())
    }

    /// Waits for the process to exit on its own; kills it and panics after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "hubwatch did not exit within {within:?}; log:\n{}",
                    tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Hubwatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Correlation ids of the alerts.
pub fn ids(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .filter_map(|a| a["correlationId"].as_str().map(String::from))
        .collect()
}

/// The checkpointed sequence number of each partition in the file store.
pub fn checkpoints(state: &Path) -> std::collections::BTreeMap<String, i64> {
    let mut out = std::collections::BTreeMap::new();
    for entry in walk(&state.join("checkpoints")) {
        if entry
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "checkpoint")
            && entry.extension().is_some_and(|e| e == "json")
        {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&entry).unwrap()).unwrap();
            let partition = entry.file_stem().unwrap().to_string_lossy().into_owned();
            if let Some(seq) = v["sequence_number"].as_i64() {
                out.insert(partition, seq);
            }
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Sends each `(partition, body)` as one event with the Python `azure-eventhub` SDK (the
/// producer of `tests/python/produce.py`); returns each send's outcome (the SDK's error text).
pub fn python_send(
    addr: std::net::SocketAddr,
    events: &[(&str, Vec<u8>)],
) -> Vec<Result<(), String>> {
    use base64::Engine;
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/produce.py");
    let mut input = String::new();
    for (partition, body) in events {
        let b64 = base64::engine::general_purpose::STANDARD.encode(body);
        input.push_str(&json!({"partition": partition, "body_base64": b64}).to_string());
        input.push('\n');
    }
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--port", &addr.port().to_string(), "--hub", HUB])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh installs azure-eventhub)");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let end = Instant::now() + Duration::from_secs(180);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the Python producer did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = writer.join();
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<Result<(), String>> = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("producer line is JSON");
            if v["ok"] == true {
                Ok(())
            } else {
                Err(v["error"].as_str().unwrap_or_default().to_string())
            }
        })
        .collect();
    assert_eq!(
        results.len(),
        events.len(),
        "the Python producer reported {} of {} sends (is azure-eventhub installed? \
         pip install -r tests/python/requirements.txt)\nstderr:\n{}",
        results.len(),
        events.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    results
}

/// The address of the HTTP listener from a service log (`[http] listen` with port 0).
pub fn http_addr_from_log(log: &Path, within: Duration) -> std::net::SocketAddr {
    let end = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("http listener started")) {
            let v: Value = serde_json::from_str(line).expect("log lines are JSON");
            if let Some(addr) = v["addr"].as_str() {
                return addr.parse().expect("socket address");
            }
        }
        assert!(
            Instant::now() < end,
            "no listener address in the log:\n{}",
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The dead-letter entries written so far.
pub fn dead_letters(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead-letter lines are JSON"))
        .collect()
}
