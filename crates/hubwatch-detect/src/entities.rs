//! Sentinel-style entities of an alert: who (Account, CloudApplication), from where (IP) and on
//! what (AzureResource), in the shape of Microsoft Sentinel's entity schema
//! (<https://learn.microsoft.com/azure/sentinel/entities-reference>) so SOC tooling can map them.
//!
//! Each entity is a JSON object with `Type` and the schema's field names; fields not known are
//! left out, and an entity without any identifier is not emitted. Fields the schema types as
//! GUIDs (`AadUserId`, `AadTenantId`) are only filled with values that are GUIDs.

use crate::actor::{subscription_of, text, Actor};
use crate::record::lookup;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::{IpAddr, SocketAddr};

/// One entity; serialised with its `Type` tag (`account`, `ip`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum Entity {
    #[serde(rename = "account")]
    Account(Account),
    #[serde(rename = "ip")]
    Ip(Ip),
    #[serde(rename = "azure-resource")]
    AzureResource(AzureResource),
    #[serde(rename = "cloud-application")]
    CloudApplication(CloudApplication),
}

/// The calling user or service principal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// The UPN without its suffix (the schema's "name without any domain").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "UPNSuffix", default, skip_serializing_if = "Option::is_none")]
    pub upn_suffix: Option<String>,
    /// The Entra object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_tenant_id: Option<String>,
}

/// The caller's address (`callerIpAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ip {
    pub address: String,
}

/// The resource the operation was on (`resourceId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AzureResource {
    pub resource_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

/// The application the caller's token was issued to. Its Entra application (client) id goes in
/// `Name`: the schema's `AppId` is the integer Defender for Cloud Apps catalogue id, which these
/// logs do not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CloudApplication {
    pub name: String,
}

/// The entities of a record, in the order Account, IP, AzureResource, CloudApplication.
pub fn from_record(record: &Map<String, Value>, actor: &Actor) -> Vec<Entity> {
    let mut out = Vec::new();
    if let Some(account) = account(actor) {
        out.push(Entity::Account(account));
    }
    if let Some(address) = text(lookup(record, "callerIpAddress")).and_then(|s| ip(&s)) {
        out.push(Entity::Ip(Ip { address }));
    }
    if let Some(resource_id) = text(lookup(record, "resourceId")).filter(|r| r.starts_with('/')) {
        out.push(Entity::AzureResource(AzureResource {
            subscription_id: subscription_of(&resource_id),
            resource_id,
        }));
    }
    if let Some(name) = actor.appid.clone() {
        out.push(Entity::CloudApplication(CloudApplication { name }));
    }
    out
}

fn account(actor: &Actor) -> Option<Account> {
    // Tokens without a `upn` claim (guests, some v1 tokens) still name the user in `caller`.
    let upn = actor
        .upn
        .as_deref()
        .or(actor.caller.as_deref().filter(|c| c.contains('@')));
    let (name, upn_suffix) = match upn.map(|u| (u, u.rsplit_once('@'))) {
        Some((_, Some((name, suffix)))) if !name.is_empty() && !suffix.is_empty() => {
            (Some(name.to_string()), Some(suffix.to_string()))
        }
        Some((upn, _)) => (Some(upn.to_string()), None),
        None => (None, None),
    };
    // Without token claims, the role assignment's principal is the caller unless it is a group.
    let assigned = actor.principal_id.as_ref().filter(|_| {
        matches!(
            actor.principal_type.as_deref(),
            Some("User" | "ServicePrincipal")
        )
    });
    let account = Account {
        name,
        upn_suffix,
        aad_user_id: actor
            .object_id
            .as_ref()
            .or(assigned)
            .filter(|s| is_guid(s))
            .cloned(),
        aad_tenant_id: actor.tenant_id.clone().filter(|s| is_guid(s)),
    };
    (account.name.is_some() || account.aad_user_id.is_some()).then_some(account)
}

/// An address that parses as IPv4 or IPv6, alone or with a port, in its canonical form.
fn ip(s: &str) -> Option<String> {
    s.parse::<IpAddr>()
        .or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|a| a.to_string())
}

/// A GUID in the forms Azure writes them: `8-4-4-4-12` hex digits, or 32 without hyphens
/// (role assignment evidence).
fn is_guid(s: &str) -> bool {
    let hex =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [all] => hex(all, 32),
        [a, b, c, d, e] => hex(a, 8) && hex(b, 4) && hex(c, 4) && hex(d, 4) && hex(e, 12),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_in_both_azure_forms() {
        assert!(is_guid("f409edeb-4d29-44b5-9763-ee9348ad91bb"));
        assert!(is_guid("F409EDEB-4D29-44B5-9763-EE9348AD91BB"));
        assert!(is_guid("55555555555555555555555555555555"));
        for s in [
            "",
            "d4ba3e84-0444-4841-aaf7-XXXX",
            "123abc45-8211-44e3-95xq-85137af64708",
            "f409edeb4d29-44b5-9763-ee9348ad91bb",
            "f409edeb-4d29-44b5-9763-ee9348ad91bb-",
            "{f409edeb-4d29-44b5-9763-ee9348ad91bb}",
        ] {
            assert!(!is_guid(s), "{s}");
        }
    }

    #[test]
    fn addresses_are_parsed_and_canonical() {
        assert_eq!(ip("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("203.0.113.7:443").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("2001:DB8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        for s in ["<Redacted>", "", "1.2.3", "1.1.1.1, 2.2.2.2"] {
            assert_eq!(ip(s), None, "{s}");
        }
    }

    #[test]
    fn upn_splits_at_the_last_at_sign() {
        let acct = |upn: &str| {
            account(&Actor {
                upn: Some(upn.into()),
                ..Actor::default()
            })
        };
        let a = acct("live.com#username@outlook.com").unwrap();
        assert_eq!(a.name.as_deref(), Some("live.com#username"));
        assert_eq!(a.upn_suffix.as_deref(), Some("outlook.com"));
        let a = acct("no-suffix@").unwrap();
        assert_eq!(a.name.as_deref(), Some("no-suffix@"));
        assert_eq!(a.upn_suffix, None);
    }
}
