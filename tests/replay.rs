//! `hubwatch replay` and `hubwatch test` end to end: the Key Vault rule's Panther semantics,
//! the alert format field by field, dedup, and every malformed input shape.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RULE_ID: &str = "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered";
const READ: &str = "Microsoft.KeyVault/vaults/keys/read/action";
const RID: &str =
    "/subscriptions/s1/resourceGroups/rg-1/providers/Microsoft.KeyVault/vaults/MyVault/keys/key-1";

fn hubwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hubwatch"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A rules directory holding only the seed rule, so these tests see its alerts alone.
fn seed_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::copy(
        repo().join("rules/azure_keyvault_key_accessed_or_recovered.yml"),
        rules.join("seed.yml"),
    )
    .unwrap();
    rules
}

struct Run {
    alerts: Vec<Value>,
    dead: Vec<Value>,
    stderr: String,
    status: i32,
}

fn replay_bytes(input: &[u8], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let rules = seed_rules(dir.path());
    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, input).unwrap();
    let dl = dir.path().join("dl.jsonl");
    let out = hubwatch()
        .arg("replay")
        .arg("--rules")
        .arg(&rules)
        .arg("--dead-letter")
        .arg(&dl)
        .args(extra)
        .arg(&file)
        .output()
        .unwrap();
    let dead = std::fs::read_to_string(&dl)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    parse(out, dead)
}

fn parse(out: Output, dead: Vec<Value>) -> Run {
    let stdout = String::from_utf8(out.stdout).unwrap();
    Run {
        alerts: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        dead,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: out.status.code().unwrap_or(-1),
    }
}

fn replay(bodies: &[Value], extra: &[&str]) -> Run {
    let mut input = Vec::new();
    for b in bodies {
        input.extend_from_slice(b.to_string().as_bytes());
        input.push(b'\n');
    }
    replay_bytes(&input, extra)
}

fn record(op: &str, result: &str) -> Value {
    json!({
        "time": "2025-12-23T10:30:00.0000000Z",
        "resourceId": RID,
        "operationName": op,
        "resultType": result,
        "callerIpAddress": "1.1.1.1",
        "correlationId": "c-1",
        "location": "eastus",
    })
}

