//! The `runbook_answers` object: the Key Vault runbook's three questions, answered from the
//! context store as of the alert's event time.
//!
//! Deterministic: every answer reads only records with an event time at or before the alert's
//! (and not the alert's own record), ordered by time then id, so a replay of the same stream
//! answers the same. Windows: `caller_ip_keyvault_operations` the 6 hours before, `key_usage`
//! and `identity_history` the retention period (30 days by default) before.

use super::{ContextStore, KvOp, Query, StoreError};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Six hours, the runbook's window around the caller IP.
pub(super) const IP_WINDOW_MS: i64 = 6 * 3_600_000;

/// Limits of one answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub history_ms: i64,
    pub newest_records: usize,
    pub max_query_records: usize,
}

/// What the three questions read, fetched from the store.
pub(super) struct Fetched {
    pub by_ip: Option<Vec<KvOp>>,
    pub by_key: Option<Vec<KvOp>>,
    pub by_identity: Option<Vec<KvOp>>,
}

/// Runs the three queries for `subject` (the alert's own record).
pub(super) async fn fetch(
    store: &dyn ContextStore,
    subject: &KvOp,
    limits: Limits,
) -> Result<Fetched, StoreError> {
    let t = subject.time_ms;
    // One more than the limit: the subject itself may be among them.
    let n = limits.max_query_records.saturating_add(1);
    let by_ip = match subject.caller_ip.as_str() {
        "" => None,
        ip => Some(
            store
                .query(&Query::CallerIp(ip.to_string()), t - IP_WINDOW_MS, t, n)
                .await?,
        ),
    };
    let by_key = if subject.object_type == "key" && !subject.object.is_empty() {
        let q = Query::Key {
            vault: subject.vault.clone(),
            key: subject.object.clone(),
        };
        Some(store.query(&q, t - limits.history_ms, t, n).await?)
    } else {
        None
    };
    let by_identity = match subject.identity.as_str() {
        "" => None,
        id => Some(
            store
                .query(
                    &Query::Identity(id.to_string()),
                    t - limits.history_ms,
                    t,
                    n,
                )
                .await?,
        ),
    };
    Ok(Fetched {
        by_ip,
        by_key,
        by_identity,
    })
}

fn rfc3339(ms: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn window(from: i64, to: i64) -> Value {
    json!({"from": rfc3339(from), "to": rfc3339(to)})
}

/// Keeps the records other than the subject, oldest first (time, then id), and says whether
/// the store had more than `max` of them.
fn prepare(mut ops: Vec<KvOp>, subject: &KvOp, max: usize) -> (Vec<KvOp>, bool) {
    ops.retain(|o| o.id != subject.id && o.time_ms <= subject.time_ms);
    ops.sort_by(|a, b| b.order().cmp(&a.order()));
    let truncated = ops.len() > max;
    ops.truncate(max);
    ops.reverse();
    (ops, truncated)
}

fn counts<'a>(it: impl Iterator<Item = &'a str>) -> Value {
    let mut m: BTreeMap<&str, u64> = BTreeMap::new();
    for k in it {
        *m.entry(k).or_default() += 1;
    }
    Value::Object(
        m.into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect(),
    )
}

fn brief(o: &KvOp) -> Value {
    json!({
        "time": rfc3339(o.time_ms),
        "vault": o.vault,
        "object_type": o.object_type,
        "object": o.object,
        "operation": o.operation,
        "outcome": o.outcome,
        "identity": o.identity,
        "identity_name": o.identity_name,
        "correlation_id": o.correlation_id,
    })
}

/// Counts by operation and vault and the newest records of `ops` (oldest first) from the
/// subject's caller IP in `from..=to`.
pub(super) fn ip_summary(
    subject: &KvOp,
    ops: &[KvOp],
    truncated: bool,
    from: i64,
    to: i64,
    newest: usize,
) -> Value {
    let newest: Vec<Value> = ops.iter().rev().take(newest).map(brief).collect();
    json!({
        "caller_ip": subject.caller_ip,
        "window": window(from, to),
        "count": ops.len(),
        "truncated": truncated,
        "by_operation": counts(ops.iter().map(|o| o.operation.as_str())),
        "by_vault": counts(ops.iter().map(|o| o.vault.as_str())),
        "newest": newest,
    })
}

