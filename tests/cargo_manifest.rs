//! Claims the manifests make: each workspace member's `rust-version` is exactly the newest
//! `rust-version` its locked dependencies declare (for the platform the tests run on), and the
//! release profile ships a stripped binary.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn version(v: &str) -> (u64, u64, u64) {
    let mut parts = v
        .split('.')
        .map(|p| p.parse::<u64>().expect("numeric rust-version"));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc -vV");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("host triple")
}

/// `cargo metadata` of the locked workspace, resolved for the host (target-specific and
/// `cfg(loom)`-style dependencies of other platforms are not built here, so they do not count).
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(ROOT)
        .args([
            "metadata",
            "--locked",
            "--format-version",
            "1",
            "--filter-platform",
        ])
        .arg(host_triple())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn each_members_rust_version_is_what_its_locked_dependencies_need() {
    let m = metadata();
    let packages: BTreeMap<&str, &Value> = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let deps: BTreeMap<&str, Vec<&str>> = m["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let ds = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["pkg"].as_str().unwrap())
                .collect();
            (n["id"].as_str().unwrap(), ds)
        })
        .collect();
    let members: Vec<&str> = m["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        members.len(),
        3,
        "hubwatch, crates/hubwatch-detect and crates/eventhubs-emulator: {members:?}"
    );
    let mut failures = Vec::new();
    for member in members {
        // Everything the member builds with: normal, build and its own dev-dependencies.
        let mut seen = BTreeSet::new();
        let mut todo = vec![member];
        while let Some(id) = todo.pop() {
            for &d in &deps[id] {
                if seen.insert(d) {
                    todo.push(d);
                }
            }
        }
        let needed = seen
            .iter()
            .filter_map(|id| {
                let p = packages[id];
                let rv = p["rust_version"].as_str()?;
                Some((
                    version(rv),
                    format!("{} {}", p["name"].as_str()?, p["version"].as_str()?),
                ))
            })
            .max()
            .expect("some dependency declares a rust-version");
        let p = packages[member];
        let name = p["name"].as_str().unwrap();
        let declared = p["rust_version"].as_str().unwrap_or("(none)");
        if declared == "(none)" || version(declared) != needed.0 {
            let (a, b, c) = needed.0;
            failures.push(format!(
                "{name} declares rust-version {declared}, its locked dependencies need {a}.{b}.{c} \
                 ({}): set rust-version = \"{a}.{b}\"",
                needed.1
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_release_binary_is_stripped_of_debug_info_and_benches_keep_it() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap())
            .unwrap();
    let profile = |name: &str, key: &str| {
        manifest["profile"][name]
            .get(key)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    };
    // The symbol table stays for backtraces; the DWARF (most of the binary) goes.
    assert_eq!(profile("release", "strip").as_deref(), Some("debuginfo"));
    // `bench` inherits from `release`: profilers need the line tables.
    assert_eq!(profile("bench", "strip").as_deref(), Some("none"));
    assert_eq!(
        profile("bench", "debug").as_deref(),
        Some("line-tables-only")
    );
}
