//! The deployment files agree with the binary and with each other: Kubernetes manifests (parsed
//! as YAML), the Dockerfile (line parsing) and config/example.toml (validated by `hubwatch
//! check-config`). No container engine or kubectl. The Bicep files: tests/deploy_bicep.rs.

use serde::Deserialize;
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// What the binary serves (src/http.rs).
const PROBE_PATHS: &[&str] = &["/healthz", "/readyz"];
const PORT: u64 = 9464;
const CONFIG_PATH: &str = "/etc/hubwatch/config.toml";
const STATE_DIR: &str = "/var/lib/hubwatch";
/// Manifests applied by hand, not by the kustomization (tests/deploy_backfill_job.rs).
const ON_DEMAND: &[&str] = &["backfill-job.yaml"];

fn read(rel: &str) -> String {
    let path = Path::new(ROOT).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn k8s_dir() -> PathBuf {
    Path::new(ROOT).join("deploy/kubernetes")
}

/// Every YAML document under deploy/kubernetes, with its file name.
fn documents() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read yaml");
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        for de in serde_norway::Deserializer::from_str(&text) {
            let v = Value::deserialize(de).unwrap_or_else(|e| panic!("{name}: {e}"));
            if !v.is_null() {
                docs.push((name.clone(), v));
            }
        }
    }
    docs
}

/// `a.b.0.c` into a value.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path.split('.') {
        cur = match seg.parse::<usize>() {
            Ok(i) if cur.is_sequence() => cur.get(i)?,
            _ => cur.get(seg)?,
        };
    }
    Some(cur)
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string {path}"))
}

fn seq<'a>(v: &'a Value, path: &str) -> &'a Vec<Value> {
    at(v, path)
        .and_then(Value::as_sequence)
        .unwrap_or_else(|| panic!("missing list {path}"))
}

fn u(v: &Value, path: &str) -> u64 {
    at(v, path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("missing number {path}"))
}

fn one<'a>(docs: &'a [(String, Value)], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|(_, d)| d.get("kind").and_then(Value::as_str) == Some(kind))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found[0]
}

fn config_from(text: &str, what: &str) -> hubwatch::config::Config {
    hubwatch::config::Config::from_toml(Path::new(what), text, std::iter::empty())
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The ConfigMap's config.toml, parsed and validated as the service would.
fn configmap_config(docs: &[(String, Value)]) -> hubwatch::config::Config {
    let cm = one(docs, "ConfigMap");
    config_from(
        label(cm, "data", "config.toml").expect("data config.toml"),
        "ConfigMap hubwatch-config",
    )
}

// ---- Dockerfile ----------------------------------------------------------------------------

/// Dockerfile instructions, continuation lines joined, comments dropped: (KEYWORD, rest).
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let full = std::mem::take(&mut pending);
        let full = full.trim();
        if full.is_empty() {
            continue;
        }
        let (kw, rest) = full.split_once(char::is_whitespace).unwrap_or((full, ""));
        out.push((kw.to_ascii_uppercase(), rest.trim().to_string()));
    }
    out
}

fn instructions<'a>(df: &'a [(String, String)], kw: &str) -> Vec<&'a str> {
    df.iter()
        .filter(|(k, _)| k == kw)
        .map(|(_, r)| r.as_str())
        .collect()
}

fn json_array(rest: &str) -> Vec<String> {
    serde_json::from_str(rest).unwrap_or_else(|e| panic!("not an exec-form array: {rest}: {e}"))
}

