//! The data-plane rules on real `AuditEvent` shapes: what fires, titles, dedup strings, alert
//! context, needles, and the shipped rule files through the whole detector.

use super::audit::{Family, OPERATIONS};
use super::tests::{fires, key_get, obj, props, with};
use super::{DataPlaneAccess, DataPlaneDenied};
use crate::record::Record;
use crate::rules::Logic;
use serde_json::{json, Map, Value};

#[test]
fn access_rule_fires_on_2xx_only() {
    let key = DataPlaneAccess::new(Family::Key);
    assert!(fires(&key, &key_get(json!(200), "OK")));
    for (status, signature) in [
        (403, "Forbidden"),
        (404, "Not Found"),
        (401, "Unauthorized"),
        (429, "Too Many Requests"),
        (500, "Internal Server Error"),
    ] {
        assert!(!fires(&key, &key_get(json!(status), signature)), "{status}");
    }
    // The record of issue 12: resultType Success, answered 403.
    let issue = json!({"category":"AuditEvent","operationName":"KeyGet","resultType":"Success","resultSignature":"Forbidden","callerIpAddress":"203.0.113.5","properties":{"httpStatusCode":403},"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV"});
    assert!(!fires(&key, &issue));
    // No status at all: resultType alone proves nothing.
    let unknown = with(
        props(key_get(json!(0), "x"), |p| drop(p.remove("httpStatusCode"))),
        |m| drop(m.remove("resultSignature")),
    );
    assert!(!fires(&key, &unknown));
    // Operation names ignore ASCII case only; category must be AuditEvent.
    assert!(fires(
        &key,
        &with(key_get(json!(200), "OK"), |m| drop(
            m.insert("operationName".into(), json!("KEYGET"))
        ))
    ));
    assert!(!fires(
        &key,
        &with(key_get(json!(200), "OK"), |m| drop(
            m.insert("operationName".into(), json!("\u{212A}eyGet"))
        ))
    ));
    assert!(!fires(
        &key,
        &with(key_get(json!(200), "OK"), |m| drop(
            m.insert("operationName".into(), json!("KeyGet "))
        ))
    ));
    assert!(!fires(
        &key,
        &with(key_get(json!(200), "OK"), |m| drop(
            m.insert("operationName".into(), json!("KeyBackup"))
        ))
    ));
    assert!(!fires(
        &key,
        &with(key_get(json!(200), "OK"), |m| drop(
            m.insert("category".into(), json!("Administrative"))
        ))
    ));
    assert!(!fires(
        &key,
        &with(key_get(json!(200), "OK"), |m| drop(m.remove("category")))
    ));
    // Other families are other rules' business.
    let secret_get = with(key_get(json!(200), "OK"), |m| {
        drop(m.insert("operationName".into(), json!("SecretGet")))
    });
    assert!(!fires(&key, &secret_get));
    assert!(fires(&DataPlaneAccess::new(Family::Secret), &secret_get));
    assert!(!fires(
        &DataPlaneAccess::new(Family::Certificate),
        &secret_get
    ));
    // Upper-cased field names, the first spelling winning.
    let upper = json!({"CATEGORY": "AuditEvent", "OPERATIONNAME": "KeyGet", "PROPERTIES": {"HTTPSTATUSCODE": 200}, "Properties": {"httpStatusCode": 403}});
    assert!(fires(&key, &upper));
    let upper = json!({"CATEGORY": "AuditEvent", "OPERATIONNAME": "KeyGet", "Properties": {"httpStatusCode": 403}, "PROPERTIES": {"HTTPSTATUSCODE": 200}});
    assert!(!fires(&key, &upper));
    // Non-object records are never given to rules; odd field types match nothing.
    for odd in [
        json!(null),
        json!(5),
        json!(["KeyGet"]),
        json!({"name": "KeyGet"}),
    ] {
        let v = with(key_get(json!(200), "OK"), |m| {
            drop(m.insert("operationName".into(), odd))
        });
        assert!(!fires(&key, &v));
    }
}

fn detection(logic: &dyn Logic, v: &Value) -> (String, String, Map<String, Value>) {
    let m = obj(v.clone());
    let r = Record::new(&m);
    assert_eq!(logic.matches(&r), Ok(true), "{v}");
    let title = logic.title(&r).ok().flatten().unwrap_or_default();
    let dedup = logic.dedup(&r).ok().flatten().unwrap_or_default();
    let ctx = logic.alert_context(&r).unwrap_or_default();
    (title, dedup, ctx)
}

