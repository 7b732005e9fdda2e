//! The detection transform: one body in, alerts and dead letters out.
//!
//! For each body: [`decode`](crate::decode) splits it into records; a conservative prefilter
//! skips records that no rule can match (pure ASCII, no escapes, and none of the rules' needles
//! in any casing); the remaining records are parsed and run through every rule; matches go
//! through [`dedup`](crate::dedup) and become [`Alert`]s. Nothing here does I/O.

use crate::alert::{Alert, AlertInput, Origin};
use crate::dead_letter::{DeadLetter, EntryKind};
use crate::decode::{decode_body, excerpt, head, BodyError, DecodeLimits, DEAD_LETTER_HEAD};
use crate::dedup::{event_time, Admission, Admit};
use crate::prefilter::{Hits, Prefilter, Route};
use crate::record::Record;
use crate::rules::RuleSet;
use std::sync::Arc;
use time::OffsetDateTime;

/// Characters of raw input quoted in a log line or reason.
pub const EXCERPT_CHARS: usize = 160;

/// Counts for one or more bodies.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub bodies: u64,
    pub records: u64,
    pub matches: u64,
    pub alerts: u64,
    pub body_errors: u64,
    pub record_errors: u64,
    pub rule_errors: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.bodies += o.bodies;
        self.records += o.records;
        self.matches += o.matches;
        self.alerts += o.alerts;
        self.body_errors += o.body_errors;
        self.record_errors += o.record_errors;
        self.rule_errors += o.rule_errors;
    }

    /// Everything that went to the dead-letter file.
    pub fn errors(&self) -> u64 {
        self.body_errors + self.record_errors + self.rule_errors
    }

    /// The one-line summary `replay` prints to stderr.
    pub fn summary(&self) -> String {
        format!(
            "bodies={} records={} matches={} alerts={} errors={} (bodies={} records={} rules={})",
            self.bodies,
            self.records,
            self.matches,
            self.alerts,
            self.errors(),
            self.body_errors,
            self.record_errors,
            self.rule_errors
        )
    }
}

/// A problem with the input, ready for the log and the dead-letter file.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Stable name for metrics (`invalid_json`, `rule_error`, ...).
    pub kind: &'static str,
    /// A bounded excerpt of the offending input.
    pub excerpt: String,
    pub entry: DeadLetter,
}

/// What one body produced.
#[derive(Debug, Default)]
pub struct Processed {
    pub alerts: Vec<Alert>,
    pub problems: Vec<Problem>,
    pub stats: Stats,
}

impl Processed {
    /// A body rejected as a whole. Of an oversized one the entry keeps only the first
    /// [`DEAD_LETTER_HEAD`] bytes, so it stays a bounded line.
    pub fn rejected(error: BodyError, raw: &[u8], source: &Origin) -> Processed {
        let mut reason = error.to_string();
        let raw = match error {
            BodyError::TooLarge { .. } => {
                let kept = head(raw, DEAD_LETTER_HEAD);
                reason.push_str(&format!(
                    " (the entry keeps the first {} bytes)",
                    kept.len()
                ));
                kept
            }
            _ => raw,
        };
        Processed {
            alerts: Vec::new(),
            problems: vec![Problem {
                kind: error.kind(),
                excerpt: excerpt(raw, EXCERPT_CHARS),
                entry: DeadLetter::raw(EntryKind::Body, reason, Some(source.clone()), raw),
            }],
            stats: Stats {
                bodies: 1,
                body_errors: 1,
                ..Stats::default()
            },
        }
    }
}

/// Rules, prefilter and limits, shared by every partition.
#[derive(Debug)]
pub struct Detector {
    rules: Arc<RuleSet>,
    /// `None` when some rule cannot name needles: every record is then evaluated.
    prefilter: Option<Prefilter>,
    limits: DecodeLimits,
}

