//! Reading a Key Vault `AuditEvent` record: operation, outcome, vault, object and caller.
//!
//! The shape is the one Key Vault writes to diagnostic settings (Microsoft's "Azure Key Vault
//! logging" field table): `operationName` (`KeyGet`, ...), `resultSignature` (the HTTP reason
//! phrase), `properties.httpStatusCode`, `properties.id` (the object URI
//! `https://VAULT.vault.azure.net/keys/NAME/VERSION`), `properties.requestUri`, and the token's
//! claims under `identity.claim`. Every lookup ignores key case as Panther's does (first
//! spelling wins), and every reader answers `None` rather than failing on an odd shape.

use crate::record::{lookup, Record};
use serde_json::{Map, Value};

/// The kind of vault object an operation touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Key,
    Secret,
    Certificate,
}

impl Family {
    pub fn noun(self) -> &'static str {
        match self {
            Family::Key => "key",
            Family::Secret => "secret",
            Family::Certificate => "certificate",
        }
    }

    /// The alert-context key that names the object.
    pub fn context_key(self) -> &'static str {
        match self {
            Family::Key => "key_name",
            Family::Secret => "secret_name",
            Family::Certificate => "certificate_name",
        }
    }

    /// URI path segments followed by the object name: live objects, and the soft-deleted ones
    /// a recover request names (`POST /deletedkeys/NAME/recover`).
    fn collections(self) -> &'static [&'static str] {
        match self {
            Family::Key => &["keys", "deletedkeys"],
            Family::Secret => &["secrets", "deletedsecrets"],
            Family::Certificate => &["certificates", "deletedcertificates"],
        }
    }
}

/// What an operation does to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Recover,
    Restore,
}

/// One watched `operationName`.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub name: &'static str,
    pub family: Family,
    pub action: Action,
}

/// The data-plane reads, recoveries and restores that the Activity Log rules of the Key Vault
/// family watch for, as Key Vault names them in `AuditEvent`.
pub const OPERATIONS: &[Operation] = &[
    op("KeyGet", Family::Key, Action::Read),
    op("KeyRecover", Family::Key, Action::Recover),
    op("KeyRestore", Family::Key, Action::Restore),
    op("SecretGet", Family::Secret, Action::Read),
    op("SecretRecover", Family::Secret, Action::Recover),
    op("SecretRestore", Family::Secret, Action::Restore),
    op("CertificateGet", Family::Certificate, Action::Read),
];

const fn op(name: &'static str, family: Family, action: Action) -> Operation {
    Operation {
        name,
        family,
        action,
    }
}

/// The operation names of `family` (all families for `None`), lower-cased: prefilter needles.
/// They are sound because [`operation`] compares names ASCII case-insensitively, so a matching
/// record spells one of them, in some ASCII casing, in its raw text.
pub fn needles(family: Option<Family>) -> Vec<String> {
    OPERATIONS
        .iter()
        .filter(|o| family.is_none_or(|f| o.family == f))
        .map(|o| o.name.to_ascii_lowercase())
        .collect()
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    lookup(map, key).and_then(Value::as_str)
}

fn properties<'a>(record: &Record<'a>) -> Option<&'a Map<String, Value>> {
    record.get("properties").and_then(Value::as_object)
}

/// `category` is `AuditEvent` (the only category Key Vault writes).
pub fn is_audit_event(record: &Record) -> bool {
    text(record.fields(), "category").is_some_and(|c| c.eq_ignore_ascii_case("AuditEvent"))
}

/// The watched operation this record reports, if any.
pub fn operation(record: &Record) -> Option<&'static Operation> {
    let name = text(record.fields(), "operationName")?;
    OPERATIONS
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(name))
}

/// Where the HTTP status of a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSource {
    HttpStatusCode,
    ResultSignature,
}

impl StatusSource {
    pub fn field(self) -> &'static str {
        match self {
            StatusSource::HttpStatusCode => "properties.httpStatusCode",
            StatusSource::ResultSignature => "resultSignature",
        }
    }
}

/// The HTTP status Key Vault answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub source: StatusSource,
}

impl Status {
    pub fn succeeded(self) -> bool {
        (200..300).contains(&self.code)
    }
}