/// `KEY=value` pairs of every ENV instruction.
fn dockerfile_env(df: &[(String, String)]) -> BTreeMap<String, String> {
    instructions(df, "ENV")
        .iter()
        .flat_map(|r| r.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

fn dockerfile_label(df: &[(String, String)], key: &str) -> String {
    instructions(df, "LABEL")
        .iter()
        .flat_map(|r| r.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no LABEL {key}"))
}

#[test]
fn dockerfile_is_multi_stage_locked_non_root_with_healthcheck() {
    let df = dockerfile();
    let froms = instructions(&df, "FROM");
    assert!(froms.len() >= 2, "multi-stage build expected: {froms:?}");
    assert!(
        froms[0].starts_with("rust:") && froms[0].contains(" AS "),
        "named Rust builder stage: {}",
        froms[0]
    );
    let runtime = froms[froms.len() - 1];
    assert!(
        runtime.contains("distroless") || runtime.contains("slim"),
        "small runtime image: {runtime}"
    );
    // Every base image pinned by digest: a tag alone moves under a rebuild.
    for from in &froms {
        let image = from.split_whitespace().next().unwrap_or_default();
        let digest = image
            .split_once("@sha256:")
            .map(|(_, d)| d)
            .unwrap_or_default();
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "FROM {image} is not pinned by digest"
        );
    }
    let runs = instructions(&df, "RUN").join("\n");
    assert!(runs.contains("cargo build --release --locked"), "{runs}");

    let user = instructions(&df, "USER");
    let user = user.last().expect("USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("USER must be numeric: {user}"));
    assert_eq!(uid, 65532);

    assert!(instructions(&df, "EXPOSE").contains(&"9464"));
    let health = instructions(&df, "HEALTHCHECK");
    let health = health.first().expect("HEALTHCHECK");
    let cmd = health.split_once("CMD").expect("HEALTHCHECK CMD").1.trim();
    assert_eq!(json_array(cmd), ["/usr/local/bin/hubwatch", "healthcheck"]);
    let entry = instructions(&df, "ENTRYPOINT");
    assert_eq!(json_array(entry[0]), ["/usr/local/bin/hubwatch"]);
    let cmd = instructions(&df, "CMD");
    assert_eq!(json_array(cmd[0]), ["run", "--config", CONFIG_PATH]);

    let env = dockerfile_env(&df);
    assert_eq!(env["HUBWATCH_SERVICE__STATE_DIR"], STATE_DIR);
    assert_eq!(env["HUBWATCH_HTTP__LISTEN"], format!("0.0.0.0:{PORT}"));
    assert!(instructions(&df, "VOLUME").join(" ").contains(STATE_DIR));

    let copies = instructions(&df, "COPY").join("\n");
    assert!(copies.contains("/usr/local/bin/hubwatch"), "{copies}");
    assert!(copies.contains("rules/"), "{copies}");
    assert!(copies.contains("config/"), "{copies}");
    assert!(copies.contains(CONFIG_PATH), "{copies}");
    assert_eq!(
        dockerfile_label(&df, "org.opencontainers.image.version"),
        env!("CARGO_PKG_VERSION")
    );
    // Source and revision come from build arguments declared in the runtime stage.
    let runtime_args: Vec<&str> = df
        .iter()
        .skip_while(|(k, r)| !(k == "FROM" && r.contains("distroless")))
        .filter(|(k, _)| k == "ARG")
        .map(|(_, r)| r.split('=').next().unwrap_or_default())
        .collect();
    for (label, arg) in [("revision", "REVISION"), ("source", "SOURCE")] {
        assert_eq!(
            dockerfile_label(&df, &format!("org.opencontainers.image.{label}")),
            format!("${{{arg}}}")
        );
        assert!(
            runtime_args.contains(&arg),
            "ARG {arg} in the runtime stage"
        );
    }

    let ignore: BTreeSet<String> = read(".dockerignore")
        .lines()
        .map(|l| l.trim().trim_end_matches('/').to_string())
        .collect();
    for must in ["target", "node_modules", ".state", ".git"] {
        assert!(ignore.contains(must), ".dockerignore lacks {must}");
    }
}

// ---- Kubernetes ----------------------------------------------------------------------------

#[test]
fn every_manifest_parses_and_the_kustomization_lists_them() {
    let docs = documents();
    for (file, d) in &docs {
        for key in ["apiVersion", "kind"] {
            assert!(
                at(d, key).and_then(Value::as_str).is_some(),
                "{file}: {key}"
            );
        }
        if s(d, "kind") != "Kustomization" {
            assert!(!s(d, "metadata.name").is_empty(), "{file}: metadata.name");
        }
    }
    let kinds: BTreeSet<&str> = docs.iter().map(|(_, d)| s(d, "kind")).collect();
    for kind in [
        "Kustomization",
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ScaledObject",
        "TriggerAuthentication",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/kubernetes");
    }
    let kustomization = one(&docs, "Kustomization");
    let listed: BTreeSet<&str> = seq(kustomization, "resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let files: BTreeSet<&str> = docs
        .iter()
        .map(|(f, _)| f.as_str())
        .filter(|f| *f != "kustomization.yaml" && !ON_DEMAND.contains(f))
        .collect();
    assert_eq!(listed, files, "kustomization resources vs files");
    // Run on demand (kubectl create -f), never by `kubectl apply -k`.
    for f in ON_DEMAND {
        assert!(!listed.contains(f), "{f} must not be in the kustomization");
        assert!(docs.iter().any(|(file, _)| file == f), "{f} is missing");
    }
}

#[test]
fn deployment_probes_security_identity_and_config_agree() {
    let docs = documents();
    let dep = one(&docs, "Deployment");
    let pod = at(dep, "spec.template").expect("pod template");
    let containers = seq(pod, "spec.containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // Ports and probes.
    let ports = seq(c, "ports");
    let http = ports
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some("http"))
        .expect("a port named http");
    assert_eq!(u(http, "containerPort"), PORT);
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let p = at(c, probe).unwrap_or_else(|| panic!("{probe}"));
        assert_eq!(s(p, "httpGet.path"), path, "{probe}");
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(p) = at(c, probe) else { continue };
        assert!(PROBE_PATHS.contains(&s(p, "httpGet.path")), "{probe}");
        let port = at(p, "httpGet.port").expect("probe port");
        assert!(
            port.as_str() == Some("http") || port.as_u64() == Some(PORT),
            "{probe} port {port:?}"
        );
    }

    // Resources.
    for key in [
        "resources.requests.cpu",
        "resources.requests.memory",
        "resources.limits.cpu",
        "resources.limits.memory",
    ] {
        assert!(at(c, key).is_some(), "container {key}");
    }

    // Security: non-root (the image's uid), read-only root, state on a volume.
    assert_eq!(
        at(pod, "spec.securityContext.runAsNonRoot").and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(u(pod, "spec.securityContext.runAsUser"), 65532);
    assert_eq!(
        at(c, "securityContext.readOnlyRootFilesystem").and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(
        at(c, "securityContext.allowPrivilegeEscalation").and_then(Value::as_bool),
        Some(false)
    );
    let mounts = seq(c, "volumeMounts");
    let mount_of = |path: &str| -> &Value {
        mounts
            .iter()
            .find(|m| m.get("mountPath").and_then(Value::as_str) == Some(path))
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };
    let volumes = seq(pod, "spec.volumes");
    let volume = |name: &str| -> &Value {
        volumes
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let state = volume(s(mount_of(STATE_DIR), "name"));
    assert!(
        state.get("emptyDir").is_some() || state.get("persistentVolumeClaim").is_some(),
        "state volume must be an emptyDir or a PVC"
    );

    // Configuration: the ConfigMap's config.toml at the path the image's CMD uses.
    let config_mount = mount_of(CONFIG_PATH);
    assert_eq!(s(config_mount, "subPath"), "config.toml");
    let cm_volume = volume(s(config_mount, "name"));
    let cm = one(&docs, "ConfigMap");
    assert_eq!(s(cm_volume, "configMap.name"), s(cm, "metadata.name"));
    let args: Vec<&str> = seq(c, "args").iter().filter_map(Value::as_str).collect();
    assert_eq!(args, ["run", "--config", CONFIG_PATH]);
    let df = dockerfile();
    assert_eq!(
        json_array(instructions(&df, "CMD")[0]),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "Deployment args and Dockerfile CMD"
    );

    // Image: the kustomization's image at the crate version, as the Dockerfile labels it.
    let image = s(c, "image");
    let (repo, tag) = image.rsplit_once(':').expect("image:tag");
    assert!(repo.ends_with("/hubwatch"), "{image}");
    assert_eq!(tag, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        tag,
        dockerfile_label(&df, "org.opencontainers.image.version")
    );
    let kz = one(&docs, "Kustomization");
    let images = seq(kz, "images");
    assert!(images
        .iter()
        .any(|i| i.get("name").and_then(Value::as_str) == Some(repo)
            && i.get("newTag").and_then(Value::as_str) == Some(tag)));

    // Environment: listener on all interfaces, state dir, optional connection string secret.
    let env = seq(c, "env");
    let env_value = |name: &str| {
        env.iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no env {name}"))
    };
    assert_eq!(
        s(env_value("HUBWATCH_HTTP__LISTEN"), "value"),
        format!("0.0.0.0:{PORT}")
    );
    assert_eq!(
        s(env_value("HUBWATCH_SERVICE__STATE_DIR"), "value"),
        STATE_DIR
    );
    let secret = env_value("EVENTHUBS_CONNECTION_STRING");
    assert!(!s(secret, "valueFrom.secretKeyRef.name").is_empty());
    assert!(!s(secret, "valueFrom.secretKeyRef.key").is_empty());
    assert_eq!(
        at(secret, "valueFrom.secretKeyRef.optional").and_then(Value::as_bool),
        Some(true)
    );
    let config = configmap_config(&docs);
    if let Some(var) = &hub(&config).auth.connection_string_env {
        assert_eq!(var, "EVENTHUBS_CONNECTION_STRING");
    }
    assert!(label(one(&docs, "ConfigMap"), "data", "config.toml")
        .unwrap_or_default()
        .contains("EVENTHUBS_CONNECTION_STRING"));

    // Workload identity.
    assert_eq!(
        label(pod, "metadata.labels", "azure.workload.identity/use"),
        Some("true"),
        "the label must be the string \"true\""
    );
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(s(pod, "spec.serviceAccountName"), s(sa, "metadata.name"));
    assert!(label(
        sa,
        "metadata.annotations",
        "azure.workload.identity/client-id"
    )
    .is_some_and(|id| !id.is_empty()));

    // Graceful shutdown fits in the pod's termination grace period.
    assert!(u(pod, "spec.terminationGracePeriodSeconds") > config.service.shutdown_grace_secs);
    assert!(config.http.listen.ends_with(&format!(":{PORT}")));
    assert_eq!(config.service.state_dir, Path::new(STATE_DIR));
}

/// `at` splits on dots, so label keys with dots need their own lookup.
fn label<'a>(v: &'a Value, map_path: &str, key: &str) -> Option<&'a str> {
    at(v, map_path)?.get(key)?.as_str()
}

#[test]
fn services_and_disruption_budget_select_the_pods() {
    let docs = documents();
    let dep = one(&docs, "Deployment");
    let pod_labels = at(dep, "spec.template.metadata.labels")
        .and_then(Value::as_mapping)
        .expect("pod labels");
    let selects = |selector: &Value| {
        let sel = selector.as_mapping().expect("selector map");
        assert!(!sel.is_empty());
        sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
    };
    assert!(selects(
        at(dep, "spec.selector.matchLabels").expect("selector")
    ));
    let svc = one(&docs, "Service");
    assert!(selects(at(svc, "spec.selector").expect("service selector")));
    let port = &seq(svc, "spec.ports")[0];
    assert_eq!(u(port, "port"), PORT);
    assert!(
        at(port, "targetPort").and_then(Value::as_str) == Some("http")
            || at(port, "targetPort").and_then(Value::as_u64) == Some(PORT)
    );
    let pdb = one(&docs, "PodDisruptionBudget");
    assert!(selects(
        at(pdb, "spec.selector.matchLabels").expect("pdb selector")
    ));
    assert!(at(pdb, "spec.maxUnavailable").is_some() || at(pdb, "spec.minAvailable").is_some());
    assert_eq!(
        label(
            dep,
            "spec.template.metadata.labels",
            "azure.workload.identity/use"
        ),
        Some("true")
    );
}

#[test]
fn keda_scales_the_deployment_on_hubwatch_checkpoints() {
    let docs = documents();
    let dep = one(&docs, "Deployment");
    let so = one(&docs, "ScaledObject");
    assert_eq!(s(so, "spec.scaleTargetRef.kind"), "Deployment");
    assert_eq!(s(so, "spec.scaleTargetRef.name"), s(dep, "metadata.name"));
    assert!(
        at(dep, "spec.replicas").is_none(),
        "KEDA owns the replica count; the Deployment must not set it"
    );
    let min = u(so, "spec.minReplicaCount");
    let max = u(so, "spec.maxReplicaCount");
    assert!(min >= 1 && max >= min);

    let triggers = seq(so, "spec.triggers");
    assert_eq!(triggers.len(), 1);
    let t = &triggers[0];
    assert_eq!(s(t, "type"), "azure-eventhub");
    let config = configmap_config(&docs);
    assert_eq!(s(t, "metadata.consumerGroup"), hub(&config).consumer_group);
    assert_eq!(
        Some(s(t, "metadata.eventHubName")),
        Some(hub(&config).eventhub.as_str())
    );
    assert_eq!(
        Some(format!(
            "{}.servicebus.windows.net",
            s(t, "metadata.eventHubNamespace")
        )),
        hub(&config).namespace
    );
    assert_eq!(s(t, "metadata.checkpointStrategy"), "blobMetadata");
    assert_eq!(
        config.checkpoint.kind(),
        hubwatch::config::CheckpointKind::Blob
    );
    assert_eq!(
        container_url(&config),
        Some(
            format!(
                "https://{}.blob.core.windows.net/{}",
                s(t, "metadata.storageAccountName"),
                s(t, "metadata.blobContainer")
            )
            .as_str()
        )
    );
    let threshold: u64 = s(t, "metadata.unprocessedEventThreshold")
        .parse()
        .expect("threshold is a number in a string");
    assert!(threshold > 0);

    let auth = one(&docs, "TriggerAuthentication");
    assert_eq!(s(t, "authenticationRef.name"), s(auth, "metadata.name"));
    assert_eq!(s(auth, "spec.podIdentity.provider"), "azure-workload");
}

// ---- config/example.toml -------------------------------------------------------------------

#[test]
fn example_config_passes_check_config() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubwatch"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HUBWATCH_") {
            cmd.env_remove(k);
        }
    }
    // check-config reads every secret the file names: without it set, it fails.
    let unset = cmd
        .current_dir(ROOT)
        .args(["check-config", "--config", "config/example.toml"])
        .output()
        .expect("run hubwatch check-config");
    assert!(!unset.status.success());
    assert!(String::from_utf8_lossy(&unset.stderr).contains("HUBWATCH_WEBHOOK_SECRET"));
    cmd.env("HUBWATCH_WEBHOOK_SECRET", "not-a-real-secret");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hubwatch check-config");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("check-config did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "check-config failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Event Hubs source of a shipped configuration.
fn hub(c: &hubwatch::config::Config) -> &hubwatch::config::EventHubsSourceConfig {
    c.source.eventhubs().expect("an Event Hubs source")
}

/// The blob checkpoint container of a configuration, if any.
fn container_url(c: &hubwatch::config::Config) -> Option<&str> {
    c.checkpoint.blob().map(|b| b.container_url.as_str())
}

#[test]
fn example_config_agrees_with_the_manifests() {
    let docs = documents();
    let example = config_from(&read("config/example.toml"), "config/example.toml");
    let deployed = configmap_config(&docs);
    assert_eq!(example.source.kind(), deployed.source.kind());
    assert_eq!(hub(&example).namespace, hub(&deployed).namespace);
    assert_eq!(hub(&example).eventhub, hub(&deployed).eventhub);
    assert_eq!(hub(&example).consumer_group, hub(&deployed).consumer_group);
    assert_eq!(container_url(&example), container_url(&deployed));
    assert_eq!(example.http.listen, deployed.http.listen);
    assert_eq!(example.service.state_dir, Path::new(STATE_DIR));
    let header = read("config/example.toml");
    assert!(
        header.contains(CONFIG_PATH),
        "example.toml names where it is mounted"
    );
}

/// Field names of the configuration structs in a source file (flattened ones excluded).
fn config_keys(rel: &str) -> Vec<String> {
    let text = read(rel);
    let mut keys = Vec::new();
    let mut flatten = false;
    // Only the fields of structs that derive `Deserialize` are keys (not those of the
    // wrappers that hold a section's parts, nor of the components they configure).
    let (mut derives, mut keyed) = (false, false);
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("#[derive(") {
            derives = t.contains("Deserialize");
        }
        if t.starts_with("pub struct ") || t.starts_with("pub enum ") || t.starts_with("struct ") {
            keyed = derives;
            derives = false;
        }
        if !keyed {
            continue;
        }
        if t.starts_with("#[serde(") && t.contains("flatten") {
            flatten = true;
            continue;
        }
        if let Some(rest) = t.strip_prefix("pub ") {
            if let Some((name, _)) = rest.split_once(':') {
                if !name.contains(' ') && !name.contains('(') && !flatten {
                    keys.push(name.to_string());
                }
            }
        }
        if !t.starts_with("#[") && !t.starts_with("///") {
            flatten = false;
        }
    }
    keys
}

#[test]
fn example_config_documents_every_key() {
    let example = read("config/example.toml");
    let mentioned: BTreeSet<String> = example
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .map(|l| l.trim_start_matches('[').trim_end_matches(']'))
        .filter_map(|l| l.split('=').next())
        .map(|k| k.trim().to_string())
        .collect();
    let mut missing = Vec::new();
    // The sections' keys, as they were in these four files before each kind had its own.
    let groups: [&[&str]; 4] = [
        &[
            "src/config.rs",
            "src/source/config.rs",
            "src/source/eventhubs/config.rs",
            "src/source/file/config.rs",
            "src/checkpoint/config.rs",
        ],
        &[
            "src/sink/config.rs",
            "src/sink/config/file.rs",
            "src/sink/config/webhook.rs",
            "src/sink/config/sentinel.rs",
            "src/sink/config/eventhubs.rs",
        ],
        &["src/config/backfill.rs"],
        &["src/azure/settings.rs"],
    ];
    for files in groups {
        let rel = files[0];
        let keys: Vec<(String, &str)> = files
            .iter()
            .flat_map(|f| config_keys(f).into_iter().map(move |k| (k, *f)))
            .collect();
        assert!(keys.len() > 5, "{rel}: found too few keys: {keys:?}");
        for (key, rel) in keys {
            if !mentioned.contains(&key) {
                missing.push(format!("{rel}: {key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "config/example.toml does not document: {missing:?}"
    );
}

// The Container Apps Bicep: tests/deploy_bicep.rs.
