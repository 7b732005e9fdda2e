//! Test helper: diagnostic-settings archives in Azurite, with the blob names Azure Monitor
//! uses (<https://learn.microsoft.com/azure/azure-monitor/essentials/resource-logs#send-to-azure-storage>):
//! `insights-logs-{category}/resourceId=/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/{RG}/PROVIDERS/
//! {PROVIDER}/{TYPE}/{NAME}/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json` (the Activity Log:
//! `insights-activity-logs/resourceId=/SUBSCRIPTIONS/{SUB}/y=.../PT1H.json`), append blobs
//! holding one JSON record per line, written in several appends per hour. Also a
//! `[backfill]` configuration for them and a webhook receiver that can stop answering.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use hubwatch::azure::blob::{BlobAuth, BlobClientOptions, BlobContainer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

pub const SUB: &str = "8F2B6B8E-1111-4C3A-9D7E-2A1B3C4D5E6F";

/// Unique container names for one test (Azurite may be shared).
pub struct Containers {
    pub audit: String,
    pub activity: String,
}

impl Containers {
    pub fn new() -> Containers {
        let n: u32 = rand::random();
        Containers {
            audit: format!("insights-logs-auditevent-{n:08x}"),
            activity: format!("insights-activity-logs-{n:08x}"),
        }
    }
}

/// The client of one container (Shared Key with Azurite's public development key), created.
pub async fn container(account_url: &str, name: &str) -> BlobContainer {
    let c = client(account_url, name);
    c.create_if_missing().await.expect("container created");
    c
}

/// A Shared Key client for container `name` of the Azurite at `account_url`.
pub fn client(account_url: &str, name: &str) -> BlobContainer {
    BlobContainer::new(
        &format!("{account_url}/{name}"),
        BlobAuth::shared_key(super::azurite::ACCOUNT, super::azurite::KEY),
        BlobClientOptions::default(),
    )
    .expect("client")
}

/// Serves `app` on a free local port in the background; its address.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn partition(hour: OffsetDateTime) -> String {
    format!(
        "y={:04}/m={:02}/d={:02}/h={:02}/m=00/PT1H.json",
        hour.year(),
        hour.month() as u8,
        hour.day(),
        hour.hour()
    )
}

/// A Key Vault `AuditEvent` blob name of vault `vault` for `hour`.
pub fn audit_blob(vault: &str, hour: OffsetDateTime) -> String {
    format!(
        "resourceId=/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/SECURITY-RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}/{}",
        partition(hour)
    )
}

/// An Activity Log blob name for `hour`.
pub fn activity_blob(hour: OffsetDateTime) -> String {
    format!("resourceId=/SUBSCRIPTIONS/{SUB}/{}", partition(hour))
}

/// A Key Vault secret read by caller `who` (a unique dedup string: one alert each).
pub fn secret_get(vault: &str, who: &str, t: OffsetDateTime) -> String {
    let time = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    json!({"time": time, "category": "AuditEvent", "operationName": "SecretGet",
        "resourceId": format!("/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/SECURITY-RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}"),
        "resultSignature": "OK", "callerIpAddress": "10.1.2.3", "correlationId": who,
        "properties": {"httpStatusCode": 200, "id": format!("https://{vault}.vault.azure.net/secrets/s1")},
        "identity": {"claim": {"upn": format!("{who}@contoso.com")}}})
    .to_string()
}

/// An Activity Log Key Vault key read from `ip` (one alert per distinct ip).
pub fn key_read(ip: &str, t: OffsetDateTime) -> String {
    let time = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    json!({"time": time, "resourceId": format!("/subscriptions/{SUB}/resourceGroups/security-rg/providers/Microsoft.KeyVault/vaults/kv1/keys/k1"),
        "operationName": "Microsoft.KeyVault/vaults/keys/read/action", "category": "Administrative",
        "resultType": "Success", "callerIpAddress": ip, "correlationId": format!("corr-{ip}")})
    .to_string()
}

/// Writes `lines` as a new append blob in `appends` appends (each line ends in a newline).
pub async fn write_blob(c: &BlobContainer, name: &str, lines: &[String], appends: usize) {
    c.create_append_blob(name).await.expect("append blob");
    let per = lines.len().div_ceil(appends.max(1)).max(1);
    for chunk in lines.chunks(per) {
        append(c, name, &(chunk.join("\n") + "\n")).await;
    }
}

pub async fn append(c: &BlobContainer, name: &str, text: &str) {
    c.append_block(name, Bytes::from(text.to_string()))
        .await
        .expect("append");
}

/// A configuration: `[backfill]` on Azurite with Shared Key (the key in
/// `HUBWATCH_TEST_ACCOUNT_KEY`), the Key Vault and Activity Log containers, and `sinks`.
pub fn config(dir: &Path, account_url: &str, c: &Containers, sinks: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[service]
state_dir = "{state}"
shutdown_grace_secs = 5
log_format = "json"
log_level = "warn"

[http]
listen = ""

[source]
kind = "stdin"

[backfill]
account_url = "{account_url}"
containers = ["{audit}", "{activity}"]
auth = "shared-key"
account_name = "{account}"
account_key_env = "HUBWATCH_TEST_ACCOUNT_KEY"
parallelism = 4
memory_mib = 1
progress_interval_secs = 1
{extra}

{sinks}
"#,
        state = dir.join("state").display(),
        audit = c.audit,
        activity = c.activity,
        account = super::azurite::ACCOUNT,
    );
    let path = dir.join("hubwatch.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// A `hubwatch backfill` command with the test account key in its environment.
pub fn backfill(config: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = super::process::command();
    cmd.arg("backfill")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("HUBWATCH_TEST_ACCOUNT_KEY", super::azurite::KEY);
    cmd
}

/// The alerts of a file sink.
pub fn alerts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect()
}

/// What a [`Receiver`] got: the alert id, and whether it answered 200.
#[derive(Debug, Clone)]
pub struct Received {
    pub alert_id: String,
    pub answered: bool,
}

/// A webhook receiver that answers 200 to its first `answer` requests and never answers the
/// others (a receiver that hangs).
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
}

struct Shared {
    answer: usize,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["alert_id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let n = {
        let mut got = s.got.lock().unwrap();
        got.push(Received {
            alert_id: id,
            answered: false,
        });
        got.len() - 1
    };
    if n >= s.answer {
        std::future::pending::<()>().await;
    }
    s.got.lock().unwrap()[n].answered = true;
    StatusCode::OK
}

impl Receiver {
    pub async fn start(answer: usize) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(Arc::new(Shared {
                answer,
                got: got.clone(),
            }));
        let addr = serve(app).await;
        Receiver {
            url: format!("http://{addr}/alerts"),
            got,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}
