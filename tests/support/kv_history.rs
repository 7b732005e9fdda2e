//! Test helper: a scripted Key Vault history (AuditEvent bodies around two KeyGet alerts) and
//! the `runbook_answers` it must produce, shared by the replay and service tests.
#![allow(dead_code)]

use serde_json::{json, Value};

pub const T0: &str = "2026-01-10T00:00:00Z";

/// `T0` plus `minutes` (may be negative), RFC 3339.
pub fn at(minutes: i64) -> String {
    let t0 =
        time::OffsetDateTime::parse(T0, &time::format_description::well_known::Rfc3339).unwrap();
    (t0 + time::Duration::minutes(minutes))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// One Key Vault AuditEvent record.
pub fn audit(
    minutes: i64,
    op: &str,
    vault: &str,
    object: &str,
    oid: &str,
    ip: &str,
    status: u16,
) -> Value {
    let collection = if op.starts_with("Key") {
        "keys"
    } else if op.starts_with("Secret") {
        "secrets"
    } else {
        "certificates"
    };
    json!({
        "time": at(minutes), "category": "AuditEvent", "operationName": op,
        "resultType": "Success", "resultSignature": if status == 200 { "OK" } else { "Forbidden" },
        "resourceId": format!("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{}", vault.to_uppercase()),
        "callerIpAddress": ip, "correlationId": format!("{op}-{minutes}-{oid}"),
        "identity": {"claim": {"oid": oid, "upn": format!("{oid}@contoso.com")}},
        "properties": {"id": format!("https://{vault}.vault.azure.net/{collection}/{object}/v1"), "httpStatusCode": status}
    })
}

pub fn body(records: &[Value]) -> String {
    json!({"records": records}).to_string()
}

pub const IP: &str = "203.0.113.5";

/// The history before the alerts, then the alerts, then records after them.
pub fn history() -> Vec<String> {
    vec![
        // 40 days before: outside the 30-day history.
        body(&[audit(
            -40 * 1440,
            "KeySign",
            "kv3",
            "old",
            "oid-a",
            "192.0.2.1",
            200,
        )]),
        // 2 hours before T0: outside the 6-hour IP window of the alert at T0+5h.
        body(&[audit(-120, "SecretGet", "kv9", "early", "oid-z", IP, 200)]),
        body(&[
            audit(0, "KeySign", "kv1", "pay", "oid-a", IP, 200),
            audit(60, "KeyDecrypt", "kv1", "pay", "oid-b", "198.51.100.9", 200),
            audit(61, "KeyDecrypt", "kv1", "pay", "oid-b", "198.51.100.9", 200),
        ]),
        body(&[audit(120, "SecretGet", "kv1", "db", "oid-a", IP, 403)]),
        // The alerts: a new identity reads the key from the same IP, then a known one.
        body(&[audit(300, "KeyGet", "kv1", "pay", "oid-c", IP, 200)]),
        body(&[audit(330, "KeyGet", "kv1", "pay", "oid-a", IP, 200)]),
        // After the alerts: never part of their answers, even when already stored.
        body(&[audit(331, "KeySign", "kv1", "pay", "oid-d", IP, 200)]),
    ]
}

/// The alert of `oid`'s KeyGet.
pub fn key_get<'a>(alerts: &'a [Value], oid: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| {
            a["rule_id"] == "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered"
                && a["actor"]["object_id"] == oid
        })
        .unwrap_or_else(|| panic!("no KeyGet alert for {oid}: {alerts:#?}"))
}

