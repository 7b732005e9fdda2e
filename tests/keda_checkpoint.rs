//! KEDA's `blobMetadata` path rule (ported in `hubwatch::checkpoint::keda`) against hubwatch's
//! blob layout: with mixed-case names the values as written miss the checkpoints, the values
//! hubwatch prints find them; in Azurite, on the blobs the store really wrote; and in the shipped
//! manifests and Bicep.

#[path = "support/azurite.rs"]
mod azurite;

use azure_messaging_eventhubs::{models::Checkpoint, CheckpointStore};
use azurite::{unique_container, Azurite, ACCOUNT, KEY};
use hubwatch::checkpoint::keda::{keda_blob_service, keda_checkpoint_blob, KedaTrigger};
use hubwatch::checkpoint::{checkpoint_prefix, BlobAuth, BlobCheckpointStore};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const NS: &str = "Contoso-Security.servicebus.windows.net";
const HUB: &str = "Azure-Logs";
const CG: &str = "HubWatch";
const CONTAINER_URL: &str = "https://contosohubwatch.blob.core.windows.net/hubwatch-checkpoints";

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn trigger_meta(t: &KedaTrigger) -> BTreeMap<String, String> {
    t.metadata()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// hubwatch's checkpoint blob for a partition.
fn hubwatch_blob(ns: &str, hub: &str, cg: &str, partition: &str) -> String {
    format!("{}{partition}", checkpoint_prefix(ns, hub, cg))
}

#[test]
fn the_port_reproduces_kedas_own_test_cases() {
    // TestShouldParseCheckpointForBlobMetadata (connection string) and ...WithPodIdentity.
    let m = meta(&[
        ("consumerGroup", "$Default"),
        ("blobContainer", "containername"),
    ]);
    let cs = "Endpoint=sb://eventhubnamespace.servicebus.windows.net/;EntityPath=hub-test;";
    let expect = (
        "containername".to_string(),
        "eventhubnamespace.servicebus.windows.net/hub-test/$default/checkpoint/0".to_string(),
    );
    assert_eq!(keda_checkpoint_blob(&m, Some(cs), "0").unwrap(), expect);
    let m = meta(&[
        ("eventHubNamespace", "eventhubnamespace"),
        ("eventHubName", "hub-test"),
        ("blobContainer", "containername"),
    ]);
    assert_eq!(keda_checkpoint_blob(&m, None, "0").unwrap(), expect);
    // ...WithError: a control character in the path.
    let bad = "Endpoint=sb://eventhubnamespace.servicebus.windows.net/;EntityPath=hub-test\n";
    assert!(keda_checkpoint_blob(&m, Some(bad), "0").is_err());
    // ParseEnvironmentProperty: Private needs its suffix; unknown clouds are refused.
    let private = meta(&[("eventHubNamespace", "n"), ("cloud", "Private")]);
    assert!(keda_checkpoint_blob(&private, None, "0").is_err());
    assert!(keda_checkpoint_blob(&meta(&[("cloud", "Invalid")]), None, "0").is_err());
    let gov = meta(&[
        ("eventHubNamespace", "n"),
        ("eventHubName", "h"),
        ("cloud", "AzureUSGovernmentCloud"),
    ]);
    assert_eq!(
        keda_checkpoint_blob(&gov, None, "3").unwrap().1,
        "n.servicebus.usgovcloudapi.net/h/$default/checkpoint/3"
    );
}

#[test]
fn mixed_case_names_as_written_miss_and_the_printed_values_hit() {
    let partition = "7";
    let ours = hubwatch_blob(NS, HUB, CG, partition);
    assert_eq!(
        ours,
        "contoso-security.servicebus.windows.net/azure-logs/hubwatch/checkpoint/7"
    );

    // What a user would write in the ScaledObject, copying the configuration.
    let as_written = meta(&[
        ("eventHubNamespace", "Contoso-Security"),
        ("eventHubName", HUB),
        ("consumerGroup", CG),
        ("blobContainer", "hubwatch-checkpoints"),
    ]);
    let (_, keda) = keda_checkpoint_blob(&as_written, None, partition).unwrap();
    assert_ne!(keda, ours, "KEDA keeps the namespace and hub as written");

    let t = KedaTrigger::new(NS, HUB, CG, CONTAINER_URL).unwrap();
    assert!(t.mixed_case);
    // The consumer group alone (`$Default`) needs no warning: KEDA lower-cases it itself.
    let lower = KedaTrigger::new(
        &NS.to_lowercase(),
        &HUB.to_lowercase(),
        "$Default",
        CONTAINER_URL,
    )
    .unwrap();
    assert!(!lower.mixed_case);
    let m = trigger_meta(&t);
    assert_eq!(m["eventHubNamespace"], "contoso-security");
    assert_eq!(m["eventHubName"], "azure-logs");
    assert!(
        !m.contains_key("cloud"),
        "public cloud needs no cloud key: {m:?}"
    );
    let (container, keda) = keda_checkpoint_blob(&m, None, partition).unwrap();
    assert_eq!(keda, ours);
    assert_eq!(container, "hubwatch-checkpoints");
    assert_eq!(
        keda_blob_service(&m).unwrap(),
        "https://contosohubwatch.blob.core.windows.net"
    );
    assert_eq!(
        format!("{CONTAINER_URL}/{keda}"),
        format!("{}{partition}", t.blob_prefix)
    );

    // With a connection string KEDA takes the Endpoint host and EntityPath as written too.
    let cs = "Endpoint=sb://Contoso-Security.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s;EntityPath=Azure-Logs";
    let (_, keda) = keda_checkpoint_blob(&as_written, Some(cs), partition).unwrap();
    assert_ne!(keda, ours);
    let lower = "Endpoint=sb://contoso-security.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s";
    let (_, keda) = keda_checkpoint_blob(&m, Some(lower), partition).unwrap();
    assert_eq!(keda, ours, "EntityPath comes from eventHubName when absent");

    let printed = t.lines().join("\n");
    assert!(
        printed.contains("eventHubNamespace: contoso-security"),
        "{printed}"
    );
    assert!(printed.contains("upper-case"), "{printed}");
}

#[test]
fn other_clouds_are_spelled_out_and_still_resolve() {
    let t = KedaTrigger::new(
        "SecOps.servicebus.usgovcloudapi.net",
        "Logs",
        "$Default",
        "https://secopsckpt.blob.core.usgovcloudapi.net/ckpt?sv=2024&sig=SECRET",
    )
    .unwrap();
    let m = trigger_meta(&t);
    assert_eq!(m["cloud"], "Private");
    assert_eq!(m["endpointSuffix"], "servicebus.usgovcloudapi.net");
    assert_eq!(m["storageEndpointSuffix"], "core.usgovcloudapi.net");
    let (_, keda) = keda_checkpoint_blob(&m, None, "0").unwrap();
    assert_eq!(
        keda,
        hubwatch_blob(
            "SecOps.servicebus.usgovcloudapi.net",
            "Logs",
            "$Default",
            "0"
        )
    );
    assert_eq!(
        keda_blob_service(&m).unwrap(),
        "https://secopsckpt.blob.core.usgovcloudapi.net"
    );
    assert!(
        !t.blob_prefix.contains("SECRET"),
        "the SAS is never printed: {}",
        t.blob_prefix
    );
    assert!(!t.metadata_inline().contains("SECRET"));

    // Azurite's path-style URL has no account host: no storageAccountName, and a hint.
    let t = KedaTrigger::new(NS, HUB, CG, "http://127.0.0.1:10000/devstoreaccount1/ckpt").unwrap();
    assert_eq!(t.storage_account_name, None);
    assert_eq!(t.blob_container, "ckpt");
    assert!(t.lines().join("\n").contains("storageConnection"));
}

/// HEAD of a blob with Shared Key, independent of the store; `None` for 404.
async fn blob_metadata(
    azurite: &Azurite,
    container: &str,
    blob: &str,
) -> Option<reqwest::header::HeaderMap> {
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    use hmac::{Hmac, Mac};
    let account_path = reqwest::Url::parse(&azurite.account_url)
        .unwrap()
        .path()
        .to_string();
    // Blob names in URLs are percent-encoded ($ stays legal; nothing else here needs it).
    let url = format!("{}/{container}/{blob}", azurite.account_url);
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let version = "2021-12-02";
    let to_sign = format!(
        "HEAD\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}{account_path}/{container}/{blob}"
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(KEY).unwrap()).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    let resp = reqwest::Client::new()
        .head(&url)
        .header("x-ms-date", date)
        .header("x-ms-version", version)
        .header("authorization", format!("SharedKey {ACCOUNT}:{sig}"))
        .send()
        .await
        .unwrap();
    match resp.status().as_u16() {
        200 => Some(resp.headers().clone()),
        404 => None,
        other => panic!("HEAD {url}: {other}"),
    }
}

#[tokio::test]
async fn keda_finds_the_checkpoints_the_store_wrote_only_with_the_printed_values() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let azurite = Azurite::start().await;
        let container = unique_container("keda");
        let container_url = format!("{}/{container}", azurite.account_url);
        let store = BlobCheckpointStore::new(
            &container_url,
            BlobAuth::shared_key(ACCOUNT, KEY),
            Default::default(),
        )
        .unwrap();
        store.create_container_if_missing().await.unwrap();
        store
            .update_checkpoint(Checkpoint {
                fully_qualified_namespace: NS.into(),
                event_hub_name: HUB.into(),
                consumer_group: CG.into(),
                partition_id: "2".into(),
                offset: Some("4096".into()),
                sequence_number: Some(1234),
            })
            .await
            .unwrap();

        let as_written = meta(&[
            ("eventHubNamespace", "Contoso-Security"),
            ("eventHubName", HUB),
            ("consumerGroup", CG),
            ("blobContainer", &container),
        ]);
        let (c, blob) = keda_checkpoint_blob(&as_written, None, "2").unwrap();
        assert!(
            blob_metadata(&azurite, &c, &blob).await.is_none(),
            "the names as written must miss (BlobNotFound)"
        );

        let t = KedaTrigger::new(NS, HUB, CG, &container_url).unwrap();
        let mut m = trigger_meta(&t);
        m.insert("blobContainer".into(), container.clone());
        let (c, blob) = keda_checkpoint_blob(&m, None, "2").unwrap();
        let headers = blob_metadata(&azurite, &c, &blob)
            .await
            .expect("KEDA's path with the printed values finds the checkpoint");
        // getCheckpointFromStorageMetadata reads `sequencenumber` (or `Sequencenumber`).
        assert_eq!(headers["x-ms-meta-sequencenumber"], "1234");
        assert_eq!(
            format!("{container_url}/{blob}"),
            format!("{}2", t.blob_prefix)
        );
    })
    .await
    .expect("test timed out");
}