/// Replays one record (per-record alerts) and returns its alert, if any.
fn one(rec: Value) -> Option<Value> {
    let run = replay(&[json!({ "records": [rec] })], &["--no-dedup"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.alerts.len() <= 1);
    run.alerts.into_iter().next()
}

#[test]
fn operation_is_upper_cased_and_result_type_is_exact() {
    for op in [
        READ,
        "MICROSOFT.KEYVAULT/VAULTS/KEYS/READ/ACTION",
        "microsoft.keyvault/vaults/keys/restore/action",
        "Microsoft.KeyVault/vaults/keys/RECOVER/action",
    ] {
        assert!(one(record(op, "Success")).is_some(), "{op}");
        assert!(one(record(op, "Succeeded")).is_some(), "{op}");
    }
    for rt in ["success", "SUCCEEDED", "Succeeded ", "Failure", "Start", ""] {
        assert!(one(record(READ, rt)).is_none(), "resultType {rt:?}");
    }
    for op in [
        " Microsoft.KeyVault/vaults/keys/read/action",
        "Microsoft.KeyVault/vaults/keys/read/action ",
        "Microsoft.KeyVault/vaults/keys/write",
        "Microsoft.KeyVault/vaults/keys/read",
        "Microsoft.KeyVault/vaults/secrets/read/action",
    ] {
        assert!(one(record(op, "Success")).is_none(), "{op:?}");
    }
}

#[test]
fn field_names_are_case_insensitive() {
    let rec = json!({
        "OPERATIONNAME": READ,
        "resulttype": "Success",
        "ResourceID": RID,
        "CallerIPAddress": "9.9.9.9",
        "CORRELATIONID": "c-9",
        "TIME": "2025-12-23T10:30:00Z",
    });
    let a = one(rec).expect("alert");
    assert_eq!(
        a["title"],
        "Azure Key Vault key read from [MyVault] by [9.9.9.9]"
    );
    assert_eq!(a["resourceId"], RID);
    assert_eq!(a["callerIpAddress"], "9.9.9.9");
    assert_eq!(a["correlationId"], "c-9");
    assert_eq!(a["event_time"], "2025-12-23T10:30:00Z");
    assert_eq!(a["alert_context"]["operation_name"], READ);
}

#[test]
fn json_escapes_match_like_plain_text() {
    // \/ and \u escapes spell the same strings; the prefilter must not skip them.
    let bodies = [
        r#"{"records":[{"operationName":"Microsoft.KeyVault\/vaults\/keys\/read\/action","resultType":"Success"}]}"#,
        r#"{"records":[{"operationName":"Microsoft.KeyVault/vaults/\u006beys/read/action","resultType":"Success"}]}"#,
        r#"{"records":[{"operationName":"Microsoft.KeyVault/vaults/keys/read/action","resultType":"\u0053uccess"}]}"#,
        r#"{"records":[{"operation\u004eame":"Microsoft.KeyVault/vaults/keys/read/action","resultType":"Success"}]}"#,
        // Python upper-cases the long s to S: "microſoft" matches.
        r#"{"records":[{"operationName":"micro\u017foft.keyvault/vaults/keys/read/action","resultType":"Success"}]}"#,
        "{\"records\":[{\"operationName\":\"micro\u{17f}oft.keyvault/vaults/keys/read/action\",\"resultType\":\"Success\"}]}",
    ];
    let run = replay_bytes(
        format!("{}\n", bodies.join("\n")).as_bytes(),
        &["--no-dedup"],
    );
    assert_eq!(run.alerts.len(), bodies.len(), "{}", run.stderr);
}

#[test]
fn defaults_apply_only_to_missing_keys() {
    let mut rec = record(READ, "Success");
    let obj = rec.as_object_mut().unwrap();
    obj.remove("callerIpAddress");
    obj.remove("correlationId");
    obj.remove("location");
    let a = one(rec).expect("alert");
    assert_eq!(
        a["title"],
        "Azure Key Vault key read from [MyVault] by [<UNKNOWN_CALLER>]"
    );
    assert_eq!(a["alert_context"]["caller_ip"], "<UNKNOWN_CALLER_IP>");
    assert_eq!(
        a["alert_context"]["correlation_id"],
        "<UNKNOWN_CORRELATION_ID>"
    );
    assert_eq!(a["alert_context"]["location"], "<UNKNOWN_LOCATION>");
    assert_eq!(a["alert_context"]["tenant_id"], "<UNKNOWN_TENANT_ID>");
    assert_eq!(a["callerIpAddress"], Value::Null);
    assert_eq!(a["correlationId"], Value::Null);

    // A present null is a value: Python renders None, the context keeps null.
    let mut rec = record(READ, "Success");
    rec["callerIpAddress"] = Value::Null;
    rec["correlationId"] = Value::Null;
    let a = one(rec).expect("alert");
    assert_eq!(
        a["title"],
        "Azure Key Vault key read from [MyVault] by [None]"
    );
    assert_eq!(a["alert_context"]["caller_ip"], Value::Null);
    assert_eq!(a["alert_context"]["correlation_id"], Value::Null);

    // Other types render as Python's str() would; a list reached through the event is
    // Panther's ImmutableList wrapper (panther_core's own output for this record).
    let mut rec = record(READ, "Success");
    rec["callerIpAddress"] = json!(["1.1.1.1", 2]);
    assert_eq!(
        one(rec).expect("alert")["title"],
        "Azure Key Vault key read from [MyVault] by [ImmutableList(('1.1.1.1', 2))]"
    );
}

#[test]
fn rule_errors_raise_no_alert_and_are_dead_lettered() {
    // Records the prefilter cannot rule out (they mention keys/re...), so every rule runs on them.
    let mut null_op = record(READ, "Success");
    null_op["resourceId"] = json!("/subscriptions/s/vaults/v/keys/restore-me");
    null_op["operationName"] = Value::Null;
    let mut num_op = record(READ, "Success");
    num_op["operationName"] = json!(5);
    num_op["resourceId"] = json!("/subscriptions/s/vaults/v/keys/restore-me");
    let mut num_rid = record(READ, "Success");
    num_rid["resourceId"] = json!(12);
    let good = record(READ, "Success");
    let run = replay(
        &[json!({ "records": [null_op, num_op, num_rid, good] })],
        &["--no-dedup"],
    );
    assert_eq!(run.status, 0);
    // A resourceId that cannot be split raises in title() and alert_context(), not in rule():
    // Panther still alerts, with the rule id as title and the exception as context (these
    // are panther_core's outputs for this record).
    assert_eq!(
        run.alerts.len(),
        2,
        "the good record and the unsplittable resourceId"
    );
    assert_eq!(run.alerts[0]["source"]["record_index"], 2);
    assert_eq!(run.alerts[0]["title"], RULE_ID);
    assert_eq!(
        run.alerts[0]["alert_context"],
        json!({"_error": "AttributeError(\"'int' object has no attribute 'split'\")"})
    );
    assert_eq!(run.alerts[1]["source"]["record_index"], 3);
    let reasons: Vec<&str> = run
        .dead
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(run.dead.len(), 2, "{reasons:?}");
    assert!(run
        .dead
        .iter()
        .all(|d| d["kind"] == "rule_error" && d["rule_id"] == RULE_ID));
    assert!(
        reasons[0].contains("'NoneType' object has no attribute 'upper'"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("'int' object has no attribute 'upper'"));
    assert!(run.stderr.contains("rules=2"), "{}", run.stderr);
}

#[test]
fn titles_for_each_action_and_vault_extraction() {
    let cases = [
        (READ, RID, "Azure Key Vault key read from [MyVault] by [1.1.1.1]"),
        (
            "Microsoft.KeyVault/vaults/keys/restore/action",
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/UPPERVAULT/KEYS/K",
            "Azure Key Vault key restored from [UPPERVAULT] by [1.1.1.1]",
        ),
        (
            "Microsoft.KeyVault/vaults/keys/recover/action",
            "/subscriptions/s/providers/x/noVaultHere",
            "Azure Key Vault key recovered from [] by [1.1.1.1]",
        ),
        // The first "vaults" with a following segment wins; a trailing one does not count.
        (READ, "/a/Vaults/first/vaults/second", "Azure Key Vault key read from [first] by [1.1.1.1]"),
        (READ, "/a/b/vaults", "Azure Key Vault key read from [] by [1.1.1.1]"),
    ];
    for (op, rid, title) in cases {
        let mut rec = record(op, "Success");
        rec["resourceId"] = json!(rid);
        let a = one(rec).expect("alert");
        assert_eq!(a["title"], title);
        assert_eq!(a["dedup"], title);
    }
    // A missing resource id: no vault, and the context's placeholder.
    let mut rec = record(READ, "Success");
    rec.as_object_mut().unwrap().remove("resourceId");
    let a = one(rec).expect("alert");
    assert_eq!(a["title"], "Azure Key Vault key read from [] by [1.1.1.1]");
    assert_eq!(a["alert_context"]["resource_id"], "<UNKNOWN_RESOURCE_ID>");
    assert!(a["alert_context"].get("keyvault_name").is_none());
    assert_eq!(a["resourceId"], Value::Null);
}

#[test]
fn alert_context_keys_in_panther_order() {
    let mut rec = record(READ, "Success");
    rec["resourceId"] =
        json!("/subscriptions/s/resourceGroups/rg-9/providers/Microsoft.Storage/storageAccounts/acct1/x/vaults/v1/keys/k1");
    rec["tenantId"] = json!("t-1");
    rec["properties"] = json!({"statusCode": "OK"});
    let a = one(rec).expect("alert");
    let keys: Vec<&String> = a["alert_context"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "resource_id",
            "caller_ip",
            "operation_name",
            "result_type",
            "correlation_id",
            "location",
            "tenant_id",
            "storage_account_name",
            "resource_group",
            "properties",
            "keyvault_name",
            "key_name"
        ]
    );
    let ctx = &a["alert_context"];
    assert_eq!(ctx["storage_account_name"], "acct1");
    assert_eq!(ctx["resource_group"], "rg-9");
    assert_eq!(ctx["properties"], json!({"statusCode": "OK"}));
    assert_eq!(ctx["keyvault_name"], "v1");
    assert_eq!(ctx["key_name"], "k1");
    assert_eq!(ctx["tenant_id"], "t-1");

    // Falsy properties and empty segments are left out.
    let mut rec = record(READ, "Success");
    rec["properties"] = json!({});
    rec["resourceId"] = json!("/subscriptions/s/resourceGroups//providers/p/vaults/v/keys/");
    let ctx = one(rec).expect("alert")["alert_context"].clone();
    for absent in [
        "properties",
        "resource_group",
        "key_name",
        "storage_account_name",
    ] {
        assert!(
            ctx.get(absent).is_none(),
            "{absent} should be absent: {ctx}"
        );
    }
    assert_eq!(ctx["keyvault_name"], "v");
}

#[test]
fn alert_format_field_by_field() {
    let raw = r#"{"time":"2025-12-23T10:30:00.0000000Z","resourceId":"/subscriptions/s1/resourceGroups/rg-1/providers/Microsoft.KeyVault/vaults/MyVault/keys/key-1","operationName":"Microsoft.KeyVault/vaults/keys/read/action","resultType":"Success","callerIpAddress":"1.1.1.1",  "correlationId":"c-1"}"#;
    let run = replay_bytes(format!("{{\"records\":[{raw}]}}\n").as_bytes(), &[]);
    assert_eq!(run.alerts.len(), 1);
    let a = &run.alerts[0];
    assert_eq!(a["rule_id"], RULE_ID);
    assert_eq!(a["severity"], "MEDIUM");
    assert_eq!(
        a["title"],
        "Azure Key Vault key read from [MyVault] by [1.1.1.1]"
    );
    assert_eq!(a["dedup"], a["title"]);
    assert_eq!(a["resourceId"], RID);
    assert_eq!(a["callerIpAddress"], "1.1.1.1");
    assert_eq!(a["correlationId"], "c-1");
    assert_eq!(a["event_time"], "2025-12-23T10:30:00.0000000Z");
    assert_eq!(a["window_start"], "2025-12-23T10:00:00Z");
    assert!(a["detected_at"].as_str().unwrap().ends_with('Z'));
    assert!(a["description"]
        .as_str()
        .unwrap()
        .starts_with("Detects when Azure Key Vault"));
    assert!(a["runbook"]
        .as_str()
        .unwrap()
        .starts_with("1. Find all Key Vault key"));
    assert_eq!(
        a["reference"],
        "https://microsoft.github.io/Azure-Threat-Research-Matrix/CredentialAccess/AZT604/AZT604-3"
    );
    assert_eq!(
        a["mitre"],
        json!([{"tactic": "TA0006", "technique": "T1555"}, {"tactic": "TA0007", "technique": "T1087.004"}])
    );
    assert_eq!(a["tags"][0], "AZT604");
    assert_eq!(a["tags"].as_array().unwrap().len(), 9);
    assert_eq!(
        a["summary"],
        json!({"resourceId": RID, "callerIpAddress": "1.1.1.1", "correlationId": "c-1"})
    );
    assert_eq!(a["source"]["kind"], "file");
    assert_eq!(a["source"]["line"], 1);
    assert_eq!(a["source"]["record_index"], 0);
    assert_eq!(a["alert_id"].as_str().unwrap().len(), 32);
    // The record exactly as received, spacing included.
    let stdout_line = serde_json::to_string(&a["event"]).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stdout_line).unwrap(),
        serde_json::from_str::<Value>(raw).unwrap()
    );

    // Deterministic id: a second run computes the same.
    let again = replay_bytes(format!("{{\"records\":[{raw}]}}\n").as_bytes(), &[]);
    assert_eq!(again.alerts[0]["alert_id"], a["alert_id"]);
    assert_ne!(again.alerts[0]["detected_at"], Value::Null);
}

