//! Built-in Rust rules, bound to rule files by their Panther `Filename`.
//!
//! Panther's Python rules cannot run here; each port reproduces one upstream rule exactly
//! (see [`azure_activity`]) and carries the upstream rule's facts ([`Meta`]), so the pack runs
//! without Panther's YAML. A rule file naming the same `Filename` binds to the same logic with
//! its own metadata and tests. hubwatch's own built-ins ([`keyvault_dataplane`]) have no
//! upstream: their `Filename` and facts are hubwatch's.

pub mod azure_activity;
pub mod keyvault_dataplane;

use super::spec::Severity;
use super::Logic;
use std::sync::Arc;

/// The facts of an upstream rule that a port carries: what its YAML says about identity,
/// severity, grouping and alert fields. Descriptions are hubwatch's own words.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub rule_id: &'static str,
    pub display_name: &'static str,
    /// The upstream `Enabled`.
    pub enabled: bool,
    pub severity: Severity,
    pub description: &'static str,
    pub reference: &'static str,
    /// `DedupPeriodMinutes`, when the upstream rule sets it.
    pub dedup_period_minutes: Option<u64>,
    /// `Threshold`, when the upstream rule sets it.
    pub threshold: Option<u64>,
    /// `CreateAlert: false` makes a signal-only rule upstream.
    pub create_alert: bool,
    pub summary_attributes: &'static [&'static str],
    /// `Reports: MITRE ATT&CK`, as `TACTIC:TECHNIQUE`.
    pub mitre: &'static [&'static str],
}

/// One ported rule: the Python file it reproduces, its facts and its logic.
#[derive(Debug, Clone, Copy)]
pub struct Port {
    /// The `Filename` rule files bind by: the upstream Python file for a port of a Panther
    /// rule, `keyvault_dataplane/...` for hubwatch's own.
    pub filename: &'static str,
    pub meta: Meta,
    pub logic: fn() -> Arc<dyn Logic>,
}

/// Every built-in port.
pub fn ports() -> impl Iterator<Item = &'static Port> {
    azure_activity::ports().chain(keyvault_dataplane::ports())
}

/// The built-in logic for a Panther `Filename`, if hubwatch has one.
pub fn lookup(filename: &str) -> Option<Arc<dyn Logic>> {
    ports()
        .find(|p| p.filename == filename)
        .map(|p| (p.logic)())
}

/// The `Filename`s that have built-in logic.
pub fn names() -> Vec<&'static str> {
    ports().map(|p| p.filename).collect()
}