// ---- the shipped deployment files ----------------------------------------------------------

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn the_kubernetes_scaled_object_resolves_to_the_configmaps_blobs() {
    use serde::Deserialize;
    let docs: Vec<serde_norway::Value> = [
        "deploy/kubernetes/configmap.yaml",
        "deploy/kubernetes/keda.yaml",
    ]
    .iter()
    .flat_map(|f| {
        let text = read(f);
        serde_norway::Deserializer::from_str(&text)
            .map(|d| serde_norway::Value::deserialize(d).unwrap())
            .collect::<Vec<_>>()
    })
    .collect();
    let kind = |k: &str| docs.iter().find(|d| d["kind"].as_str() == Some(k)).unwrap();
    let toml = kind("ConfigMap")["data"]["config.toml"].as_str().unwrap();
    let config =
        hubwatch::config::Config::from_toml(Path::new("configmap"), toml, std::iter::empty())
            .unwrap();
    let trigger = hubwatch::checkpoint::keda::from_config(&config)
        .unwrap()
        .unwrap();
    let scaled = &kind("ScaledObject")["spec"]["triggers"][0]["metadata"];
    let shipped: BTreeMap<String, String> = scaled
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Every value hubwatch derives is the one shipped (the rest are thresholds).
    for (k, v) in trigger.metadata() {
        assert_eq!(shipped.get(k), Some(&v), "keda.yaml {k}");
    }
    let src = config.source.eventhubs().expect("an Event Hubs source");
    for partition in ["0", "3"] {
        let (container, blob) = keda_checkpoint_blob(&shipped, None, partition).unwrap();
        assert_eq!(container, trigger.blob_container);
        assert_eq!(
            blob,
            hubwatch_blob(
                src.namespace.as_deref().unwrap(),
                &src.eventhub,
                &src.consumer_group,
                partition
            )
        );
    }
}

