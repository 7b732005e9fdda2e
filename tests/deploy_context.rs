//! The context store's deployment settings agree with the binary: the Kubernetes component
//! `deploy/kubernetes/context-redis` and the Container Apps template's `redisName` option set
//! `HUBWATCH_CONTEXT__*` variables that, over the shipped configuration, give a valid
//! `[context]` with `store = "redis"` over TLS and an access key taken only from a secret.

use serde::Deserialize;
use serde_norway::Value;
use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The ConfigMap's config.toml.
fn configmap_toml() -> String {
    let text = read("deploy/kubernetes/configmap.yaml");
    let v = Value::deserialize(serde_norway::Deserializer::from_str(&text)).unwrap();
    v["data"]["config.toml"].as_str().unwrap().to_string()
}

fn check(env: Vec<(String, String)>, secret_vars: &[String], what: &str) {
    let config = hubwatch::config::Config::from_toml(Path::new(what), &configmap_toml(), env)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let c = &config.context;
    assert!(c.enabled, "{what}");
    assert_eq!(c.store, hubwatch::context::StoreKind::Redis, "{what}");
    let url = c.redis.url.as_deref().unwrap();
    assert!(url.starts_with("rediss://"), "{what}: TLS: {url}");
    assert_eq!(
        c.redis.auth,
        hubwatch::context::config::RedisAuth::AccessKey
    );
    let key_env = c.redis.access_key_env.clone().unwrap();
    assert!(
        secret_vars.contains(&key_env),
        "{what}: {key_env} must come from a secret"
    );
}

#[test]
fn kubernetes_component_enables_a_valid_redis_context_store() {
    let kz = read("deploy/kubernetes/context-redis/kustomization.yaml");
    let kz = Value::deserialize(serde_norway::Deserializer::from_str(&kz)).unwrap();
    assert_eq!(kz["kind"], "Component");
    let patch_file = kz["patches"][0]["path"].as_str().unwrap();
    let patch = read(&format!("deploy/kubernetes/context-redis/{patch_file}"));
    let patch = Value::deserialize(serde_norway::Deserializer::from_str(&patch)).unwrap();
    let container = &patch["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "hubwatch");
    let mut env = Vec::new();
    let mut secret_vars = Vec::new();
    for e in container["env"].as_sequence().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        match e["value"].as_str() {
            Some(v) => env.push((name, v.to_string())),
            None => {
                assert!(!e["valueFrom"]["secretKeyRef"]["name"].is_null(), "{name}");
                secret_vars.push(name);
            }
        }
    }
    check(env, &secret_vars, "context-redis");
}

#[test]
fn container_apps_redis_option_enables_a_valid_redis_context_store() {
    let bicep = read("deploy/containerapps/main.bicep");
    let start = bicep.find("var redisEnv = useRedis ? [").expect("redisEnv");
    let end = start + bicep[start..].find("] : []").expect("end of redisEnv");
    let mut env = Vec::new();
    let mut secret_vars = Vec::new();
    let mut name = None;
    for line in bicep[start..end].lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("name: ") {
            name = Some(n.trim_matches('\'').to_string());
        } else if let Some(v) = line.strip_prefix("value: ") {
            let v = v.trim_matches('\'').replace(
                "${redis.properties.hostName}",
                "contoso.westeurope.redis.azure.net",
            );
            env.push((name.take().unwrap(), v));
        } else if let Some(s) = line.strip_prefix("secretRef: ") {
            assert!(
                bicep.contains(&format!("name: {s}")),
                "secret {s} is declared"
            );
            secret_vars.push(name.take().unwrap());
        }
    }
    assert!(bicep.contains("secrets: concat(baseSecrets, connectionStringSecrets, redisSecrets)"));
    assert!(bicep.contains("env: concat(baseEnv, connectionStringEnv, redisEnv)"));
    check(env, &secret_vars, "main.bicep");
}
