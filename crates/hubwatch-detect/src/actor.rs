//! Who acted: the caller's identity, tenant and subscription, read from the matched record.
//!
//! Panther's `alert_context` stays exactly what the rule asks for; this is hubwatch's own answer
//! to an analyst's first question, derived the same way for every rule. Where each field comes
//! from depends on the log kind:
//!
//! - Activity Log (diagnostic settings to Event Hubs): `identity.claims` (the caller's token)
//!   and `identity.authorization.evidence` (the role assignment that allowed the call), the
//!   record's `tenantId`. The REST API form (`caller`, top-level `claims` and `authorization`,
//!   `subscriptionId`) is read as well, so replayed exports work.
//! - Key Vault `AuditEvent`: `identity.claim`, with short (`oid`, `upn`, `tid`) or URI claim names.
//! - Both: the subscription is the segment after `subscriptions` in `resourceId`.
//!
//! Keys are looked up like every rule looks them up ([`crate::record::lookup`]). Only non-empty
//! strings count, trimmed; anything else (numbers, objects, `null`, values over
//! [`MAX_VALUE_BYTES`]) is treated as absent. Absent fields are left out of the JSON, so an
//! alert always has an `actor` object, `{}` when nothing is known.

use crate::record::lookup;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longer values are not identities (a UPN is at most 113 characters, a GUID 36); they are
/// dropped rather than copied into every alert twice more.
pub const MAX_VALUE_BYTES: usize = 2048;

const UPN: &[&str] = &[
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
];
const UNIQUE_NAME: &[&str] = &[
    "unique_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
];
const NAME: &[&str] = &["name"];
const APPID: &[&str] = &["appid", "azp"];
const OBJECT_ID: &[&str] = &[
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "oid",
];
const MANAGED_IDENTITY: &[&str] = &["xms_mirid"];
const TENANT_ID: &[&str] = &[
    "http://schemas.microsoft.com/identity/claims/tenantid",
    "tid",
];

/// The caller of the operation a record describes. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// One string naming the caller: the record's `caller`, else the UPN, the unique name, the
    /// object id or the application id, the first one known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The user principal name claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// The display name claim (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The application (client) id the token was issued to (`appid`, v2 tokens `azp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// The caller's Entra object id (user or service principal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// A managed identity's resource id (`xms_mirid` claim), which names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity: Option<String>,
    /// The principal of the role assignment that granted access; a group when the caller got
    /// the role through a group, so it is kept apart from `object_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// That principal's type: `User`, `ServicePrincipal`, `Group`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    /// The role of that assignment, e.g. `Owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The caller's tenant (token claim), else the record's `tenantId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The subscription of `resourceId`, else the record's `subscriptionId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

impl Actor {
    /// Derives the actor of one record; never fails, whatever the record's shape.
    pub fn from_record(record: &Map<String, Value>) -> Actor {
        let identity = object(record, "identity");
        // Event Hubs Activity Log, then Key Vault AuditEvent, then the REST API form.
        let claims = identity
            .and_then(|i| object(i, "claims").or_else(|| object(i, "claim")))
            .or_else(|| object(record, "claims"));
        let evidence = identity
            .and_then(|i| object(i, "authorization"))
            .or_else(|| object(record, "authorization"))
            .and_then(|a| object(a, "evidence"));
        let claim = |keys: &[&str]| claims.and_then(|c| first(c, keys));
        let evidence = |key: &str| evidence.and_then(|e| text(lookup(e, key)));

        let upn = claim(UPN);
        let object_id = claim(OBJECT_ID);
        let appid = claim(APPID);
        let caller = text(lookup(record, "caller"))
            .or_else(|| upn.clone())
            .or_else(|| claim(UNIQUE_NAME))
            .or_else(|| object_id.clone())
            .or_else(|| appid.clone());
        Actor {
            caller,
            upn,
            name: claim(NAME),
            appid,
            object_id,
            managed_identity: claim(MANAGED_IDENTITY),
            principal_id: evidence("principalId"),
            principal_type: evidence("principalType"),
            role: evidence("role"),
            tenant_id: claim(TENANT_ID).or_else(|| text(lookup(record, "tenantId"))),
            subscription_id: text(lookup(record, "resourceId"))
                .and_then(|r| subscription_of(&r))
                .or_else(|| text(lookup(record, "subscriptionId"))),
        }
    }

    /// True when nothing is known (the alert then carries `"actor": {}`).
    pub fn is_empty(&self) -> bool {
        *self == Actor::default()
    }
}

/// The segment after `subscriptions` (any case) in a resource id, as written.
pub fn subscription_of(resource_id: &str) -> Option<String> {
    let mut segments = resource_id.split('/');
    segments.find(|s| s.eq_ignore_ascii_case("subscriptions"))?;
    segments
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn object<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    lookup(map, key)?.as_object()
}

/// The first of `keys` holding a usable string.
fn first(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(lookup(map, k)))
}

/// A usable string: trimmed, not empty, not over [`MAX_VALUE_BYTES`].
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= MAX_VALUE_BYTES).then(|| s.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subscription_is_the_segment_after_subscriptions_in_any_case() {
        let sub = |r: &str| subscription_of(r);
        assert_eq!(
            sub("/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/RG"),
            Some("A921D5D4-BDB7-43C3-AA01-88C6AE24992F".into())
        );
        assert_eq!(sub("/subscriptions/s1"), Some("s1".into()));
        assert_eq!(sub("/Subscriptions/s1/"), Some("s1".into()));
        assert_eq!(sub("/subscriptions//resourceGroups/rg"), None);
        assert_eq!(sub("/subscriptions"), None);
        assert_eq!(sub("/tenants/t1/providers/Microsoft.aadiam"), None);
        assert_eq!(sub(""), None);
    }

    #[test]
    fn only_usable_strings_count() {
        assert_eq!(text(Some(&json!("  a@b.c "))), Some("a@b.c".into()));
        for v in [
            json!(""),
            json!("   "),
            json!(null),
            json!(7),
            json!(["a"]),
            json!({"a": 1}),
            json!("x".repeat(MAX_VALUE_BYTES + 1)),
        ] {
            assert_eq!(text(Some(&v)), None, "{v}");
        }
        assert_eq!(text(None), None);
    }
}