/// The request's HTTP status: `properties.httpStatusCode` (a number, or digits in a string),
/// else the reason phrase in `resultSignature` (`OK`, `Forbidden`, `Not Found`, ...), else
/// unknown. `resultType` is never consulted: Key Vault writes `Success` for 403s and 404s too.
pub fn status(record: &Record) -> Option<Status> {
    let from_code = properties(record)
        .and_then(|p| lookup(p, "httpStatusCode"))
        .and_then(status_code)
        .map(|code| Status {
            code,
            source: StatusSource::HttpStatusCode,
        });
    from_code.or_else(|| {
        let code = match record.get("resultSignature")? {
            Value::String(s) => signature_code(s),
            other => status_code(other),
        }?;
        Some(Status {
            code,
            source: StatusSource::ResultSignature,
        })
    })
}

fn status_code(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => valid_code(u),
            // 200.0 from a pipeline that retyped the field; fractions are not statuses.
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..1000.0).contains(f))
                .and_then(|f| valid_code(f as u64)),
        },
        Value::String(s) => code_in_text(s),
        _ => None,
    }
}

fn code_in_text(s: &str) -> Option<u16> {
    s.trim().parse::<u64>().ok().and_then(valid_code)
}

fn valid_code(code: u64) -> Option<u16> {
    u16::try_from(code).ok().filter(|c| (100..600).contains(c))
}

/// Reason phrases as Key Vault writes them (`OK`, `Not Found`, `Bad Request`), compared without
/// case, spaces or punctuation; digits are taken as the code itself.
const REASONS: &[(&str, u16)] = &[
    ("ok", 200),
    ("created", 201),
    ("accepted", 202),
    ("nonauthoritativeinformation", 203),
    ("nocontent", 204),
    ("resetcontent", 205),
    ("partialcontent", 206),
    ("badrequest", 400),
    ("unauthorized", 401),
    ("forbidden", 403),
    ("notfound", 404),
    ("methodnotallowed", 405),
    ("conflict", 409),
    ("gone", 410),
    ("preconditionfailed", 412),
    ("requestentitytoolarge", 413),
    ("toomanyrequests", 429),
    ("internalservererror", 500),
    ("notimplemented", 501),
    ("badgateway", 502),
    ("serviceunavailable", 503),
    ("gatewaytimeout", 504),
];

fn signature_code(signature: &str) -> Option<u16> {
    if let Some(code) = code_in_text(signature) {
        return Some(code);
    }
    let folded: String = signature
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    REASONS
        .iter()
        .find(|(phrase, _)| *phrase == folded)
        .map(|(_, code)| *code)
}

/// The vault name as the resource id spells it (`.../VAULTS/NAME`, upper-case in Key Vault
/// logs), else the first DNS label of the object or request URI's host.
pub fn vault_name<'a>(record: &Record<'a>) -> Option<&'a str> {
    let from_id = text(record.fields(), "resourceId").and_then(|id| {
        let mut segments = id.split('/');
        segments.find(|s| s.eq_ignore_ascii_case("vaults"))?;
        segments.next().filter(|s| !s.is_empty())
    });
    from_id.or_else(|| {
        let props = properties(record)?;
        ["id", "requestUri"]
            .iter()
            .find_map(|k| text(props, k).and_then(host_label))
    })
}

fn host_label(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    let host = rest.split(['/', '?', '#', ':']).next()?;
    host.split('.').next().filter(|l| !l.is_empty())
}

/// The object's name: from `properties.id` (the object URI), else from `properties.requestUri`
/// except for a restore, whose request (`POST /keys/restore`) names no object.
pub fn object_name<'a>(record: &Record<'a>, op: &Operation) -> Option<&'a str> {
    let props = properties(record)?;
    let collections = op.family.collections();
    let from_id = text(props, "id").and_then(|u| name_in_uri(u, collections));
    from_id.or_else(|| {
        if op.action == Action::Restore {
            return None;
        }
        text(props, "requestUri").and_then(|u| name_in_uri(u, collections))
    })
}

/// The segment after the first of `collections` in the URI's path.
fn name_in_uri<'a>(uri: &'a str, collections: &[&str]) -> Option<&'a str> {
    let path = match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => uri,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    segments.find(|s| collections.iter().any(|c| s.eq_ignore_ascii_case(c)))?;
    segments.next()
}

/// Who made the request, from the token's claims (`identity.claim`), and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub upn: Option<String>,
    pub appid: Option<String>,
    pub oid: Option<String>,
    /// `xms_mirid`: the resource id of a managed identity.
    pub managed_identity: Option<String>,
    pub ip: Option<String>,
}

