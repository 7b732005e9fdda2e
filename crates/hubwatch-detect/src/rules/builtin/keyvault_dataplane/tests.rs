//! Reading `AuditEvent` records: status, names and caller, on real shapes and on odd ones;
//! the shared record builders of the rule tests ([`rule_tests`](super::rule_tests)).
//!
//! Records follow SEKOIA-IO/intake-formats `Azure/azure-key-vault/tests/test_event_key_get_1.json`
//! (KeyGet 200) and `test_event_key_get.json` (KeyGet 404 "Not Found"), and the example in
//! Microsoft's "Azure Key Vault logging" (full-URI claim names).

use super::audit::{self, Action, Caller, Family, Status, StatusSource, OPERATIONS};
use crate::record::Record;
use crate::rules::Logic;
use serde_json::{json, Map, Value};

pub(super) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// SEKOIA's KeyGet 200 record, with the vault host of its rendered sample.
pub(super) fn key_get(status: Value, signature: &str) -> Value {
    json!({
        "time": "2024-04-04T06:47:42.7335214Z",
        "category": "AuditEvent",
        "operationName": "KeyGet",
        "resultType": "Success",
        "correlationId": "425dd404-f29a-4e68-9b88-2c3643b4462e",
        "callerIpAddress": "192.0.2.1",
        "identity": {"claim": {
            "oid": "d4ba3e84-0444-4841-aaf7-000000000000",
            "appid": "3686488a-04fc-4d8a-b967-61f98ec41efe",
            "scp": "user_impersonation",
            "upn": "john.doe@dummy.onmicrosoft.com",
            "unique_name": "john.doe@dummy.onmicrosoft.com"
        }},
        "properties": {
            "id": "https://testpermissionvault.vault.azure.net/keys/MyFirstKey",
            "clientInfo": "Mozilla/5.0 (X11; Ubuntu; Linux x86_64) Firefox/12.0",
            "httpStatusCode": status,
            "requestUri": "https://testpermissionvault.vault.azure.net/keys/MyFirstKey?api-version=7.3",
            "isAccessPolicyMatch": true
        },
        "resourceId": "/SUBSCRIPTIONS/F40A1F1D-F2C6-4444-92A6-000000000000/RESOURCEGROUPS/INTEGRATION/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/TESTPERMISSIONVAULT",
        "operationVersion": "7.3",
        "resultSignature": signature,
        "durationMs": "12"
    })
}

pub(super) fn with(mut v: Value, edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    if let Value::Object(m) = &mut v {
        edit(m);
    }
    v
}

pub(super) fn props(v: Value, edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    with(v, |m| {
        if let Some(Value::Object(p)) = m.get_mut("properties") {
            edit(p);
        }
    })
}

pub(super) fn fires(logic: &dyn Logic, v: &Value) -> bool {
    let m = obj(v.clone());
    logic.matches(&Record::new(&m)) == Ok(true)
}

fn status_of(v: Value) -> Option<Status> {
    let m = obj(v);
    audit::status(&Record::new(&m))
}

fn code(c: u16) -> Option<Status> {
    Some(Status {
        code: c,
        source: StatusSource::HttpStatusCode,
    })
}

fn sig(c: u16) -> Option<Status> {
    Some(Status {
        code: c,
        source: StatusSource::ResultSignature,
    })
}

#[test]
fn status_comes_from_the_http_status_code_then_the_signature() {
    assert_eq!(status_of(key_get(json!(200), "OK")), code(200));
    assert_eq!(status_of(key_get(json!(404), "Not Found")), code(404));
    // The code wins over a signature that disagrees.
    assert_eq!(status_of(key_get(json!(403), "OK")), code(403));
    assert_eq!(status_of(key_get(json!(200.0), "OK")), code(200));
    assert_eq!(status_of(key_get(json!(" 204 "), "OK")), code(204));
    // Unreadable codes fall back to the signature.
    for bad in [
        json!(null),
        json!(true),
        json!(200.5),
        json!(-200),
        json!(99),
        json!(600),
        json!("two hundred"),
        json!({"code": 200}),
        json!(1e300),
    ] {
        assert_eq!(
            status_of(key_get(bad.clone(), "Forbidden")),
            sig(403),
            "{bad}"
        );
    }
    let no_code = |s: &str| props(key_get(json!(0), s), |p| drop(p.remove("httpStatusCode")));
    assert_eq!(status_of(no_code("OK")), sig(200));
    assert_eq!(status_of(no_code("No Content")), sig(204));
    assert_eq!(status_of(no_code("Not Found")), sig(404));
    assert_eq!(status_of(no_code("NOTFOUND")), sig(404));
    assert_eq!(status_of(no_code("Too Many Requests")), sig(429));
    assert_eq!(status_of(no_code("200")), sig(200));
    assert_eq!(status_of(no_code("Success")), None);
    assert_eq!(status_of(no_code("")), None);
    let nothing = with(no_code("OK"), |m| drop(m.remove("resultSignature")));
    assert_eq!(status_of(nothing.clone()), None);
    assert_eq!(
        status_of(with(nothing, |m| drop(
            m.insert("resultSignature".into(), json!(202))
        ))),
        sig(202)
    );
    // properties that is not an object is no code.
    let flat = with(no_code("OK"), |m| {
        drop(m.insert("properties".into(), json!("x")))
    });
    assert_eq!(status_of(flat), sig(200));
}

