//! Dedup and threshold: at most one alert per rule, dedup string and event-time window.
//!
//! Windows are tumbling, `DedupPeriodMinutes` long and aligned to the Unix epoch, so every
//! replica and every re-run puts a record in the same window and computes the same `alert_id`.
//! A key raises its alert when its count in the window reaches `Threshold`; later records in
//! the window raise nothing. State is bounded: a window is evicted once the newest event time
//! seen (never trusted beyond an hour ahead of the clock) is more than [`LATENESS`] (or one
//! period, if longer) past its end, and the oldest windows go first when the key count exceeds
//! a cap. A record arriving later than that raises its alert again, with the same `alert_id`.

use crate::alert::{alert_id, record_alert_id, Origin};
use crate::rules::Rule;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// How late a record may arrive and still be deduplicated into its window. Activity Log
/// delivery is often delayed by minutes and partitions are read at different speeds.
pub const LATENESS: i64 = 24 * 3600;

/// Default cap on keys held across all rules and windows.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// What dedup decided for one matching record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Raise an alert with this id for the window starting at `window_start`.
    Emit {
        alert_id: String,
        window_start: OffsetDateTime,
    },
    /// Counted, but no alert: below the threshold or already raised in this window.
    Suppressed,
}

#[derive(Debug, Default)]
struct RuleWindows {
    period: i64,
    by_window: BTreeMap<i64, HashMap<String, u64>>,
    watermark: i64,
}

/// Dedup state of one replica.
#[derive(Debug)]
pub struct Deduper {
    enabled: bool,
    max_keys: usize,
    keys: usize,
    rules: HashMap<String, RuleWindows>,
}

impl Deduper {
    /// `enabled = false` raises one alert per matching record.
    pub fn new(enabled: bool) -> Self {
        Self::with_capacity(enabled, DEFAULT_MAX_KEYS)
    }

    pub fn with_capacity(enabled: bool, max_keys: usize) -> Self {
        Deduper {
            enabled,
            max_keys: max_keys.max(1),
            keys: 0,
            rules: HashMap::new(),
        }
    }

    /// Counts one matching record and decides whether it raises an alert.
    pub fn admit(
        &mut self,
        rule: &Rule,
        dedup: &str,
        event_time: OffsetDateTime,
        source: &Origin,
    ) -> Admission {
        let period = rule.dedup_period_minutes() as i64 * 60;
        let t = event_time.unix_timestamp();
        let start_secs = t.div_euclid(period) * period;
        let window_start =
            OffsetDateTime::from_unix_timestamp(start_secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        if !self.enabled {
            return Admission::Emit {
                alert_id: record_alert_id(rule.id(), dedup, source),
                window_start,
            };
        }
        let state = self.rules.entry(rule.id().to_string()).or_default();
        state.period = period;
        let trusted_until = OffsetDateTime::now_utc().unix_timestamp() + 3600;
        state.watermark = state.watermark.max(t.min(trusted_until));
        let window = state.by_window.entry(start_secs).or_default();
        let count = match window.get_mut(dedup) {
            Some(c) => {
                *c += 1;
                *c
            }
            None => {
                window.insert(dedup.to_string(), 1);
                self.keys += 1;
                1
            }
        };
        self.evict();
        if count == rule.threshold() {
            Admission::Emit {
                alert_id: alert_id(rule.id(), dedup, window_start),
                window_start,
            }
        } else {
            Admission::Suppressed
        }
    }

    fn evict(&mut self) {
        for state in self.rules.values_mut() {
            let period = state.period;
            let horizon = state.watermark - period - LATENESS.max(period);
            while let Some((&start, _)) = state.by_window.first_key_value() {
                if start > horizon {
                    break;
                }
                if let Some((_, keys)) = state.by_window.pop_first() {
                    self.keys -= keys.len();
                }
            }
        }
        while self.keys > self.max_keys {
            let oldest = self
                .rules
                .iter()
                .filter_map(|(id, s)| s.by_window.keys().next().map(|k| (*k, id.clone())))
                .min();
            let Some((_, id)) = oldest else { break };
            if let Some((_, keys)) = self
                .rules
                .get_mut(&id)
                .and_then(|s| s.by_window.pop_first())
            {
                self.keys -= keys.len();
            }
        }
    }
}

/// Something that decides dedup admissions: a [`Deduper`] owned by one caller, or one shared
/// behind a mutex and locked per admission only (so partitions detect in parallel).
pub trait Admit {
    fn admit(
        &mut self,
        rule: &Rule,
        dedup: &str,
        event_time: OffsetDateTime,
        source: &Origin,
    ) -> Admission;
}

impl Admit for Deduper {
    fn admit(
        &mut self,
        rule: &Rule,
        dedup: &str,
        event_time: OffsetDateTime,
        source: &Origin,
    ) -> Admission {
        Deduper::admit(self, rule, dedup, event_time, source)
    }
}

impl Admit for &std::sync::Mutex<Deduper> {
    fn admit(
        &mut self,
        rule: &Rule,
        dedup: &str,
        event_time: OffsetDateTime,
        source: &Origin,
    ) -> Admission {
        let mut d = self.lock().unwrap_or_else(|e| e.into_inner());
        d.admit(rule, dedup, event_time, source)
    }
}

/// The event time of a record: its `time` field when it is an RFC 3339 string, else `fallback`.
pub fn event_time(
    record: &serde_json::Map<String, serde_json::Value>,
    fallback: OffsetDateTime,
) -> OffsetDateTime {
    match crate::record::lookup(record, "time") {
        Some(serde_json::Value::String(s)) => {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .unwrap_or(fallback)
        }
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn rule() -> crate::rules::Rule {
        match RuleSet::embedded() {
            Ok(mut set) => set.rules.remove(0),
            Err(e) => panic!("{e}"),
        }
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_766_484_000 + secs)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn one_alert_per_key_and_window_with_stable_ids() {
        let r = rule();
        let src = Origin::File {
            path: "p".into(),
            line: 1,
            record_index: None,
        };
        let mut d = Deduper::new(true);
        let first = d.admit(&r, "k", at(60), &src);
        assert!(matches!(first, Admission::Emit { .. }));
        assert_eq!(d.admit(&r, "k", at(120), &src), Admission::Suppressed);
        let next_window = d.admit(&r, "k", at(3600 + 60), &src);
        assert!(matches!(next_window, Admission::Emit { .. }));
        assert_ne!(first, next_window);
        // Another replica computes the same id for the same key and window.
        assert_eq!(Deduper::new(true).admit(&r, "k", at(90), &src), first);
    }

    #[test]
    fn state_is_bounded() {
        let r = rule();
        let src = Origin::File {
            path: "p".into(),
            line: 1,
            record_index: None,
        };
        let mut d = Deduper::with_capacity(true, 10);
        for i in 0..100 {
            d.admit(&r, &format!("k{i}"), at(i * 3600), &src);
        }
        assert!(d.keys <= 10, "{} keys held", d.keys);
        // Old windows go once the watermark passes them by more than the lateness.
        let mut d = Deduper::new(true);
        d.admit(&r, "old", at(0), &src);
        d.admit(&r, "new", at(LATENESS + 3 * 3600), &src);
        assert_eq!(d.keys, 1);
    }
}