/// The answers object (`status: "ok"`).
pub(super) fn build(
    store_kind: &str,
    subject: &KvOp,
    fetched: Fetched,
    limits: Limits,
) -> Map<String, Value> {
    let t = subject.time_ms;
    let max = limits.max_query_records;
    let mut out = Map::new();
    out.insert("status".into(), "ok".into());
    out.insert("store".into(), store_kind.into());
    out.insert("as_of".into(), rfc3339(t));
    out.insert(
        "caller_ip_keyvault_operations".into(),
        match fetched.by_ip {
            None => Value::Null,
            Some(ops) => {
                let (ops, truncated) = prepare(ops, subject, max);
                let mut v = ip_summary(
                    subject,
                    &ops,
                    truncated,
                    t - IP_WINDOW_MS,
                    t,
                    limits.newest_records,
                );
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "after".into(),
                        json!({"status": "pending", "until": rfc3339(t + IP_WINDOW_MS)}),
                    );
                }
                v
            }
        },
    );
    out.insert(
        "key_usage".into(),
        match fetched.by_key {
            None => Value::Null,
            Some(ops) => {
                let (ops, truncated) = prepare(ops, subject, max);
                let mut ids: BTreeMap<&str, (u64, i64, &str)> = BTreeMap::new();
                for o in &ops {
                    let e = ids.entry(o.identity.as_str()).or_insert((0, i64::MIN, ""));
                    e.0 += 1;
                    if o.time_ms >= e.1 {
                        e.1 = o.time_ms;
                        e.2 = o.identity_name.as_str();
                    }
                }
                let identities: Vec<Value> = ids
                    .into_iter()
                    .map(|(id, (count, last, name))| json!({"identity": id, "identity_name": name, "count": count, "last_seen": rfc3339(last)}))
                    .collect();
                json!({
                    "vault": subject.vault,
                    "key": subject.object,
                    "window": window(t - limits.history_ms, t),
                    "count": ops.len(),
                    "truncated": truncated,
                    "identities": identities,
                })
            }
        },
    );
    out.insert(
        "identity_history".into(),
        match fetched.by_identity {
            None => Value::Null,
            Some(ops) => {
                let (ops, truncated) = prepare(ops, subject, max);
                let vaults: BTreeSet<&str> = ops.iter().map(|o| o.vault.as_str()).filter(|v| !v.is_empty()).collect();
                let on_vault: Vec<&KvOp> = ops.iter().filter(|o| o.vault == subject.vault).collect();
                json!({
                    "identity": subject.identity,
                    "identity_name": subject.identity_name,
                    "window": window(t - limits.history_ms, t),
                    "first_seen": ops.first().map_or(Value::Null, |o| rfc3339(o.time_ms)),
                    "count": ops.len(),
                    "truncated": truncated,
                    "vaults": vaults.into_iter().collect::<Vec<_>>(),
                    "vault": subject.vault,
                    "new_for_vault": on_vault.is_empty(),
                    "last_seen_on_vault": on_vault.last().map_or(Value::Null, |o| rfc3339(o.time_ms)),
                })
            }
        },
    );
    out
}

/// The answers object when the store could not answer in time.
pub(super) fn unavailable(store_kind: &str, error: &StoreError) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("status".into(), "unavailable".into());
    out.insert("store".into(), store_kind.into());
    out.insert("error".into(), error.to_string().into());
    out
}

/// The answers object for an alert whose record hubwatch does not read as a Key Vault operation.
pub(super) fn not_applicable(store_kind: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("status".into(), "not_applicable".into());
    out.insert("store".into(), store_kind.into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: &str, time_ms: i64, vault: &str, identity: &str) -> KvOp {
        KvOp {
            id: id.into(),
            time_ms,
            vault: vault.into(),
            object_type: "key".into(),
            object: "k".into(),
            operation: "KeySign".into(),
            outcome: "success".into(),
            caller_ip: "1.2.3.4".into(),
            identity: identity.into(),
            identity_name: String::new(),
            correlation_id: String::new(),
            crypto: true,
        }
    }

    #[test]
    fn answers_leave_out_the_subject_and_later_records() {
        let subject = op("s", 1000, "kv", "me");
        let limits = Limits {
            history_ms: 10_000,
            newest_records: 1,
            max_query_records: 10,
        };
        let all = vec![
            op("a", 10, "other", "me"),
            op("b", 20, "other", "you"),
            subject.clone(),
            op("z", 2000, "kv", "me"),
        ];
        let a = build(
            "sqlite",
            &subject,
            Fetched {
                by_ip: Some(all.clone()),
                by_key: Some(all.clone()),
                by_identity: Some(all.into_iter().filter(|o| o.identity == "me").collect()),
            },
            limits,
        );
        let ip = &a["caller_ip_keyvault_operations"];
        assert_eq!(ip["count"], 2);
        assert_eq!(ip["newest"][0]["identity"], "you");
        assert_eq!(
            a["key_usage"]["identities"].as_array().map(Vec::len),
            Some(2)
        );
        let h = &a["identity_history"];
        assert_eq!(h["count"], 1);
        assert_eq!(h["new_for_vault"], true);
        assert_eq!(h["vaults"], json!(["other"]));
        assert_eq!(h["first_seen"], "1970-01-01T00:00:00.01Z");
    }
}