#[test]
fn vault_and_object_names() {
    let name = |v: Value, family: Family, action: Action| {
        let m = obj(v);
        let r = Record::new(&m);
        let op = OPERATIONS
            .iter()
            .find(|o| o.family == family && o.action == action)
            .copied();
        (
            audit::vault_name(&r).map(str::to_string),
            op.and_then(|op| audit::object_name(&r, &op).map(str::to_string)),
        )
    };
    let k = |v| name(v, Family::Key, Action::Read);
    assert_eq!(
        k(key_get(json!(200), "OK")),
        (
            Some("TESTPERMISSIONVAULT".into()),
            Some("MyFirstKey".into())
        )
    );
    // A versioned id; the vault's case is kept.
    let v = props(key_get(json!(200), "OK"), |p| {
        p.insert(
            "id".into(),
            json!("https://kv.vault.azure.net/KEYS/signing-key/0123abcd?x=1"),
        );
    });
    let v = with(v, |m| {
        m.insert(
            "resourceId".into(),
            json!("/subscriptions/s/providers/Microsoft.KeyVault/vaults/MyVault"),
        );
    });
    assert_eq!(k(v), (Some("MyVault".into()), Some("signing-key".into())));
    // The vault URI as id (no object): the request URI names it.
    let v = props(key_get(json!(200), "OK"), |p| {
        p.insert(
            "id".into(),
            json!("https://testpermissionvault.vault.azure.net/"),
        );
    });
    assert_eq!(k(v).1.as_deref(), Some("MyFirstKey"));
    // No resource id: the URI's host.
    let v = with(key_get(json!(200), "OK"), |m| drop(m.remove("resourceId")));
    assert_eq!(k(v).0.as_deref(), Some("testpermissionvault"));
    let v = with(key_get(json!(200), "OK"), |m| {
        m.insert("resourceId".into(), json!("/subscriptions/s/vaults"));
        m.insert("properties".into(), json!({}));
    });
    assert_eq!(k(v), (None, None));
    // A restore request (POST /keys/restore) names no key; its id does.
    let restore = props(key_get(json!(200), "OK"), |p| {
        p.insert("id".into(), json!(7));
        p.insert(
            "requestUri".into(),
            json!("https://v.vault.azure.net/keys/restore?api-version=7.4"),
        );
    });
    assert_eq!(name(restore, Family::Key, Action::Restore).1, None);
    // A recover request names the deleted key.
    let recover = props(key_get(json!(200), "OK"), |p| {
        p.remove("id");
        p.insert(
            "requestUri".into(),
            json!("https://v.vault.azure.net/deletedkeys/old-key/recover?api-version=7.4"),
        );
    });
    assert_eq!(
        name(recover, Family::Key, Action::Recover).1.as_deref(),
        Some("old-key")
    );
    // A secret's URI does not name a key, nor a key's a secret.
    let secret_uri = props(key_get(json!(200), "OK"), |p| {
        p.insert(
            "id".into(),
            json!("https://v.vault.azure.net/secrets/db-password"),
        );
        p.insert("requestUri".into(), json!("/secrets/db-password"));
    });
    assert_eq!(k(secret_uri.clone()).1, None);
    assert_eq!(
        name(secret_uri, Family::Secret, Action::Read).1.as_deref(),
        Some("db-password")
    );
}

#[test]
fn caller_from_short_and_full_uri_claims() {
    let m = obj(key_get(json!(200), "OK"));
    let c = Caller::of(&Record::new(&m));
    assert_eq!(c.upn.as_deref(), Some("john.doe@dummy.onmicrosoft.com"));
    assert_eq!(
        c.appid.as_deref(),
        Some("3686488a-04fc-4d8a-b967-61f98ec41efe")
    );
    assert_eq!(
        c.oid.as_deref(),
        Some("d4ba3e84-0444-4841-aaf7-000000000000")
    );
    assert_eq!(c.display(), c.upn.as_deref());
    assert_eq!(c.principal(), c.oid.as_deref());

    // The logging doc's example: full-URI claim names, upper-cased keys here.
    let doc = with(key_get(json!(200), "OK"), |m| {
        m.remove("identity");
        m.insert(
            "IDENTITY".into(),
            json!({"Claim": {
                "http://schemas.microsoft.com/identity/claims/objectidentifier": "d9da5048-2737-4770-bd64-000000000000",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "live.com#username@outlook.com",
                "appid": "00001111-aaaa-2222-bbbb-3333cccc4444"
            }}),
        );
    });
    let m = obj(doc);
    let c = Caller::of(&Record::new(&m));
    assert_eq!(c.upn.as_deref(), Some("live.com#username@outlook.com"));
    assert_eq!(
        c.oid.as_deref(),
        Some("d9da5048-2737-4770-bd64-000000000000")
    );

    // A managed identity: no upn, so the app id is shown; identity kept as JSON text.
    let mi = with(key_get(json!(200), "OK"), |m| {
        m.insert(
            "identity".into(),
            json!(r#"{"claim":{"oid":"80dd018c","appid":"b1967275","xms_mirid":"/subscriptions/s/userAssignedIdentities/reader"}}"#),
        );
    });
    let m = obj(mi);
    let c = Caller::of(&Record::new(&m));
    assert_eq!(c.display(), Some("b1967275"));
    assert_eq!(
        c.managed_identity.as_deref(),
        Some("/subscriptions/s/userAssignedIdentities/reader")
    );

    // Odd identities give no claims, never a failure; the address remains.
    for odd in [
        json!(null),
        json!("{not json"),
        json!([1]),
        json!({"claim": "x"}),
        json!(5),
    ] {
        let m = obj(with(key_get(json!(200), "OK"), |m| {
            drop(m.insert("identity".into(), odd))
        }));
        let c = Caller::of(&Record::new(&m));
        assert_eq!(c.display(), Some("192.0.2.1"));
        assert_eq!(c.principal(), Some("192.0.2.1"));
    }
}
