//! The follow-up of a Key Vault alert: six hours (of event time) after it, one more message
//! with the same `alert_id` and `kind: "alert_update"`, whose `runbook_answers` adds the caller
//! IP's key, secret and certificate operations of the six hours *after* the alert
//! (`caller_ip_keyvault_operations_after`).
//!
//! Follow-ups are kept in the context store from the alert's event on (durable before that
//! event is checkpointed, like its operations) and forgotten once every sink acknowledged the
//! update, so a crash in between sends it again (same `alert_id`). They fall due when the
//! stream's event time (the newest operation this process wrote) passes their due time, so a
//! replay of the same stream sends the same updates at the same places.

use super::answers::{self, Limits, IP_WINDOW_MS};
use super::extract::extract;
use super::{ContextStore, FollowUp, KvOp, Query, StoreError};
use crate::alert::Alert;
use serde_json::{json, Map, Value};

/// The kind of a follow-up message.
pub(super) const ALERT_UPDATE: &str = "alert_update";

/// The alert's own record as a Key Vault operation, if it is one.
pub(super) fn subject(alert: &Alert) -> Option<KvOp> {
    let raw = alert.event.get();
    let fields = crate::record::parse_object(raw).ok()?;
    extract(&fields, raw, alert.detected_at)
}

/// The follow-ups to keep for these (answered) alerts: Key Vault alerts whose record names a
/// caller IP.
pub(super) fn plan(alerts: &[Alert]) -> Vec<FollowUp> {
    alerts
        .iter()
        .filter(|a| a.kind.is_none() && a.runbook_answers.is_some())
        .filter_map(|a| {
            let s = subject(a)?;
            (!s.caller_ip.is_empty()).then(|| FollowUp {
                alert_id: a.alert_id.clone(),
                due_ms: s.time_ms.saturating_add(IP_WINDOW_MS),
                alert: a.to_json(),
            })
        })
        .collect()
}

/// The update message of a due follow-up.
pub(super) async fn update(
    store: &dyn ContextStore,
    f: &FollowUp,
    limits: Limits,
) -> Result<Alert, StoreError> {
    let mut alert: Alert =
        serde_json::from_str(&f.alert).map_err(|e| StoreError::Data(e.to_string()))?;
    alert.kind = Some(ALERT_UPDATE.to_string());
    let Some(s) = subject(&alert) else {
        return Ok(alert);
    };
    let (from, to) = (s.time_ms, s.time_ms.saturating_add(IP_WINDOW_MS));
    let n = limits.max_query_records.saturating_add(1);
    let mut ops = store
        .query(&Query::CallerIp(s.caller_ip.clone()), from, to, n)
        .await?;
    // Strictly after the alert's record (time, then id), never the record itself.
    ops.retain(|o| o.order() > s.order());
    ops.sort_by(|a, b| a.order().cmp(&b.order()));
    let truncated = ops.len() > limits.max_query_records;
    ops.truncate(limits.max_query_records);
    let after = answers::ip_summary(&s, &ops, truncated, from, to, limits.newest_records);
    let mut answers = match alert.runbook_answers.take() {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(Value::Object(before)) = answers.get_mut("caller_ip_keyvault_operations") {
        before.insert(
            "after".into(),
            json!({"status": "sent", "in": ALERT_UPDATE}),
        );
    }
    answers.insert("caller_ip_keyvault_operations_after".into(), after);
    alert.runbook_answers = Some(Value::Object(answers));
    Ok(alert)
}