#[test]
fn the_bicep_gives_keda_lower_cased_names_and_the_clouds_suffixes() {
    let bicep = read("deploy/containerapps/main.bicep");
    let rule = bicep
        .split("custom: {")
        .nth(1)
        .and_then(|r| r.split("metadata: {").nth(1))
        .and_then(|r| r.split('}').next())
        .expect("the custom scale rule's metadata");
    for needle in [
        "eventHubNamespace: toLower(",
        "eventHubName: toLower(eventHubName)",
        "consumerGroup: toLower(consumerGroup)",
        "cloud: 'Private'",
        "endpointSuffix: serviceBusSuffix",
        "storageEndpointSuffix: environment().suffixes.storage",
    ] {
        assert!(
            rule.contains(needle),
            "the scale rule lacks {needle:?}:\n{rule}"
        );
    }
    // The suffix is the namespace's own host name after its first label, lower-cased.
    for var in [
        "var serviceBusHost = toLower(split(split(split(eventHubNamespace.properties.serviceBusEndpoint, '://')[1], '/')[0], ':')[0])",
        "var serviceBusSuffix = substring(serviceBusHost, indexOf(serviceBusHost, '.') + 1)",
    ] {
        assert!(bicep.contains(var), "main.bicep lacks {var}");
    }
}

