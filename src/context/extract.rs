//! Which log records are Key Vault operations, and what the context store keeps of each.
//!
//! Two kinds of record count: Activity Log records whose `operationName` starts with
//! `Microsoft.KeyVault/` (any case), and `AuditEvent` records (Key Vault's resource log) on a
//! `Microsoft.KeyVault` resource. Fields are looked up the way rules look them up
//! ([`crate::record::lookup`]: case-insensitive, first spelling wins); a record of either
//! kind is kept whatever else it lacks. The identity is the one the alert's `actor` names.

use super::KvOp;
use crate::actor::Actor;
use crate::record::lookup;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A cheap test on a body's raw bytes: can any record of it be a Key Vault operation? Only
/// bodies that pass are decoded again for the store. Conservative for plain ASCII text; a body
/// spelling these words with `\u` escapes is decoded anyway.
pub(super) fn may_hold_keyvault(body: &[u8]) -> bool {
    contains_ci(body, b"keyvault")
        || contains_ci(body, b"auditevent")
        || memchr::memmem::find(body, b"\\u").is_some()
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The record's id: the first 16 bytes of SHA-256 of its text, in hex.
pub(super) fn record_id(raw: &str) -> String {
    hex::encode(&Sha256::digest(raw.as_bytes())[..16])
}

/// The Key Vault operation a record reports, if it is one. `fallback` is the event time of a
/// record without a readable `time`.
pub(super) fn extract(
    fields: &Map<String, Value>,
    raw: &str,
    fallback: OffsetDateTime,
) -> Option<KvOp> {
    let operation = text(fields, "operationName");
    let resource_id = text(fields, "resourceId");
    let category = text(fields, "category");
    let audit = category.eq_ignore_ascii_case("AuditEvent")
        && (resource_id.is_empty() || contains_ci(resource_id.as_bytes(), b"/microsoft.keyvault/"));
    let activity = !audit && starts_with_ci(operation, "microsoft.keyvault/");
    if !audit && !activity {
        return None;
    }
    let props = lookup(fields, "properties").and_then(Value::as_object);
    let prop = |k: &str| props.map_or("", |p| text(p, k));
    let (object_type, crypto) = if audit {
        audit_family(operation)
    } else {
        activity_family(operation, resource_id)
    };
    let collections: &[&str] = match object_type {
        "key" => &["keys", "deletedkeys"],
        "secret" => &["secrets", "deletedsecrets"],
        "certificate" => &["certificates", "deletedcertificates"],
        _ => &[],
    };
    let object = if collections.is_empty() {
        ""
    } else if audit {
        let from_id = name_after(path_of(prop("id")), collections);
        from_id
            .or_else(|| name_after(path_of(prop("requestUri")), collections))
            .unwrap_or("")
    } else {
        name_after(resource_id, collections).unwrap_or("")
    };
    let vault = name_after(resource_id, &["vaults", "managedhsms"])
        .or_else(|| host_label(prop("id")))
        .or_else(|| host_label(prop("requestUri")))
        .unwrap_or("");
    let outcome = if audit {
        audit_outcome(fields, props)
    } else {
        activity_outcome(text(fields, "resultType"))
    };
    let actor = Actor::from_record(fields);
    let identity = actor
        .object_id
        .as_deref()
        .or(actor.appid.as_deref())
        .or(actor.upn.as_deref())
        .or(actor.caller.as_deref())
        .unwrap_or("");
    let identity_name = actor
        .upn
        .as_deref()
        .or(actor.caller.as_deref())
        .unwrap_or("");
    let time = crate::dedup::event_time(fields, fallback);
    Some(KvOp {
        id: record_id(raw),
        time_ms: i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        vault: vault.to_ascii_lowercase(),
        object_type: object_type.to_string(),
        object: object.to_ascii_lowercase(),
        operation: operation.to_string(),
        outcome: outcome.to_string(),
        caller_ip: text(fields, "callerIpAddress").to_string(),
        identity: identity.to_ascii_lowercase(),
        identity_name: identity_name.to_string(),
        correlation_id: text(fields, "correlationId").to_string(),
        crypto,
    })
}

/// A trimmed string field, `""` when absent or not a string.
fn text<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    lookup(map, key)
        .and_then(Value::as_str)
        .map_or("", str::trim)
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

const CRYPTO: &[&str] = &[
    "sign",
    "verify",
    "encrypt",
    "decrypt",
    "wrap",
    "unwrap",
    "wrapkey",
    "unwrapkey",
];

/// `KeySign` -> (`key`, crypto), `SecretGet` -> (`secret`, no), `VaultGet` -> (``, no).
fn audit_family(operation: &str) -> (&'static str, bool) {
    for (prefix, family) in [
        ("certificate", "certificate"),
        ("secret", "secret"),
        ("key", "key"),
    ] {
        if starts_with_ci(operation, prefix) {
            let verb = &operation[prefix.len()..];
            let crypto = family == "key" && CRYPTO.iter().any(|c| c.eq_ignore_ascii_case(verb));
            return (family, crypto);
        }
    }
    ("", false)
}

/// `MICROSOFT.KEYVAULT/VAULTS/KEYS/SIGN/ACTION` -> (`key`, crypto).
fn activity_family(operation: &str, resource_id: &str) -> (&'static str, bool) {
    let segments: Vec<&str> = operation.split('/').collect();
    for (i, s) in segments.iter().enumerate() {
        let family = if s.eq_ignore_ascii_case("keys") {
            "key"
        } else if s.eq_ignore_ascii_case("secrets") {
            "secret"
        } else if s.eq_ignore_ascii_case("certificates") {
            "certificate"
        } else {
            continue;
        };
        let verb = segments.get(i + 1).copied().unwrap_or("");
        let crypto = family == "key" && CRYPTO.iter().any(|c| c.eq_ignore_ascii_case(verb));
        return (family, crypto);
    }
    for (collection, family) in [
        ("keys", "key"),
        ("secrets", "secret"),
        ("certificates", "certificate"),
    ] {
        if name_after(resource_id, &[collection]).is_some() {
            return (family, false);
        }
    }
    ("", false)
}

fn activity_outcome(result_type: &str) -> &'static str {
    match result_type.to_ascii_lowercase().as_str() {
        "success" | "succeeded" => "success",
        "failure" | "failed" => "failure",
        _ => "unknown",
    }
}