#[test]
fn alerts_say_who_outside_the_alert_context() {
    // Identity from Microsoft Learn, "Azure Activity Log event schema", section "Schema from
    // storage account and event hubs" (sample record, claims trimmed).
    let mut rec = record(READ, "Success");
    rec["identity"] = json!({
        "authorization": {"evidence": {
            "role": "Azure Eventhubs Service Role",
            "principalId": "abcdef038c6444c18f1c31311fabcdef",
            "principalType": "ServicePrincipal"
        }},
        "claims": {
            "http://schemas.microsoft.com/identity/claims/tenantid": "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "123abc45-8211-44e3-95xq-85137af64708",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "admin@contoso.com",
            "name": "John Smith",
            "appid": "11112222-bbbb-3333-cccc-4444dddd5555"
        }
    });
    let plain = one(record(READ, "Success")).expect("alert");
    let a = one(rec).expect("alert");
    assert_eq!(
        a["actor"],
        json!({
            "caller": "admin@contoso.com",
            "upn": "admin@contoso.com",
            "name": "John Smith",
            "appid": "11112222-bbbb-3333-cccc-4444dddd5555",
            "object_id": "123abc45-8211-44e3-95xq-85137af64708",
            "principal_id": "abcdef038c6444c18f1c31311fabcdef",
            "principal_type": "ServicePrincipal",
            "role": "Azure Eventhubs Service Role",
            "tenant_id": "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0",
            "subscription_id": "s1"
        })
    );
    // The sample's object id is not a GUID ("95xq"), so the Account has no AadUserId.
    assert_eq!(
        a["entities"],
        json!([
            {"Type": "account", "Name": "admin", "UPNSuffix": "contoso.com",
             "AadTenantId": "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0"},
            {"Type": "ip", "Address": "1.1.1.1"},
            {"Type": "azure-resource", "ResourceId": RID, "SubscriptionId": "s1"},
            {"Type": "cloud-application", "Name": "11112222-bbbb-3333-cccc-4444dddd5555"}
        ])
    );
    // Panther's context is the same with or without an identity.
    assert_eq!(a["alert_context"], plain["alert_context"]);
    assert_eq!(plain["actor"], json!({"subscription_id": "s1"}));
    let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert_eq!(at("actor"), at("correlationId") + 1);
    assert_eq!(at("entities"), at("actor") + 1);
}

