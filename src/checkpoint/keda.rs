//! What KEDA's `azure-eventhub` scaler must be told to find hubwatch's blob checkpoints.
//!
//! With `checkpointStrategy: blobMetadata` KEDA reads the `sequencenumber` metadata of
//! `{eventHubNamespace}.{suffix}/{eventHubName}/{lower(consumerGroup)}/checkpoint/{partition}`,
//! keeping the namespace and the hub as written in its trigger metadata. hubwatch, like the .NET
//! SDK, lower-cases all three in blob names. Blob names are case-sensitive, so one upper-case
//! letter in the namespace or hub given to KEDA makes every read a BlobNotFound: KEDA then counts
//! every event as unprocessed and scales to `maxReplicaCount`, and nothing reports an error.
//! [`KedaTrigger`] derives the exact values from hubwatch's configuration; `check-config` prints
//! them and `run` logs them at start. [`keda_checkpoint_blob`] is KEDA's own rule, ported, so the
//! tests can hold the two against each other.

use crate::config::{Config, CredentialKind};
use std::collections::BTreeMap;

/// The public cloud's suffixes, which KEDA uses when its metadata names no `cloud`.
const PUBLIC_SERVICE_BUS_SUFFIX: &str = "servicebus.windows.net";
const PUBLIC_STORAGE_SUFFIX: &str = "core.windows.net";

/// The trigger metadata that points KEDA at hubwatch's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KedaTrigger {
    /// `eventHubNamespace`: the first DNS label of the namespace, lower-cased.
    pub event_hub_namespace: String,
    /// The rest of the namespace's host name (`servicebus.windows.net` in the public cloud).
    pub service_bus_suffix: String,
    /// `eventHubName`, lower-cased.
    pub event_hub_name: String,
    /// `consumerGroup` (KEDA lower-cases it itself; given lower-cased all the same).
    pub consumer_group: String,
    /// `storageAccountName`, when the container URL is `https://{account}.blob.{suffix}/...`.
    pub storage_account_name: Option<String>,
    /// The storage host's suffix after `blob.` (`core.windows.net` in the public cloud).
    pub storage_suffix: Option<String>,
    /// `blobContainer`.
    pub blob_container: String,
    /// Where the checkpoint blobs are: the container URL (without its query string) and the
    /// lower-cased prefix, up to the partition id.
    pub blob_prefix: String,
    /// The configured namespace or hub had upper-case letters (KEDA must not be given them as
    /// written).
    pub mixed_case: bool,
}

impl KedaTrigger {
    /// From the fully qualified namespace, hub and consumer group hubwatch reads with, and the
    /// checkpoint container's URL.
    pub fn new(
        namespace: &str,
        event_hub: &str,
        consumer_group: &str,
        container_url: &str,
    ) -> Result<KedaTrigger, String> {
        let fqdn = namespace.trim().trim_end_matches('.').to_lowercase();
        let (label, suffix) = fqdn.split_once('.').ok_or_else(|| {
            format!(
                "namespace {namespace:?} is not a host name such as myns.servicebus.windows.net"
            )
        })?;
        let url = reqwest::Url::parse(container_url)
            .map_err(|e| format!("checkpoint.container_url is not a URL: {e}"))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let container = segments
            .last()
            .ok_or("checkpoint.container_url names no container")?
            .to_string();
        // Only an account host (not Azurite's path-style URL or a custom domain) can be named by
        // storageAccountName; KEDA then needs a storageConnection instead.
        let (account, storage_suffix) = match host.split_once(".blob.") {
            Some((account, rest)) if segments.len() == 1 && !account.contains('.') => {
                (Some(account.to_string()), Some(rest.to_string()))
            }
            _ => (None, None),
        };
        // The query may hold a SAS token: never part of what is printed.
        let mut base = url.clone();
        base.set_query(None);
        base.set_fragment(None);
        let prefix = super::checkpoint_prefix(&fqdn, event_hub, consumer_group);
        Ok(KedaTrigger {
            event_hub_namespace: label.to_string(),
            service_bus_suffix: suffix.to_string(),
            event_hub_name: event_hub.to_lowercase(),
            consumer_group: consumer_group.to_lowercase(),
            storage_account_name: account,
            storage_suffix,
            blob_container: container,
            blob_prefix: format!("{}/{prefix}", base.as_str().trim_end_matches('/')),
            // KEDA lower-cases the consumer group itself (the default `$Default` is fine).
            mixed_case: [namespace, event_hub]
                .iter()
                .any(|s| s.chars().any(char::is_uppercase)),
        })
    }