impl Detector {
    pub fn new(rules: Arc<RuleSet>, limits: DecodeLimits) -> Self {
        let needles: Option<Vec<Vec<String>>> =
            rules.rules.iter().map(|r| r.logic.needles()).collect();
        let prefilter = Prefilter::new(needles);
        Detector {
            rules,
            prefilter,
            limits,
        }
    }

    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// Runs one body through decode, rules and dedup: [`Detector::evaluate`], then
    /// [`Evaluated::admit`].
    ///
    /// `source` is the body's position; `now` is the detection time, used as the event time of
    /// records without a readable `time` (after the source's enqueued time).
    pub fn process(
        &self,
        body: &[u8],
        source: &Origin,
        dedup: &mut impl Admit,
        now: OffsetDateTime,
    ) -> Processed {
        self.evaluate(body, source, now).admit(dedup)
    }

    /// Decode, prefilter and rules: everything but dedup, so bodies can be evaluated in
    /// parallel and admitted in order.
    pub fn evaluate(&self, body: &[u8], source: &Origin, now: OffsetDateTime) -> Evaluated {
        let mut out = Evaluated::default();
        out.stats.bodies = 1;
        let decoded = match decode_body(body, &self.limits) {
            Ok(d) => d,
            Err(e) => return Processed::rejected(e, body, source).into(),
        };
        out.stats.records = decoded.total() as u64;
        for part in &decoded.parts {
            out.stats.body_errors += 1;
            let end = part.at + part.raw.len();
            out.items.push(Item::Problem(Box::new(Problem {
                kind: part.error.kind(),
                excerpt: excerpt(part.raw, EXCERPT_CHARS),
                entry: DeadLetter::raw(
                    EntryKind::Body,
                    format!("{} (bytes {}..{end} of the body)", part.error, part.at),
                    Some(source.clone()),
                    part.raw,
                ),
            })));
        }
        for bad in &decoded.bad {
            out.stats.record_errors += 1;
            let index = bad.error.index();
            out.items.push(Item::Problem(Box::new(Problem {
                kind: bad.error.kind(),
                excerpt: excerpt(bad.raw, EXCERPT_CHARS),
                entry: DeadLetter::raw(
                    EntryKind::Record,
                    bad.error.to_string(),
                    Some(source.with_record(index)),
                    bad.raw,
                ),
            })));
        }
        let scanned = self.prefilter.as_ref().map(|p| (p, p.scan(body)));
        if matches!(scanned, Some((_, Hits::None))) {
            return out;
        }
        let body_start = body.as_ptr() as usize;
        let fallback_time = source.enqueued_time().unwrap_or(now);
        for rec in &decoded.records {
            let route = match &scanned {
                None => Route::All,
                Some((prefilter, hits)) => {
                    // Record texts are slices of the body; anything else is scanned alone.
                    let start = (rec.text.as_ptr() as usize)
                        .checked_sub(body_start)
                        .filter(|s| s + rec.text.len() <= body.len());
                    let route = match start {
                        Some(s) => prefilter.route_in(hits, body, s..s + rec.text.len()),
                        None => prefilter.route(rec.text.as_bytes()),
                    };
                    match route {
                        Some(route) => route,
                        None => continue,
                    }
                }
            };
            let fields = match crate::record::parse_object(rec.text) {
                Ok(f) => f,
                Err(e) => {
                    // The decoder validated this text; a failure here is a limit such as depth.
                    out.stats.record_errors += 1;
                    out.items.push(Item::Problem(Box::new(Problem {
                        kind: "record_invalid_json",
                        excerpt: excerpt(rec.text.as_bytes(), EXCERPT_CHARS),
                        entry: DeadLetter::raw(
                            EntryKind::Record,
                            format!("record {} cannot be parsed: {e}", rec.index),
                            Some(source.with_record(rec.index)),
                            rec.text.as_bytes(),
                        ),
                    })));
                    continue;
                }
            };
            let record = Record::new(&fields);
            let record_source = source.with_record(rec.index);
            for (i, rule) in self.rules.rules.iter().enumerate() {
                if !route.includes(i) {
                    continue;
                }
                let detection = match rule.evaluate(&record) {
                    Ok(Some(d)) => d,
                    Ok(None) => continue,
                    Err(e) => {
                        out.stats.rule_errors += 1;
                        let mut entry = DeadLetter::raw(
                            EntryKind::RuleError,
                            format!("rule {} raised: {e}", rule.id()),
                            Some(record_source.clone()),
                            rec.text.as_bytes(),
                        );
                        entry.rule_id = Some(rule.id().to_string());
                        out.items.push(Item::Problem(Box::new(Problem {
                            kind: "rule_error",
                            excerpt: excerpt(rec.text.as_bytes(), EXCERPT_CHARS),
                            entry,
                        })));
                        continue;
                    }
                };
                out.stats.matches += 1;
                let event_time = event_time(&fields, fallback_time);
                // Built before admission (in parallel); admission sets the id and window.
                let alert = Alert::build(AlertInput {
                    rule,
                    detection,
                    record: &fields,
                    raw: rec.text,
                    source: record_source.clone(),
                    window_start: event_time,
                    alert_id: String::new(),
                    detected_at: now,
                })
                .map_err(|e| Problem {
                    kind: "alert_error",
                    excerpt: excerpt(rec.text.as_bytes(), EXCERPT_CHARS),
                    entry: DeadLetter::raw(
                        EntryKind::RuleError,
                        format!("alert for rule {} could not be built: {e}", rule.id()),
                        Some(record_source.clone()),
                        rec.text.as_bytes(),
                    ),
                });
                out.items.push(Item::Match {
                    rule: Arc::clone(&self.rules),
                    index: i,
                    event_time,
                    alert: Box::new(alert),
                });
            }
        }
        out
    }
}

