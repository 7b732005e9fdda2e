//! Simple detections end to end: the shipped rules load and pass their tests, a simple
//! detection alerts as Panther's would, and a broken rule file is reported with its path and
//! line.

use hubwatch::rules::{load_rule, selftest, LoadError, RuleSet};
use std::path::Path;

#[test]
fn shipped_rules_load_and_pass_their_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let set = RuleSet::load_dir(&dir).expect("rules/ loads");
    for id in [
        "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered",
        "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered",
        "Azure.KeyVault.AuditEvent.SecretAccessedOrRecovered",
        "Azure.KeyVault.AuditEvent.CertificateAccessed",
        "Azure.KeyVault.AuditEvent.DataPlaneAccessDenied",
    ] {
        assert!(
            set.rules.iter().any(|r| r.id() == id),
            "{id} is loaded and enabled"
        );
    }
    let report = selftest::run_all(&set);
    let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert!(
        failures.is_empty(),
        "failing rule tests:\n{}",
        failures.join("\n")
    );
    assert!(report.passed >= 6, "only {} tests ran", report.passed);
}

/// A simple detection over Key Vault audit records (the shape of the first AuditEvent rule,
/// before it became a built-in that reads the HTTP status).
const SIMPLE_RULE: &str = r#"
AnalysisType: rule
RuleID: "Test.Simple.KeyVault.AuditEvent"
Severity: Medium
Detection:
  - Key: category
    Condition: Equals
    Value: AuditEvent
  - Key: operationName
    Condition: IsIn
    Values: [KeyGet, KeyRecover, KeyRestore]
AlertTitle: "Azure Key Vault key operation {operationName} on [{resourceId}] by [{callerIpAddress}]"
AlertContext:
  - KeyName: resource_id
    KeyValue:
      KeyPath: resourceId
  - KeyName: caller_ip
    KeyValue:
      KeyPath: callerIpAddress
  - KeyName: operation_name
    KeyValue:
      KeyPath: operationName
  - KeyName: correlation_id
    KeyValue:
      KeyPath: correlationId
  - KeyName: key_id
    KeyValue:
      KeyPath: properties.id
  - KeyName: client_info
    KeyValue:
      KeyPath: properties.clientInfo
"#;

#[test]
fn simple_rule_alerts_like_panther() {
    let rule = load_rule(Path::new("simple.yml"), SIMPLE_RULE).expect("simple rule loads");
    let record = serde_json::json!({
        "operationName": "KeyGet", "category": "AuditEvent", "resultType": "Success",
        "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
        "callerIpAddress": "10.0.0.1", "properties": {"id": "https://v.vault.azure.net/keys/k"}
    });
    let fields = record.as_object().expect("object");
    let detection = rule
        .evaluate(&hubwatch::record::Record::new(fields))
        .expect("no rule error")
        .expect("matches");
    assert_eq!(
        detection.title,
        "Azure Key Vault key operation KeyGet on \
         [/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V] by [10.0.0.1]"
    );
    assert_eq!(detection.dedup, detection.title);
    let keys: Vec<&String> = detection.alert_context.keys().collect();
    assert_eq!(
        keys,
        [
            "resource_id",
            "caller_ip",
            "operation_name",
            "correlation_id",
            "key_id",
            "client_info"
        ]
    );
    assert_eq!(
        detection.alert_context["correlation_id"],
        serde_json::Value::Null
    );
    assert_eq!(
        detection.alert_context["key_id"],
        serde_json::json!("https://v.vault.azure.net/keys/k")
    );
    let needles = rule.logic.needles().expect("needles");
    assert!(!needles.is_empty());
}

const BROKEN: &str = "AnalysisType: rule
RuleID: Broken.Rule
Severity: Low
Description: checks operationName with an unknown condition
Detection:
  - Key: category
    Condition: Equals
    Value: AuditEvent
  - Key: operationName
    Condition: IsOneOf
    Values:
      - KeyGet
";

#[test]
fn broken_rule_reports_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.yml");
    std::fs::write(&path, BROKEN).expect("write rule");
    let err = RuleSet::load_dir(dir.path()).expect_err("an unknown condition must not load");
    match &err {
        LoadError::Invalid {
            path: p,
            line,
            message,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 10, "the Condition line");
            assert!(message.contains("IsOneOf"), "{message}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:10:", path.display())),
        "{text}"
    );
    assert!(text.contains("unknown Condition \"IsOneOf\""), "{text}");
}

#[test]
fn missing_values_points_into_the_detection_block() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = BROKEN
        .replace("Condition: IsOneOf", "Condition: IsIn")
        .replace("    Values:\n      - KeyGet\n", "");
    let path = dir.path().join("missing.yml");
    std::fs::write(&path, text).expect("write rule");
    match RuleSet::load_dir(dir.path()) {
        Err(LoadError::Invalid { line, message, .. }) => {
            // The Description mentions operationName too; the error is in Detection.
            assert_eq!(line, 9, "{message}");
            assert!(message.contains("IsIn needs Values"), "{message}");
        }
        other => panic!("unexpected result {other:?}"),
    }
}