#[test]
fn event_is_byte_exact() {
    let raw = r#"{"operationName" : "Microsoft.KeyVault\/vaults\/keys\/read\/action", "resultType":"Success","n":1.50}"#;
    let dir = tempfile::tempdir().unwrap();
    let rules = seed_rules(dir.path());
    let mut child = hubwatch()
        .args(["replay", "--rules"])
        .arg(&rules)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("[{raw}]\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&format!("\"event\":{raw}")), "{stdout}");
}

#[test]
fn dedup_windows_and_threshold() {
    let mut r1 = record(READ, "Success");
    r1["time"] = json!("2025-12-23T10:05:00Z");
    let mut r2 = r1.clone();
    r2["time"] = json!("2025-12-23T10:55:00Z");
    let mut r3 = r1.clone();
    r3["time"] = json!("2025-12-23T11:00:00Z");
    let mut other_caller = r1.clone();
    other_caller["callerIpAddress"] = json!("2.2.2.2");
    let bodies = [
        json!({"records": [r1.clone(), r2.clone()]}),
        json!([r3.clone(), other_caller.clone()]),
    ];
    let run = replay(&bodies, &[]);
    assert_eq!(run.alerts.len(), 3, "10:05 and 10:55 share a window");
    assert_eq!(run.alerts[0]["window_start"], "2025-12-23T10:00:00Z");
    assert_eq!(run.alerts[1]["window_start"], "2025-12-23T11:00:00Z");
    assert!(run.stderr.contains("matches=4 alerts=3"), "{}", run.stderr);
    let ids: std::collections::HashSet<_> =
        run.alerts.iter().map(|a| a["alert_id"].clone()).collect();
    assert_eq!(ids.len(), 3);

    let per_record = replay(&bodies, &["--no-dedup"]);
    assert_eq!(per_record.alerts.len(), 4);
    let ids: std::collections::HashSet<_> = per_record
        .alerts
        .iter()
        .map(|a| a["alert_id"].clone())
        .collect();
    assert_eq!(ids.len(), 4, "per-record alerts have distinct ids");

    // Threshold 3 in a 10-minute window.
    let dir = tempfile::tempdir().unwrap();
    let rules = seed_rules(dir.path());
    let text = std::fs::read_to_string(rules.join("seed.yml")).unwrap();
    std::fs::write(
        rules.join("seed.yml"),
        text.replace(
            "SummaryAttributes:",
            "Threshold: 3\nDedupPeriodMinutes: 10\nSummaryAttributes:",
        ),
    )
    .unwrap();
    let mut lines = String::new();
    for minute in ["10:01", "10:02", "10:03", "10:04", "10:11"] {
        let mut r = r1.clone();
        r["time"] = json!(format!("2025-12-23T{minute}:00Z"));
        lines.push_str(&json!({"records": [r]}).to_string());
        lines.push('\n');
    }
    let file = dir.path().join("t.jsonl");
    std::fs::write(&file, lines).unwrap();
    let out = hubwatch()
        .arg("replay")
        .arg("--rules")
        .arg(&rules)
        .arg(&file)
        .output()
        .unwrap();
    let run = parse(out, vec![]);
    assert_eq!(
        run.alerts.len(),
        1,
        "only the third record in 10:00-10:10 reaches the threshold"
    );
    assert_eq!(run.alerts[0]["event_time"], "2025-12-23T10:03:00Z");
    assert_eq!(run.alerts[0]["window_start"], "2025-12-23T10:00:00Z");
}