#[test]
fn titles_dedup_and_context() {
    let key = DataPlaneAccess::new(Family::Key);
    let (title, dedup, ctx) = detection(&key, &key_get(json!(200), "OK"));
    assert_eq!(
        title,
        "Azure Key Vault key [MyFirstKey] read in [TESTPERMISSIONVAULT] by \
         [john.doe@dummy.onmicrosoft.com] from [192.0.2.1]"
    );
    assert_eq!(
        dedup,
        "vault=TESTPERMISSIONVAULT caller=d4ba3e84-0444-4841-aaf7-000000000000 action=read"
    );
    let keys: Vec<&str> = ctx.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "vault_name",
            "key_name",
            "object_id",
            "operation_name",
            "http_status_code",
            "status_from",
            "result_signature",
            "caller",
            "caller_upn",
            "caller_appid",
            "caller_oid",
            "caller_ip",
            "client_info",
            "is_access_policy_match",
            "correlation_id",
            "resource_id",
            "request_uri"
        ]
    );
    assert_eq!(ctx["http_status_code"], json!(200));
    assert_eq!(ctx["status_from"], json!("properties.httpStatusCode"));
    assert_eq!(
        ctx["caller_appid"],
        json!("3686488a-04fc-4d8a-b967-61f98ec41efe")
    );

    let recover = with(key_get(json!(200), "OK"), |m| {
        drop(m.insert("operationName".into(), json!("KeyRecover")))
    });
    assert_eq!(
        detection(&key, &recover).0,
        "Azure Key Vault soft-deleted key [MyFirstKey] recovered in [TESTPERMISSIONVAULT] by \
         [john.doe@dummy.onmicrosoft.com] from [192.0.2.1]"
    );
    // A bare record: placeholders, a context without the absent fields.
    let bare = json!({"category": "AuditEvent", "operationName": "SecretRestore", "resultSignature": "OK"});
    let (title, dedup, ctx) = detection(&DataPlaneAccess::new(Family::Secret), &bare);
    assert_eq!(
        title,
        "Azure Key Vault secret [<UNKNOWN_SECRET>] restored from backup into [<UNKNOWN_VAULT>] by [<UNKNOWN_CALLER>]"
    );
    assert_eq!(
        dedup,
        "vault=<UNKNOWN_VAULT> caller=<UNKNOWN_CALLER> action=restored"
    );
    assert_eq!(
        ctx.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "operation_name",
            "http_status_code",
            "status_from",
            "result_signature"
        ]
    );
    assert_eq!(ctx["status_from"], json!("resultSignature"));
}

#[test]
fn denied_rule_counts_403_only() {
    let denied = DataPlaneDenied;
    assert!(fires(&denied, &key_get(json!(403), "Forbidden")));
    let no_code = props(key_get(json!(0), "Forbidden"), |p| {
        drop(p.remove("httpStatusCode"))
    });
    assert!(fires(&denied, &no_code));
    for (status, signature) in [
        (200, "OK"),
        (401, "Unauthorized"),
        (404, "Not Found"),
        (429, "Too Many Requests"),
    ] {
        assert!(
            !fires(&denied, &key_get(json!(status), signature)),
            "{status}"
        );
    }
    // Every watched operation counts; unwatched ones (a 403 KeyList) do not.
    for op in OPERATIONS {
        let v = with(key_get(json!(403), "Forbidden"), |m| {
            drop(m.insert("operationName".into(), json!(op.name)))
        });
        assert!(fires(&denied, &v), "{}", op.name);
    }
    let list = with(key_get(json!(403), "Forbidden"), |m| {
        drop(m.insert("operationName".into(), json!("KeyList")))
    });
    assert!(!fires(&denied, &list));
    let (title, dedup, ctx) = detection(&denied, &key_get(json!(403), "Forbidden"));
    assert_eq!(
        title,
        "Azure Key Vault data-plane requests denied (403) in [TESTPERMISSIONVAULT] for \
         [john.doe@dummy.onmicrosoft.com] from [192.0.2.1]"
    );
    assert_eq!(
        dedup,
        "vault=TESTPERMISSIONVAULT caller=d4ba3e84-0444-4841-aaf7-000000000000 denied"
    );
    assert_eq!(ctx["key_name"], json!("MyFirstKey"));
    assert_eq!(ctx["http_status_code"], json!(403));
}

