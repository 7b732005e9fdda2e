//! Rule directories in Panther's layout through the real binary: recursive reading, files told
//! apart by `AnalysisType`, other log types skipped with one summary line, unsupported rules
//! named with file and line (and refused unless asked), no enabled rule an error for `test`,
//! `check-config` and `run`, and the built-in selection.
//!
//! The fixture files are written here in the shape of panther-analysis's repository (a rule
//! beside its Python file, `global_helpers/`, `data_models/`, `packs/`, `.github/`), not copied
//! from it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hubwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hubwatch"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A checkout-shaped tree: the seed rule (ported) nested two folders down, a rule for another
/// log type, a global helper, a data model, a pack, a CI workflow, and optionally a rule whose
/// Python has no port.
fn checkout(dir: &Path, with_unported: bool) -> PathBuf {
    let root = dir.join("panther-analysis");
    let seed =
        std::fs::read_to_string(repo().join("rules/azure_keyvault_key_accessed_or_recovered.yml"))
            .unwrap();
    write(
        &root,
        "rules/azure_activity_rules/azure_keyvault_key_accessed_or_recovered.yml",
        &seed,
    );
    write(
        &root,
        "rules/azure_activity_rules/azure_keyvault_key_accessed_or_recovered.py",
        "def rule(event):\n    return False\n",
    );
    write(
        &root,
        "rules/aws_cloudtrail_rules/aws_console_login.yml",
        "AnalysisType: rule\nFilename: aws_console_login.py\nRuleID: AWS.Console.Login\nEnabled: true\nLogTypes:\n  - AWS.CloudTrail\nSeverity: Low\nSomeFieldHubwatchDoesNotKnow: 1\n",
    );
    write(
        &root,
        "global_helpers/panther_azureactivity_helpers.yml",
        "AnalysisType: global\nFilename: panther_azureactivity_helpers.py\nGlobalID: panther_azureactivity_helpers\n",
    );
    write(
        &root,
        "data_models/azure_signin_data_model.yml",
        "AnalysisType: datamodel\nDataModelID: Standard.Azure.Audit.SignIn\nLogTypes:\n  - Azure.Audit\nMappings: []\n",
    );
    write(
        &root,
        "packs/azure_activity.yml",
        "AnalysisType: pack\nPackID: Azure\nPackDefinition:\n  IDs: []\n",
    );
    // Hidden folders are not read: this file does not even parse.
    write(&root, ".github/workflows/ci.yml", "name: [ci\n");
    write(
        &root,
        "test_scenarios/login.yml",
        "scenario: login\nsteps: []\n",
    );
    if with_unported {
        write(
            &root,
            "rules/kubernetes_rules/k8s_thing.yml",
            "AnalysisType: rule\nRuleID: K8s.Thing\nEnabled: true\nLogTypes:\n  - Amazon.EKS.Audit\n  - Azure.MonitorActivity\nSeverity: High\nFilename: k8s_thing.py\n",
        );
    }
    root
}

#[test]
fn test_reads_a_checkout_recursively_and_says_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = checkout(dir.path(), false);
    let out = hubwatch()
        .arg("test")
        .arg("--rules")
        .arg(&root)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.lines().any(|l| l == "4 passed, 0 failed"), "{all}");
    let summary = all
        .lines()
        .find(|l| l.contains("skipped 1 rule(s)"))
        .unwrap_or_default();
    assert!(summary.contains("AWS.CloudTrail: 1"), "{all}");
    assert!(
        summary.contains("global: 1")
            && summary.contains("datamodel: 1")
            && summary.contains("pack: 1"),
        "{all}"
    );
    assert!(
        summary.contains("ignored 1 YAML file(s) without AnalysisType"),
        "{all}"
    );
}

#[test]
fn unsupported_rules_are_named_and_refused_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = checkout(dir.path(), true);
    let out = hubwatch()
        .arg("test")
        .arg("--rules")
        .arg(&root)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("k8s_thing.yml:8: K8s.Thing: its Python (k8s_thing.py) has no port"),
        "{all}"
    );

    let out = hubwatch()
        .args(["test", "--skip-unsupported", "--rules"])
        .arg(&root)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("1 unsupported rule(s) skipped: K8s.Thing"),
        "{all}"
    );
    assert!(all.lines().any(|l| l == "4 passed, 0 failed"), "{all}");
}