/// Claim names Key Vault writes: short JWT names, or the full URIs of older tokens (as in the
/// logging doc's example), first present wins.
const UPN: &[&str] = &[
    "upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "unique_name",
];
const APPID: &[&str] = &["appid"];
const OID: &[&str] = &[
    "oid",
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
];
const MANAGED_IDENTITY: &[&str] = &["xms_mirid"];

impl Caller {
    pub fn of(record: &Record) -> Caller {
        // `identity` is an object in Key Vault's records; a pipeline may have kept it as JSON
        // text, which is parsed (and ignored when it is not an object).
        let parsed;
        let identity = match record.get("identity") {
            Some(Value::String(s)) => {
                parsed = crate::record::parse_object(s).ok().map(Value::Object);
                parsed.as_ref()
            }
            other => other,
        };
        let claims = identity
            .and_then(Value::as_object)
            .and_then(|i| lookup(i, "claim"))
            .and_then(Value::as_object);
        let claim = |names: &[&str]| -> Option<String> {
            let claims = claims?;
            names
                .iter()
                .find_map(|n| text(claims, n).filter(|v| !v.is_empty()))
                .map(str::to_string)
        };
        Caller {
            upn: claim(UPN),
            appid: claim(APPID),
            oid: claim(OID),
            managed_identity: claim(MANAGED_IDENTITY),
            ip: text(record.fields(), "callerIpAddress")
                .filter(|v| !v.is_empty())
                .map(str::to_string),
        }
    }

    /// The caller as a person reads it: the user, else the application, else the principal's
    /// object id, else the address.
    pub fn display(&self) -> Option<&str> {
        [&self.upn, &self.appid, &self.oid, &self.ip]
            .into_iter()
            .find_map(|v| v.as_deref())
    }

    /// The caller as dedup groups it: the most stable identifier first.
    pub fn principal(&self) -> Option<&str> {
        [&self.oid, &self.appid, &self.upn, &self.ip]
            .into_iter()
            .find_map(|v| v.as_deref())
    }
}

/// Inserts `value` under `key` when it is present.
pub fn put(ctx: &mut Map<String, Value>, key: &str, value: Option<&Value>) {
    if let Some(v) = value {
        ctx.insert(key.to_string(), v.clone());
    }
}

/// The alert context every data-plane rule shares: what was touched, how Key Vault answered,
/// who asked and how the request was authorized.
pub fn context(record: &Record, op: Option<&Operation>) -> Map<String, Value> {
    let f = record.fields();
    let props = properties(record);
    let prop = |k: &str| props.and_then(|p| lookup(p, k));
    let caller = Caller::of(record);
    let mut ctx = Map::new();
    let s = |v: Option<&str>| v.map(|v| Value::String(v.to_string()));
    put(&mut ctx, "vault_name", s(vault_name(record)).as_ref());
    if let Some(op) = op {
        let name = s(object_name(record, op));
        put(&mut ctx, op.family.context_key(), name.as_ref());
    }
    put(&mut ctx, "object_id", prop("id"));
    put(&mut ctx, "operation_name", lookup(f, "operationName"));
    let status = status(record);
    ctx.insert(
        "http_status_code".into(),
        status.map_or(Value::Null, |s| Value::from(s.code)),
    );
    put(
        &mut ctx,
        "status_from",
        s(status.map(|s| s.source.field())).as_ref(),
    );
    put(&mut ctx, "result_signature", lookup(f, "resultSignature"));
    put(&mut ctx, "caller", s(caller.display()).as_ref());
    for (key, v) in [
        ("caller_upn", &caller.upn),
        ("caller_appid", &caller.appid),
        ("caller_oid", &caller.oid),
        ("caller_managed_identity", &caller.managed_identity),
        ("caller_ip", &caller.ip),
    ] {
        put(&mut ctx, key, s(v.as_deref()).as_ref());
    }
    put(&mut ctx, "client_info", prop("clientInfo"));
    put(&mut ctx, "is_rbac_authorized", prop("isRbacAuthorized"));
    put(
        &mut ctx,
        "is_access_policy_match",
        prop("isAccessPolicyMatch"),
    );
    put(&mut ctx, "correlation_id", lookup(f, "correlationId"));
    put(&mut ctx, "resource_id", lookup(f, "resourceId"));
    put(&mut ctx, "request_uri", prop("requestUri"));
    ctx
}