#[test]
fn needles_are_the_operation_names() {
    assert_eq!(
        DataPlaneAccess::new(Family::Key).needles(),
        Some(vec![
            "keyget".into(),
            "keyrecover".into(),
            "keyrestore".into()
        ])
    );
    assert_eq!(
        DataPlaneAccess::new(Family::Certificate).needles(),
        Some(vec!["certificateget".into()])
    );
    let all = DataPlaneDenied.needles().unwrap_or_default();
    assert_eq!(all.len(), OPERATIONS.len());
    // A record that matches spells a needle in its raw text (ASCII, no escapes).
    for family in [Family::Key, Family::Secret, Family::Certificate] {
        let logic = DataPlaneAccess::new(family);
        let needles = logic.needles().unwrap_or_default();
        for op in OPERATIONS.iter().filter(|o| o.family == family) {
            let v = with(key_get(json!(200), "OK"), |m| {
                m.insert("operationName".into(), json!(op.name.to_ascii_uppercase()));
            });
            assert!(fires(&logic, &v));
            let raw = v.to_string().to_ascii_lowercase();
            assert!(
                needles.iter().any(|n| raw.contains(n.as_str())),
                "{}",
                op.name
            );
        }
    }
}

#[test]
fn ports_are_registered_and_bind_by_filename() {
    let names = crate::rules::builtin::names();
    for f in [
        "keyvault_dataplane/key_accessed_or_recovered",
        "keyvault_dataplane/secret_accessed_or_recovered",
        "keyvault_dataplane/certificate_accessed",
        "keyvault_dataplane/access_denied",
    ] {
        assert!(names.contains(&f), "{f}");
        assert!(crate::rules::builtin::lookup(f).is_some());
    }
    let rule = crate::rules::Rule::from_port(&super::access::CERTIFICATE);
    assert_eq!(rule.id(), "Azure.KeyVault.AuditEvent.CertificateAccessed");
    assert_eq!(rule.severity(), crate::rules::spec::Severity::Info);
}

#[test]
fn shipped_rule_files_bind_and_pass_their_tests() {
    let set = match crate::rules::RuleSet::embedded() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let report = crate::rules::selftest::run_all(&set);
    let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (id, filename) in [
        (
            "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered",
            "keyvault_dataplane/key_accessed_or_recovered",
        ),
        (
            "Azure.KeyVault.AuditEvent.SecretAccessedOrRecovered",
            "keyvault_dataplane/secret_accessed_or_recovered",
        ),
        (
            "Azure.KeyVault.AuditEvent.CertificateAccessed",
            "keyvault_dataplane/certificate_accessed",
        ),
        (
            "Azure.KeyVault.AuditEvent.DataPlaneAccessDenied",
            "keyvault_dataplane/access_denied",
        ),
    ] {
        let rule = set.rules.iter().find(|r| r.id() == id);
        let Some(rule) = rule else {
            panic!("{id} not enabled")
        };
        assert_eq!(rule.spec.filename.as_deref(), Some(filename));
        let port = crate::rules::builtin::ports().find(|p| p.filename == filename);
        let Some(port) = port else {
            panic!("{filename}")
        };
        // The file and the port carry the same facts.
        assert_eq!(port.meta.rule_id, id);
        assert_eq!(port.meta.severity, rule.severity());
        assert_eq!(port.meta.threshold, rule.spec.threshold);
        assert_eq!(
            port.meta.dedup_period_minutes,
            rule.spec.dedup_period_minutes
        );
        let expected: Vec<bool> = rule.spec.tests.iter().map(|t| t.expected_result).collect();
        assert!(
            expected.contains(&true) && expected.contains(&false),
            "{id}"
        );
    }
}

/// The issue's body through the whole detector (prefilter, every shipped rule, dedup).
#[test]
fn issue_body_raises_nothing_and_its_success_twin_one_alert() {
    use crate::alert::Origin;
    use crate::decode::DecodeLimits;
    use crate::dedup::Deduper;
    use crate::detect::Detector;
    let set = match crate::rules::RuleSet::embedded() {
        Ok(s) => std::sync::Arc::new(s),
        Err(e) => panic!("{e}"),
    };
    let detector = Detector::new(set, DecodeLimits::default());
    let source = Origin::File {
        path: "issue".into(),
        line: 1,
        record_index: None,
    };
    let run = |body: &str| {
        let mut dedup = Deduper::new(true);
        detector.process(
            body.as_bytes(),
            &source,
            &mut dedup,
            time::OffsetDateTime::UNIX_EPOCH,
        )
    };
    let denied = r#"{"records":[{"category":"AuditEvent","operationName":"KeyGet","resultType":"Success","resultSignature":"Forbidden","callerIpAddress":"203.0.113.5","properties":{"httpStatusCode":403},"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV"}]}"#;
    let out = run(denied);
    assert!(
        out.alerts.is_empty(),
        "{:?}",
        out.alerts.iter().map(|a| &a.title).collect::<Vec<_>>()
    );
    assert!(out.problems.is_empty());
    let ok = denied.replace("Forbidden", "OK").replace("403", "200");
    let out = run(&ok);
    assert_eq!(out.alerts.len(), 1);
    let a = &out.alerts[0];
    assert_eq!(a.rule_id, "Azure.KeyVault.AuditEvent.KeyAccessed.Recovered");
    // No object URI in this record: the key is unknown, the vault is named.
    assert_eq!(
        a.title,
        "Azure Key Vault key [<UNKNOWN_KEY>] read in [KV] by [203.0.113.5]"
    );
    assert_eq!(a.alert_context["http_status_code"], json!(200));
}

