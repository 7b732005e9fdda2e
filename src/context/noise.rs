//! Noise control from the identity's history, opt-in per rule (`[[context.noise]]`): alerts
//! stay exactly what the rules make unless a policy names their rule.
//!
//! A policy can raise an alert's severity one level when the identity is new to the vault
//! (`raise_if_new_for_vault`), and suppress an alert when the identity used the same vault
//! within the last `suppress_if_seen_on_vault_within_days` days (of event time, before the
//! alert). Both read `runbook_answers.identity_history`; an alert whose answers are not `ok`
//! (store unavailable) is never suppressed or raised. What a policy did is written into
//! `runbook_answers.noise_control`.

use crate::alert::Alert;
use crate::rules::loader::id_matches;
use crate::rules::spec::Severity;
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One `[[context.noise]]` policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoisePolicy {
    /// Rule ids (`*` wildcards) the policy applies to.
    pub rules: Vec<String>,
    #[serde(default)]
    pub raise_if_new_for_vault: bool,
    #[serde(default)]
    pub suppress_if_seen_on_vault_within_days: Option<u64>,
}

impl NoisePolicy {
    pub fn validate(&self) -> Result<(), String> {
        if self.rules.is_empty() {
            return Err("rules: name at least one rule id".into());
        }
        if !self.raise_if_new_for_vault && self.suppress_if_seen_on_vault_within_days.is_none() {
            return Err(
                "set raise_if_new_for_vault or suppress_if_seen_on_vault_within_days".into(),
            );
        }
        if self.suppress_if_seen_on_vault_within_days == Some(0) {
            return Err("suppress_if_seen_on_vault_within_days: must be at least 1".into());
        }
        Ok(())
    }
}

/// What noise control decided for one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Keep,
    Suppress,
}

fn raised(s: Severity) -> Severity {
    match s {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

fn time_of(v: &Value) -> Option<OffsetDateTime> {
    v.as_str()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// Applies the first policy naming the alert's rule.
pub(super) fn apply(policies: &[NoisePolicy], alert: &mut Alert) -> Verdict {
    let Some(policy) = policies
        .iter()
        .find(|p| p.rules.iter().any(|r| id_matches(r, &alert.rule_id)))
    else {
        return Verdict::Keep;
    };
    let Some(Value::Object(answers)) = alert.runbook_answers.as_mut() else {
        return Verdict::Keep;
    };
    if answers.get("status").and_then(Value::as_str) != Some("ok") {
        return Verdict::Keep;
    }
    let history = answers
        .get("identity_history")
        .cloned()
        .unwrap_or(Value::Null);
    if history.is_null() {
        return Verdict::Keep;
    }
    let as_of = answers.get("as_of").and_then(time_of);
    if let (Some(days), Some(last), Some(as_of)) = (
        policy.suppress_if_seen_on_vault_within_days,
        time_of(&history["last_seen_on_vault"]),
        as_of,
    ) {
        let days_i = i64::try_from(days).unwrap_or(i64::MAX);
        if as_of - last <= time::Duration::days(days_i) {
            metrics::counter!("hubwatch_context_suppressed_total", "rule" => alert.rule_id.clone())
                .increment(1);
            return Verdict::Suppress;
        }
    }
    if policy.raise_if_new_for_vault && history["new_for_vault"] == json!(true) {
        let from = alert.severity;
        alert.severity = raised(from);
        answers.insert(
            "noise_control".into(),
            json!({"action": "severity_raised", "from": from.as_str(), "to": alert.severity.as_str(), "why": "identity new for the vault"}),
        );
    }
    Verdict::Keep
}