fn config(dir: &Path, rules: &str) -> PathBuf {
    let path = dir.join("hubwatch.toml");
    let body = repo().join("samples/activity-log.jsonl");
    std::fs::write(
        &path,
        format!(
            "[service]\nstate_dir = {:?}\n[http]\nlisten = \"127.0.0.1:0\"\n[source]\nkind = \"file\"\npath = [{:?}]\n[checkpoint]\nkind = \"file\"\n[rules]\n{rules}\n[[sinks]]\nkind = \"stdout\"\n",
            dir.join("state"),
            body
        ),
    )
    .unwrap();
    path
}

#[test]
fn no_enabled_rule_is_an_error_for_test_check_config_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = hubwatch()
        .arg("test")
        .arg("--rules")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains(&format!("{} holds none", empty.display())),
        "{}",
        text(&out)
    );

    let cfg = config(dir.path(), &format!("dir = {empty:?}\nbuiltin = []"));
    for cmd in ["check-config", "run"] {
        let out = hubwatch()
            .args([cmd, "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out));
        assert!(
            text(&out).contains("no enabled rule"),
            "{cmd}: {}",
            text(&out)
        );
    }
    // The refused run read and checkpointed nothing: its state directory holds no file.
    let state = dir.path().join("state");
    let files = std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "{state:?}");
}

#[test]
fn run_refuses_unsupported_rules_and_starts_without_them_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let root = checkout(dir.path(), true);
    let cfg = config(dir.path(), &format!("dir = {root:?}"));
    let out = hubwatch()
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("K8s.Thing"), "{}", text(&out));

    let cfg = config(
        dir.path(),
        &format!("dir = {root:?}\nskip_unsupported = true"),
    );
    let out = hubwatch()
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The default built-ins plus the directory's seed rule, which replaces its built-in twin.
    let ok = text(&out);
    assert!(
        ok.contains("1 unsupported rule(s) skipped: K8s.Thing"),
        "{ok}"
    );
}

#[test]
fn builtin_selection_runs_the_whole_pack_or_part_of_it() {
    let out = hubwatch().arg("rules").output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0));
    // 58 Panther ports and hubwatch's 4 data-plane rules, one line each after the header.
    assert_eq!(listing.lines().count(), 1 + 62, "{listing}");
    let on: Vec<&str> = listing
        .lines()
        .filter(|l| l.split('\t').nth(2) == Some("on"))
        .collect();
    assert!(
        on.iter()
            .all(|l| l.starts_with("Azure.MonitorActivity.KeyVault.")
                || l.starts_with("Azure.KeyVault.AuditEvent.")),
        "{on:?}"
    );
    assert_eq!(on.len(), 10, "{on:?}");

    // A VM deletion raises nothing by default and one alert with the whole pack.
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.jsonl");
    std::fs::write(
        &body,
        r#"{"records":[{"time":"2026-01-01T00:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE","resultType":"Success","callerIpAddress":"203.0.113.9","correlationId":"c-vm"}]}"#,
    )
    .unwrap();
    let count = |args: &[&str]| {
        let out = hubwatch()
            .arg("replay")
            .args(args)
            .arg(&body)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(count(&[]), 0);
    assert_eq!(count(&["--builtin", "*"]), 1);
    assert_eq!(
        count(&["--builtin", "Azure.MonitorActivity.VirtualMachine.*"]),
        1
    );
    assert_eq!(count(&["--builtin", "Azure.MonitorActivity.Compute.*"]), 0);
}

#[test]
fn docs_list_every_built_in_rule() {
    let out = hubwatch().arg("rules").output().unwrap();
    let docs = std::fs::read_to_string(repo().join("docs/rules.md")).unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let id = line.split('\t').next().unwrap_or_default();
        assert!(
            docs.contains(&format!("| `{id}` |")),
            "docs/rules.md does not list {id}"
        );
    }
}