/// From the HTTP status (`properties.httpStatusCode`, else `resultSignature`); Key Vault
/// writes `resultType: Success` for refused requests too, so it is not read.
fn audit_outcome(fields: &Map<String, Value>, props: Option<&Map<String, Value>>) -> &'static str {
    let code = props
        .and_then(|p| lookup(p, "httpStatusCode"))
        .and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
    let code = code.or_else(|| {
        match text(fields, "resultSignature")
            .to_ascii_lowercase()
            .as_str()
        {
            "ok" | "created" | "accepted" | "no content" | "nocontent" => Some(200),
            "" => None,
            s => s.parse().ok().or(Some(400)),
        }
    });
    match code {
        Some(c) if (200..300).contains(&c) => "success",
        Some(_) => "failure",
        None => "unknown",
    }
}

/// The path of a URI (`https://kv.vault.azure.net/keys/k/1?x` -> `/keys/k/1`).
fn path_of(uri: &str) -> &str {
    let path = match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => uri,
    };
    path.split(['?', '#']).next().unwrap_or("")
}

/// The segment after the first of `collections` (any case) in a `/`-separated path.
fn name_after<'a>(path: &'a str, collections: &[&str]) -> Option<&'a str> {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    segments.find(|s| collections.iter().any(|c| s.eq_ignore_ascii_case(c)))?;
    segments.next().filter(|s| !s.is_empty())
}

/// The first DNS label of a URI's host (`https://kv.vault.azure.net/...` -> `kv`).
fn host_label(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    let host = rest.split(['/', '?', '#', ':']).next()?;
    host.split('.').next().filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(v: Value) -> Option<KvOp> {
        let raw = v.to_string();
        let Value::Object(m) = v else { return None };
        extract(&m, &raw, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn audit_event_key_sign() {
        let o = op(json!({
            "time": "2026-01-01T00:00:01Z", "category": "AuditEvent", "operationName": "KeySign",
            "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1",
            "callerIpAddress": "203.0.113.5", "correlationId": "c1",
            "identity": {"claim": {"oid": "OID-1", "upn": "a@b.c"}},
            "properties": {"id": "https://kv1.vault.azure.net/keys/Pay/123", "httpStatusCode": 200}
        }))
        .expect("key vault op");
        assert_eq!(
            (o.vault.as_str(), o.object_type.as_str(), o.object.as_str()),
            ("kv1", "key", "pay")
        );
        assert!(o.crypto);
        assert_eq!(o.outcome, "success");
        assert_eq!(o.identity, "oid-1");
        assert_eq!(o.identity_name, "a@b.c");
        assert_eq!(o.time_ms, 1_767_225_601_000);
        assert_eq!(o.id.len(), 32);
    }

    #[test]
    fn activity_log_secret_read_and_others() {
        let o = op(json!({
            "time": "2026-01-01T00:00:00Z", "category": "Administrative",
            "operationName": "Microsoft.KeyVault/vaults/secrets/read/action", "resultType": "Failure",
            "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv2/secrets/db",
            "identity": {"claims": {"appid": "APP"}}
        }))
        .expect("key vault op");
        assert_eq!(
            (o.vault.as_str(), o.object_type.as_str(), o.object.as_str()),
            ("kv2", "secret", "db")
        );
        assert_eq!(
            (o.outcome.as_str(), o.identity.as_str(), o.crypto),
            ("failure", "app", false)
        );
        assert!(op(json!({"operationName": "Microsoft.Web/sites/write"})).is_none());
        assert!(op(
            json!({"category": "AuditEvent", "resourceId": "/x/providers/Microsoft.Sql/servers/s"})
        )
        .is_none());
        let refused = op(
            json!({"category": "AuditEvent", "operationName": "KeyGet", "resultType": "Success",
            "properties": {"httpStatusCode": 403}}),
        )
        .expect("op");
        assert_eq!(refused.outcome, "failure");
    }

    #[test]
    fn cheap_body_test() {
        assert!(may_hold_keyvault(br#"{"category":"AUDITEVENT"}"#));
        assert!(may_hold_keyvault(
            br#"{"operationName":"microsoft.KeyVault/x"}"#
        ));
        assert!(!may_hold_keyvault(
            br#"{"operationName":"Microsoft.Web/sites/write"}"#
        ));
    }
}