#[test]
fn malformed_input_is_dead_lettered_and_the_rest_goes_on() {
    let good = record(READ, "Success").to_string();
    let mut input = Vec::new();
    let mut line = |b: &[u8]| {
        input.extend_from_slice(b);
        input.push(b'\n');
    };
    line(b"not json at all");
    line(b"");
    line(br#"{"records": "nope"}"#);
    line(b"42");
    line(format!("{{\"records\":[{good}, 7, \"str\", null]}}").as_bytes());
    let mut bad_utf8 = format!("{{\"records\":[{good},{{\"a\":\"").into_bytes();
    bad_utf8.extend_from_slice(b"\xff\xfe\"}]}");
    line(&bad_utf8);
    line(
        format!(
            "{{\"records\":[{good},{}{}]}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        )
        .as_bytes(),
    );
    let deep_object = format!(
        "{{\"operationName\":\"{READ}\",\"resultType\":\"Success\",\"x\":{}1{}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    line(format!("{{\"records\":[{good},{deep_object}]}}").as_bytes());
    line(
        format!(
            "{{\"records\":[{good}], \"pad\": \"{}\"}}",
            "x".repeat(30_000)
        )
        .as_bytes(),
    );
    line(format!("[{good}]").as_bytes());
    let run = replay_bytes(&input, &["--no-dedup", "--max-body-bytes", "25000"]);
    assert_eq!(
        run.status, 0,
        "malformed lines never change the exit status"
    );
    // Good records on lines 5, 6, 7, 8 and 10 alert; line 9 is over the size limit.
    let lines: Vec<u64> = run
        .alerts
        .iter()
        .map(|a| a["source"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [5, 6, 7, 8, 10], "{}", run.stderr);
    let kinds: Vec<(u64, &str, &str)> = run
        .dead
        .iter()
        .map(|d| {
            (
                d["source"]["line"].as_u64().unwrap(),
                d["kind"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let expect = [
        (1, "body", "not valid JSON"),
        (2, "body", "empty body"),
        (3, "body", "\"records\" is a JSON string, not an array"),
        (4, "body", "is a JSON number, not an object or an array"),
        (5, "record", "record 1 is a JSON number, not an object"),
        (5, "record", "record 2 is a JSON string"),
        (5, "record", "record 3 is a JSON null"),
        (6, "record", "not valid UTF-8"),
        (7, "record", "record 1 is a JSON array, not an object"),
        (8, "record", "recursion limit"),
        (9, "body", "exceeds the limit of 25000 bytes"),
    ];
    assert_eq!(kinds.len(), expect.len(), "{kinds:#?}");
    for (got, want) in kinds.iter().zip(expect.iter()) {
        assert_eq!(got.0, want.0);
        assert_eq!(got.1, want.1, "{got:?}");
        assert!(
            got.2.contains(want.2),
            "{got:?} should mention {:?}",
            want.2
        );
    }
    // Invalid UTF-8 is kept as base64, everything else as text.
    assert!(run.dead[7]["body_base64"].is_string());
    assert!(run.dead[0]["body"] == "not json at all");
    assert!(run.stderr.contains("bodies=10"), "{}", run.stderr);
    // Logged once each, with a bounded excerpt.
    assert!(run.stderr.contains("bad input dead-lettered"));
    assert!(
        run.stderr.lines().all(|l| l.len() < 2000),
        "log lines stay bounded"
    );
}

#[test]
fn unreadable_files_and_bad_rules_change_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let rules = seed_rules(dir.path());
    let out = hubwatch()
        .arg("replay")
        .arg("--rules")
        .arg(&rules)
        .arg(dir.path().join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jsonl"));

    std::fs::write(
        rules.join("broken.yml"),
        "AnalysisType: rule\nRuleID: x\nSeverity: [oops\n",
    )
    .unwrap();
    let out = hubwatch()
        .arg("replay")
        .arg("--rules")
        .arg(&rules)
        .arg("-")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.yml"));
}

#[test]
fn test_command_runs_rule_tests() {
    let dir = tempfile::tempdir().unwrap();
    let rules = seed_rules(dir.path());
    let out = hubwatch()
        .arg("test")
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "4 passed, 0 failed"),
        "{stdout}"
    );

    // A wrong expectation fails with the rule and test named.
    let text = std::fs::read_to_string(rules.join("seed.yml")).unwrap();
    let broken = text.replacen("ExpectedResult: false", "ExpectedResult: true", 1);
    std::fs::write(rules.join("seed.yml"), broken).unwrap();
    let out = hubwatch()
        .arg("test")
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains(RULE_ID) && stdout.contains("Different Operation"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l == "3 passed, 1 failed"),
        "{stdout}"
    );

    // Unknown built-in: named file and line.
    std::fs::write(
        rules.join("seed.yml"),
        text.replace(
            "Filename: azure_keyvault_key_accessed_or_recovered.py",
            "Filename: nope.py",
        ),
    )
    .unwrap();
    let out = hubwatch()
        .arg("test")
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("seed.yml:2:") && stderr.contains("nope.py"),
        "{stderr}"
    );
}

/// Bodies evaluated on several threads come out as with one: the same alerts (ids, dedup
/// windows) and dead letters, in input order.
#[test]
fn parallel_jobs_keep_input_order_and_dedup() {
    let mut input = Vec::new();
    for i in 0..6000u32 {
        if i % 97 == 0 {
            input.extend_from_slice(b"{not json\n");
            continue;
        }
        let mut r = record(READ, if i % 5 == 0 { "Failure" } else { "Success" });
        r["time"] = json!(format!("2025-12-23T{:02}:{:02}:00Z", (i / 60) % 24, i % 60));
        r["callerIpAddress"] = json!(format!("10.0.{}.{}", i % 7, i % 3));
        let filler = "x".repeat((i % 13) as usize * 40);
        let body = json!({"records": [r, {"operationName": "other", "note": filler}]});
        input.extend_from_slice(body.to_string().as_bytes());
        input.push(b'\n');
    }
    assert!(input.len() > 2 << 20, "several batches");
    let strip = |mut run: Run| {
        // The input's temporary path differs between the runs, and the detection time.
        for a in &mut run.alerts {
            a.as_object_mut().unwrap().remove("detected_at");
            a["source"].as_object_mut().unwrap().remove("path");
        }
        for d in &mut run.dead {
            d.as_object_mut().unwrap().remove("time");
            d["source"].as_object_mut().unwrap().remove("path");
        }
        run
    };
    let one = strip(replay_bytes(&input, &["-j", "1"]));
    let three = strip(replay_bytes(&input, &["-j", "3"]));
    assert_eq!(one.status, 0, "{}", one.stderr);
    assert!(one.alerts.len() > 100, "{}", one.alerts.len());
    assert_eq!(one.dead.len(), 62);
    assert_eq!(one.alerts.len(), three.alerts.len());
    for (i, (a, b)) in one.alerts.iter().zip(&three.alerts).enumerate() {
        assert!(a == b, "alert {i} differs:\n{a}\n{b}");
    }
    assert!(one.dead == three.dead, "dead letters differ");
    let summary = |r: &Run| r.stderr.lines().last().map(str::to_string);
    assert_eq!(summary(&one), summary(&three));
}