/// One body evaluated, not yet through dedup: its problems and matches in input order.
#[derive(Debug, Default)]
pub struct Evaluated {
    items: Vec<Item>,
    stats: Stats,
}

#[derive(Debug)]
enum Item {
    Problem(Box<Problem>),
    Match {
        /// The rule set and the rule's index in it (a rule is not `Clone`).
        rule: Arc<RuleSet>,
        index: usize,
        event_time: OffsetDateTime,
        alert: Box<Result<Alert, Problem>>,
    },
}

impl From<Processed> for Evaluated {
    fn from(p: Processed) -> Self {
        Evaluated {
            items: p
                .problems
                .into_iter()
                .map(|p| Item::Problem(Box::new(p)))
                .collect(),
            stats: p.stats,
        }
    }
}

impl Evaluated {
    /// Dedup, in input order: the alerts dedup lets through, with their ids and windows.
    pub fn admit(self, dedup: &mut impl Admit) -> Processed {
        let mut out = Processed {
            stats: self.stats,
            ..Processed::default()
        };
        for item in self.items {
            let (rules, index, event_time, alert) = match item {
                Item::Problem(p) => {
                    out.problems.push(*p);
                    continue;
                }
                Item::Match {
                    rule,
                    index,
                    event_time,
                    alert,
                } => (rule, index, event_time, alert),
            };
            let mut alert = match *alert {
                Ok(alert) => alert,
                Err(problem) => {
                    // Counted, as before the split, only when dedup would have let it out.
                    out.stats.rule_errors += 1;
                    out.problems.push(problem);
                    continue;
                }
            };
            let rule = &rules.rules[index];
            match dedup.admit(rule, &alert.dedup, event_time, &alert.source) {
                Admission::Emit {
                    alert_id,
                    window_start,
                } => {
                    alert.alert_id = alert_id;
                    alert.window_start = window_start;
                    out.stats.alerts += 1;
                    out.alerts.push(alert);
                }
                Admission::Suppressed => {}
            }
        }
        out
    }
}
