//! Running rules' `Tests`, as Panther's test command does.
//!
//! A test passes when `rule()` returns the expected result and, for an expected `true`, title,
//! dedup string and alert context are computed without error.

use super::{Rule, RuleSet};
use crate::record::Record;
use serde_json::Value;

/// One failed test.
#[derive(Debug, Clone)]
pub struct TestFailure {
    pub rule_id: String,
    pub path: std::path::PathBuf,
    pub test: String,
    pub reason: String,
}

impl std::fmt::Display for TestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FAIL {} [{}] test {:?}: {}",
            self.rule_id,
            self.path.display(),
            self.test,
            self.reason
        )
    }
}

/// The outcome of every test of a rule set.
#[derive(Debug, Default)]
pub struct TestReport {
    pub passed: usize,
    pub failures: Vec<TestFailure>,
}

impl TestReport {
    pub fn failed(&self) -> usize {
        self.failures.len()
    }
}

/// Rules that cannot be used: a file does not load, or a rule's tests fail.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Load(#[from] super::LoadError),
    #[error("{failed} rule test(s) failed, refusing to start; first: {first}")]
    Tests { failed: usize, first: TestFailure },
}

/// Loads the selected rules and runs every test: the rule set the service and `replay` use,
/// refused whole if any test fails. The report says what loading skipped.
pub fn load_tested(
    options: &super::loader::RuleOptions,
) -> Result<(RuleSet, super::loader::LoadReport), RulesError> {
    let (set, load_report) = RuleSet::load(options)?;
    let report = run_all(&set);
    if let Some(first) = report.failures.first() {
        return Err(RulesError::Tests {
            failed: report.failed(),
            first: first.clone(),
        });
    }
    Ok((set, load_report))
}

/// Runs the tests of every rule, enabled or not.
pub fn run_all(set: &RuleSet) -> TestReport {
    let mut report = TestReport::default();
    for rule in set.rules.iter().chain(set.disabled.iter()) {
        run_rule(rule, &mut report);
    }
    report
}

/// Runs one rule's tests into `report`.
pub fn run_rule(rule: &Rule, report: &mut TestReport) {
    for test in &rule.spec.tests {
        match check(rule, &test.log, test.expected_result) {
            Ok(()) => report.passed += 1,
            Err(reason) => report.failures.push(TestFailure {
                rule_id: rule.id().to_string(),
                path: rule.path.clone(),
                test: test.name.clone(),
                reason,
            }),
        }
    }
}

fn check(rule: &Rule, log: &Value, expected: bool) -> Result<(), String> {
    let Value::Object(fields) = log else {
        return Err("Log is not a JSON object".into());
    };
    let record = Record::new(fields);
    let matched = rule
        .logic
        .matches(&record)
        .map_err(|e| format!("rule() raised: {e}"))?;
    if matched != expected {
        return Err(format!("expected {expected}, rule() returned {matched}"));
    }
    if expected {
        // Panther's test runs the other functions without their defaults: each must not raise.
        let raised = |f: &str, e: super::RuleError| format!("{f}() raised: {e}");
        rule.logic.title(&record).map_err(|e| raised("title", e))?;
        rule.logic.dedup(&record).map_err(|e| raised("dedup", e))?;
        rule.logic
            .alert_context(&record)
            .map_err(|e| raised("alert_context", e))?;
        if let Some(Err(e)) = rule.logic.severity(&record) {
            return Err(raised("severity", e));
        }
    }
    Ok(())
}