pub fn check_answers(alerts: &[Value], store: &str) {
    let new = &key_get(alerts, "oid-c")["runbook_answers"];
    assert_eq!(new["status"], "ok", "{new:#}");
    assert_eq!(new["store"], store);
    assert_eq!(new["as_of"], at(300));
    let ip = &new["caller_ip_keyvault_operations"];
    assert_eq!(ip["caller_ip"], IP);
    assert_eq!(ip["count"], 2, "{ip:#}");
    assert_eq!(ip["by_operation"], json!({"KeySign": 1, "SecretGet": 1}));
    assert_eq!(ip["by_vault"], json!({"kv1": 2}));
    assert_eq!(ip["newest"][0]["operation"], "SecretGet");
    assert_eq!(ip["newest"][0]["outcome"], "failure");
    assert_eq!(ip["newest"][1]["time"], at(0));
    assert_eq!(ip["window"]["from"], at(-60));
    let key = &new["key_usage"];
    assert_eq!(
        (key["vault"].as_str(), key["key"].as_str()),
        (Some("kv1"), Some("pay"))
    );
    assert_eq!(
        key["identities"],
        json!([
            {"identity": "oid-a", "identity_name": "oid-a@contoso.com", "count": 1, "last_seen": at(0)},
            {"identity": "oid-b", "identity_name": "oid-b@contoso.com", "count": 2, "last_seen": at(61)}
        ])
    );
    let h = &new["identity_history"];
    assert_eq!(
        (h["count"].as_u64(), &h["first_seen"], &h["new_for_vault"]),
        (Some(0), &Value::Null, &json!(true))
    );

    let known = &key_get(alerts, "oid-a")["runbook_answers"];
    let h = &known["identity_history"];
    // KeySign at T0 and SecretGet at T0+2h; the KeySign 40 days before is outside the window.
    assert_eq!(h["count"], 2, "{h:#}");
    assert_eq!(h["first_seen"], at(0));
    assert_eq!(h["vaults"], json!(["kv1"]));
    assert_eq!(h["new_for_vault"], false);
    assert_eq!(h["last_seen_on_vault"], at(120));
    // The new identity's KeyGet 30 minutes earlier is now in the IP's operations.
    let ip = &known["caller_ip_keyvault_operations"];
    assert_eq!(ip["count"], 3, "{ip:#}");
    assert_eq!(ip["newest"][0]["identity"], "oid-c");
    // Alerts of other rules carry no answers.
    for a in alerts {
        if !a["rule_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("Azure.KeyVault.AuditEvent")
        {
            assert!(a.get("runbook_answers").is_none());
        }
    }
}

pub fn answers(alerts: &[Value]) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = alerts
        .iter()
        .map(|a| {
            (
                a["alert_id"].as_str().unwrap_or("").to_string(),
                a["runbook_answers"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// What follows [`history`]: the caller IP again 8 hours after T0, then another caller 12 hours
/// after, which moves the stream's event time past both alerts' follow-ups (T0+11h, T0+11h30).
pub fn later() -> Vec<String> {
    vec![
        body(&[audit(480, "SecretGet", "kv2", "db", "oid-e", IP, 200)]),
        body(&[audit(
            720,
            "VaultGet",
            "kv2",
            "",
            "oid-f",
            "192.0.2.77",
            200,
        )]),
    ]
}

/// The two `alert_update` messages the follow-ups of [`history`] produce once [`later`] is read.
pub fn check_updates(alerts: &[Value]) {
    let updates = keyget_updates(alerts);
    assert_eq!(updates.len(), 2, "{updates:#?}");
    for (oid, count) in [("oid-c", 3), ("oid-a", 2)] {
        let original = alerts.iter().find(|a| {
            a.get("kind").is_none()
                && a["actor"]["object_id"] == oid
                && a["rule_id"] == "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered"
        });
        let update = updates
            .iter()
            .find(|a| a["actor"]["object_id"] == oid)
            .expect("update");
        if let Some(original) = original {
            assert_eq!(update["alert_id"], original["alert_id"]);
        }
        let after = &update["runbook_answers"]["caller_ip_keyvault_operations_after"];
        assert_eq!(after["count"], count, "{oid}: {after:#}");
        assert_eq!(after["newest"][0]["identity"], "oid-e");
        assert_eq!(
            update["runbook_answers"]["caller_ip_keyvault_operations"]["after"]["status"],
            "sent"
        );
    }
}

/// The `alert_update` messages of the KeyGet alerts (the SecretGet alert two hours before T0
/// has its own, sent once the stream passes T0+4h).
pub fn keyget_updates(alerts: &[Value]) -> Vec<&Value> {
    alerts
        .iter()
        .filter(|a| {
            a["kind"] == "alert_update"
                && a["rule_id"] == "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered"
        })
        .collect()
}