#[test]
fn check_config_prints_the_prefix_and_the_values_and_run_logs_them() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubwatch"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HUBWATCH_")) {
        cmd.env_remove(k);
    }
    // check-config reads the one secret the example names.
    let out = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HUBWATCH_WEBHOOK_SECRET", "not-a-real-secret")
        .args(["check-config", "--config", "config/example.toml"])
        .output()
        .expect("run hubwatch check-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let example = hubwatch::config::Config::from_toml(
        Path::new("example"),
        &read("config/example.toml"),
        std::iter::empty(),
    )
    .unwrap();
    let t = hubwatch::checkpoint::keda::from_config(&example)
        .unwrap()
        .unwrap();
    assert!(
        stdout.contains(&format!("checkpoint blobs: {}{{partition}}", t.blob_prefix)),
        "{stdout}"
    );
    for (k, v) in t.metadata() {
        assert!(stdout.contains(&format!("\n  {k}: {v}\n")), "{k}: {stdout}");
    }

    // The INFO line `run` writes before it starts the source.
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        hubwatch::checkpoint::keda::log_at_start(&example)
    });
    let line: serde_json::Value =
        serde_json::from_slice(&buf.0.lock().unwrap()).expect("one JSON log line");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["blob_prefix"], t.blob_prefix.as_str());
    assert_eq!(line["fields"]["keda"], t.metadata_inline().as_str());
}
