//! deploy/kubernetes/backfill-job.yaml agrees with the binary and with the service's
//! manifests: an Indexed Job whose pods each read one shard (`--shards N` with N the Job's
//! completions), with a `hubwatch backfill` command line the binary accepts, the service's
//! image, service account, ConfigMap (whose `[backfill]` validates) and state directory.

use serde::Deserialize;
use serde_norway::Value;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn doc(file: &str, kind: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join("deploy/kubernetes").join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let found = serde_norway::Deserializer::from_str(&text)
        .map(|de| Value::deserialize(de).unwrap_or_else(|e| panic!("{file}: {e}")))
        .find(|v| v.get("kind").and_then(Value::as_str) == Some(kind));
    found.unwrap_or_else(|| panic!("no {kind} in {file}"))
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for seg in path.split('.') {
        cur = match seg.parse::<usize>() {
            Ok(i) if cur.is_sequence() => cur.get(i),
            _ => cur.get(seg),
        }
        .unwrap_or_else(|| panic!("missing {path}"));
    }
    cur
}

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

#[test]
fn backfill_job_is_an_indexed_job_of_shards() {
    let job = doc("backfill-job.yaml", "Job");
    let deployment = doc("deployment.yaml", "Deployment");
    assert_eq!(text(&job, "spec.completionMode"), "Indexed");
    let completions = at(&job, "spec.completions").as_u64().expect("completions");
    assert_eq!(at(&job, "spec.parallelism").as_u64(), Some(completions));
    // The cursor is in an emptyDir: only container restarts (not new pods) keep it.
    assert_eq!(text(&job, "spec.template.spec.restartPolicy"), "OnFailure");
    let c = at(&job, "spec.template.spec.containers.0");
    let d = at(&deployment, "spec.template.spec.containers.0");
    assert_eq!(text(c, "image"), text(d, "image"));
    assert_eq!(
        text(&job, "spec.template.spec.serviceAccountName"),
        text(&deployment, "spec.template.spec.serviceAccountName")
    );
    assert_eq!(
        at(&job, "spec.template.metadata.labels")["azure.workload.identity/use"],
        Value::from("true")
    );

    let args: Vec<&str> = at(c, "args")
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg"))
        .collect();
    assert_eq!(args[0], "backfill");
    let value = |flag: &str| {
        let i = args
            .iter()
            .position(|a| *a == flag)
            .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
        args[i + 1]
    };
    assert_eq!(value("--shards").parse::<u64>().ok(), Some(completions));
    let from = hubwatch::backfill::parse_time(value("--from")).expect("--from");
    let to = hubwatch::backfill::parse_time(value("--to")).expect("--to");
    assert!(from < to);

    // The config it names is the service's ConfigMap, mounted the same way.
    let config_path = value("--config");
    let mounts = at(c, "volumeMounts").as_sequence().expect("mounts");
    let mount = |path: &str| {
        mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };
    let volume_name = mount(config_path)["name"].as_str().expect("name");
    let volume = at(&job, "spec.template.spec.volumes")
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"].as_str() == Some(volume_name))
        .expect("config volume");
    let cm_name = volume["configMap"]["name"].as_str().expect("configMap");
    let cm = doc("configmap.yaml", "ConfigMap");
    assert_eq!(text(&cm, "metadata.name"), cm_name);
    let config = hubwatch::config::Config::from_toml(
        Path::new("ConfigMap"),
        at(&cm, "data")["config.toml"]
            .as_str()
            .expect("config.toml"),
        std::iter::empty(),
    )
    .expect("ConfigMap config");
    config.backfill.validate().expect("[backfill] is valid");
    mount(config.service.state_dir.to_str().expect("state dir"));
}