    /// The trigger's metadata, in the order a ScaledObject lists it.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut m = vec![
            ("eventHubNamespace", self.event_hub_namespace.clone()),
            ("eventHubName", self.event_hub_name.clone()),
            ("consumerGroup", self.consumer_group.clone()),
        ];
        if let Some(account) = &self.storage_account_name {
            m.push(("storageAccountName", account.clone()));
        }
        m.push(("blobContainer", self.blob_container.clone()));
        m.push(("checkpointStrategy", "blobMetadata".into()));
        // One `cloud` serves both endpoints, so any other cloud is spelled out as Private.
        let storage_public = self
            .storage_suffix
            .as_deref()
            .is_none_or(|s| s == PUBLIC_STORAGE_SUFFIX);
        if self.service_bus_suffix != PUBLIC_SERVICE_BUS_SUFFIX || !storage_public {
            m.push(("cloud", "Private".into()));
            m.push(("endpointSuffix", self.service_bus_suffix.clone()));
            if let Some(s) = &self.storage_suffix {
                m.push(("storageEndpointSuffix", s.clone()));
            }
        }
        m
    }

    /// `key=value` pairs on one line, for the start-up log.
    pub fn metadata_inline(&self) -> String {
        let pairs: Vec<String> = self
            .metadata()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join(" ")
    }

    /// What `check-config` prints: the blob prefix and the metadata, ready to paste.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!("checkpoint blobs: {}{{partition}}", self.blob_prefix),
            "KEDA azure-eventhub trigger metadata for these checkpoints:".to_string(),
        ];
        out.extend(
            self.metadata()
                .into_iter()
                .map(|(k, v)| format!("  {k}: {v}")),
        );
        if self.storage_account_name.is_none() {
            out.push(
                "  (the container URL is not https://ACCOUNT.blob.SUFFIX/CONTAINER: give KEDA a \
                 storageConnection instead of storageAccountName)"
                    .into(),
            );
        }
        if self.mixed_case {
            out.push(
                "note: the configured names have upper-case letters; KEDA keeps eventHubNamespace \
                 and eventHubName as written, so give it the lower-cased values above (else it \
                 finds no checkpoint and scales to maxReplicaCount)"
                    .into(),
            );
        }
        out
    }
}

/// The trigger for a configuration: `Ok(None)` when KEDA's `blobMetadata` does not apply (not an
/// Event Hubs source with blob checkpoints); `Err` says why the values cannot be derived here.
pub fn from_config(config: &Config) -> Result<Option<KedaTrigger>, String> {
    let (Some(s), Some(blob)) = (config.source.eventhubs(), config.checkpoint.blob()) else {
        return Ok(None);
    };
    // With a connection string the source reads with the namespace it names.
    let namespace = if s.credential == CredentialKind::ConnectionString {
        let cs = crate::azure::connection_string(&s.auth)
            .map_err(|e| format!("the namespace comes from the connection string: {e}"))?;
        cs.parse::<azure_messaging_eventhubs::ConnectionString>()
            .map_err(|_| "the connection string cannot be parsed".to_string())?
            .fully_qualified_namespace
    } else {
        s.namespace.clone().unwrap_or_default()
    };
    KedaTrigger::new(
        &namespace,
        &s.eventhub,
        &s.consumer_group,
        &blob.container_url,
    )
    .map(Some)
}

/// Lines for `hubwatch check-config` (none when KEDA's `blobMetadata` does not apply).
pub fn check_config_lines(config: &Config) -> Vec<String> {
    match from_config(config) {
        Ok(Some(t)) => t.lines(),
        Ok(None) => Vec::new(),
        Err(e) => vec![format!(
            "KEDA trigger metadata: cannot be derived here: {e}"
        )],
    }
}

/// One INFO line at `run` start with the blob prefix and the KEDA metadata.
pub fn log_at_start(config: &Config) {
    match from_config(config) {
        Ok(Some(t)) => tracing::info!(
            blob_prefix = %t.blob_prefix,
            keda = %t.metadata_inline(),
            "checkpoint blobs; KEDA azure-eventhub trigger metadata (blobMetadata) for them"
        ),
        Ok(None) => {}
        Err(e) => tracing::info!(reason = %e, "KEDA trigger metadata cannot be derived"),
    }
}