mod generated {
    //! Generated `AuditEvent` records: rules never fail on them, and the prefilter never hides
    //! a match, whatever the casing, JSON escapes or value types.
    use super::*;
    use proptest::prelude::*;

    fn recased(s: &'static str) -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<bool>(), s.len()).prop_map(move |up| {
            s.chars()
                .zip(up)
                .map(|(c, u)| {
                    if u {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
    }

    fn operation() -> impl Strategy<Value = Value> {
        let names: Vec<&'static str> = OPERATIONS.iter().map(|o| o.name).collect();
        prop_oneof![
            6 => proptest::sample::select(names).prop_flat_map(recased).prop_map(Value::from),
            1 => Just(json!("KeyList")),
            1 => Just(json!("\u{212A}eyGet")),
            1 => Just(json!("SecretGet ")),
            1 => Just(json!(null)),
            1 => Just(json!(["KeyGet"])),
        ]
    }

    fn status() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(Some(json!(200))),
            Just(Some(json!(403))),
            Just(Some(json!(404))),
            Just(Some(json!("200"))),
            Just(Some(json!(204.0))),
            Just(Some(json!(null))),
            Just(None),
        ]
    }

    fn signature() -> impl Strategy<Value = Option<Value>> {
        proptest::option::of(
            proptest::sample::select(vec!["OK", "Forbidden", "Not Found", "Success", "", "403"])
                .prop_map(Value::from),
        )
    }

    /// JSON text of `v` with the letters chosen by `mask` written as `\u00XX` escapes.
    fn spell(v: &Value, mask: u64) -> String {
        let raw = v.to_string();
        let mut out = String::new();
        let mut in_string = false;
        for (i, c) in raw.chars().enumerate() {
            match c {
                '"' => in_string = !in_string,
                c if in_string && c.is_ascii_alphabetic() && mask >> (i % 64) & 1 == 1 => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                    continue;
                }
                _ => {}
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn never_fails_and_prefilter_never_hides_a_match(
            op in operation(),
            code in status(),
            sig in signature(),
            upper in any::<bool>(),
            escape in prop_oneof![3 => Just(0u64), 1 => any::<u64>()],
        ) {
            let mut rec = key_get(json!(200), "OK");
            rec["operationName"] = op;
            rec["properties"].as_object_mut().map(|p| match &code {
                Some(c) => p.insert("httpStatusCode".into(), c.clone()),
                None => p.remove("httpStatusCode"),
            });
            match &sig {
                Some(s) => rec["resultSignature"] = s.clone(),
                None => drop(rec.as_object_mut().map(|m| m.remove("resultSignature"))),
            }
            if upper {
                let m = obj(rec);
                rec = Value::Object(m.into_iter().map(|(k, v)| (k.to_ascii_uppercase(), v)).collect());
            }
            let body = format!("{{\"records\":[{}]}}", spell(&rec, escape));
            let set = match crate::rules::RuleSet::embedded() {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            let m = obj(rec);
            let mut expected = 0;
            for rule in &set.rules {
                let out = rule.evaluate(&Record::new(&m));
                // The Panther port raises where Python does (a null operationName); ours never.
                if rule.id().starts_with("Azure.KeyVault.AuditEvent.") {
                    prop_assert!(out.is_ok(), "{} raised on {}", rule.id(), body);
                }
                expected += usize::from(matches!(out, Ok(Some(_))));
            }
            let detector = crate::detect::Detector::new(
                std::sync::Arc::new(set),
                crate::decode::DecodeLimits::default(),
            );
            let source = crate::alert::Origin::File { path: "prop".into(), line: 1, record_index: None };
            let out = detector.process(
                body.as_bytes(),
                &source,
                &mut crate::dedup::Deduper::new(false),
                time::OffsetDateTime::UNIX_EPOCH,
            );
            prop_assert_eq!(out.alerts.len(), expected, "{}", body);
        }
    }
}