// ---- KEDA's rule, ported ------------------------------------------------------------------
//
// From kedacore/keda at commit 8b4f083ca8c8c2baf8477e322bd4d16ac4dfa09a:
// pkg/scalers/azure/azure_eventhub_checkpoint.go (blobMetadataCheckpointer.resolvePath),
// pkg/scalers/azure/azure_eventhub.go (getHubAndNamespace, parseAzureEventHubConnectionString),
// pkg/scalers/azure_eventhub_scaler.go (parseAzureEventHubAuthenticationMetadata: EntityPath
// appended from eventHubName), pkg/scalers/azure/azure_cloud_environment.go
// (ParseEnvironmentProperty) and pkg/scalers/azure/cloud_config.go (the clouds' suffixes).

/// KEDA's clouds by upper-cased name: (service bus suffix, storage suffix).
fn keda_cloud(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name.to_uppercase().as_str() {
        "AZURECLOUD" | "AZUREPUBLICCLOUD" => (PUBLIC_SERVICE_BUS_SUFFIX, PUBLIC_STORAGE_SUFFIX),
        "AZUREUSGOVERNMENT" | "AZUREUSGOVERNMENTCLOUD" => {
            ("servicebus.usgovcloudapi.net", "core.usgovcloudapi.net")
        }
        "AZURECHINACLOUD" => ("servicebus.chinacloudapi.cn", "core.chinacloudapi.cn"),
        "AZUREGERMANCLOUD" => ("servicebus.cloudapi.de", "core.cloudapi.de"),
        _ => return None,
    })
}

/// ParseEnvironmentProperty: the suffix under `key` for `cloud: Private`, else the named (or
/// public) cloud's.
fn keda_suffix(
    meta: &BTreeMap<String, String>,
    key: &str,
    storage: bool,
) -> Result<String, String> {
    let pick = |c: (&'static str, &'static str)| if storage { c.1 } else { c.0 }.to_string();
    match meta.get("cloud").filter(|c| !c.is_empty()) {
        None => Ok(pick(keda_cloud("AZUREPUBLICCLOUD").expect("public cloud"))),
        Some(c) if c.eq_ignore_ascii_case("Private") => meta
            .get(key)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| format!("{key} must be provided for Private cloud type")),
        Some(c) => keda_cloud(c)
            .map(pick)
            .ok_or_else(|| format!("invalid cloud environment {c}")),
    }
}

/// The first `key=value` of a connection string whose key matches case-insensitively.
fn cs_value<'a>(cs: &'a str, key: &str) -> Option<&'a str> {
    cs.split(';')
        .filter_map(|part| part.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The `(container, blob name)` KEDA reads for `partition` with `checkpointStrategy:
/// blobMetadata`, given its trigger metadata and, when it authenticates with one, the Event
/// Hubs connection string.
pub fn keda_checkpoint_blob(
    meta: &BTreeMap<String, String>,
    connection: Option<&str>,
    partition: &str,
) -> Result<(String, String), String> {
    let get = |k: &str| meta.get(k).cloned().unwrap_or_default();
    let (namespace, hub) = match connection.filter(|c| !c.is_empty()) {
        Some(cs) => {
            let cs = if cs_value(cs, "EntityPath").is_some() {
                cs.to_string()
            } else {
                format!("{cs};EntityPath={}", get("eventHubName"))
            };
            let ns = cs_value(&cs, "Endpoint")
                .map(|e| {
                    e.trim_start_matches("sb://")
                        .trim_end_matches('/')
                        .to_string()
                })
                .unwrap_or_default();
            let hub = cs_value(&cs, "EntityPath").unwrap_or_default().to_string();
            if ns.is_empty() || hub.is_empty() {
                return Err("can't parse event hub connection string".into());
            }
            (ns, hub)
        }
        None => {
            let suffix = keda_suffix(meta, "endpointSuffix", false)?;
            (
                format!("{}.{suffix}", get("eventHubNamespace")),
                get("eventHubName"),
            )
        }
    };
    let group = meta
        .get("consumerGroup")
        .cloned()
        .unwrap_or_else(|| "$Default".into());
    let path = format!(
        "{namespace}/{hub}/{}/checkpoint/{partition}",
        group.to_lowercase()
    );
    // resolvePath's url.Parse refuses ASCII control characters.
    if path.chars().any(|c| c.is_ascii_control()) {
        return Err(format!("invalid control character in URL path {path:?}"));
    }
    Ok((get("blobContainer"), path))
}

/// The blob service KEDA connects to with pod identity: `https://{account}.blob.{suffix}`.
pub fn keda_blob_service(meta: &BTreeMap<String, String>) -> Result<String, String> {
    let account = meta
        .get("storageAccountName")
        .filter(|a| !a.is_empty())
        .ok_or("no storageAccountName")?;
    let suffix = keda_suffix(meta, "storageEndpointSuffix", true)?;
    Ok(format!("https://{account}.blob.{suffix}"))
}
