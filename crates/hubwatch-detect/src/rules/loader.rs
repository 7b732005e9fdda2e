//! Which rules run: the built-in rules a configuration selects, plus the rule files of a
//! directory laid out as Panther's repository is.
//!
//! A directory is read recursively (hidden folders skipped); each YAML file is recognised by
//! its `AnalysisType`. Rules are kept; global helpers, data models, packs, policies, queries
//! and lookup tables are accepted and counted; rules for log types hubwatch does not read are
//! skipped and counted. A rule hubwatch cannot run (its Python has no port, or it uses a
//! feature hubwatch lacks) is *unsupported*: loading fails naming every one, unless the caller
//! asks to skip them. A selection that leaves no enabled rule is an error: a detection service
//! that detects nothing must not start quietly.

use super::builtin;
use super::{line_of, load_rule, LoadError, Rule, RuleSet, AZURE_MONITOR_ACTIVITY, EMBEDDED_RULES};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The built-in rules enabled when a configuration says nothing: Panther's Key Vault family
/// and hubwatch's own data-plane (AuditEvent) Key Vault rules.
pub const DEFAULT_BUILTIN: &[&str] = &[
    "Azure.MonitorActivity.KeyVault.*",
    "Azure.KeyVault.AuditEvent.*",
];

/// What to load.
#[derive(Debug, Clone)]
pub struct RuleOptions {
    /// Rule ids (with `*` wildcards) of the built-in rules to enable; `["*"]` enables all.
    pub builtin: Vec<String>,
    /// A rules directory (e.g. a panther-analysis checkout); its rules replace built-ins with
    /// the same `RuleID`.
    pub dir: Option<PathBuf>,
    /// Load what can run and report the rest instead of failing.
    pub skip_unsupported: bool,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            builtin: DEFAULT_BUILTIN.iter().map(|s| s.to_string()).collect(),
            dir: None,
            skip_unsupported: false,
        }
    }
}

impl RuleOptions {
    /// Only the rules of `dir` (what `hubwatch test --rules DIR` checks).
    pub fn dir_only(dir: &Path) -> Self {
        RuleOptions {
            builtin: Vec::new(),
            dir: Some(dir.to_path_buf()),
            skip_unsupported: false,
        }
    }
}

/// A rule that cannot run here, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub path: PathBuf,
    /// The line that makes it unsupported (its `Filename`, its `InlineFilters`).
    pub line: usize,
    pub rule_id: String,
    pub reason: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.path.display(),
            self.line,
            self.rule_id,
            self.reason
        )
    }
}

/// What loading found besides the rules it kept.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// YAML files read from the directory.
    pub files: usize,
    /// Rules skipped because hubwatch does not read their log types, by their first log type.
    pub other_log_types: BTreeMap<String, usize>,
    /// Files of other analysis types (global, datamodel, pack, policy, ...), by type.
    pub other_kinds: BTreeMap<String, usize>,
    /// YAML files without an `AnalysisType` (CI workflows, test scenarios).
    pub not_analysis: usize,
    pub unsupported: Vec<Unsupported>,
}

impl LoadReport {
    /// One line for the log or the terminal; `None` when there is nothing to say.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        let other: usize = self.other_log_types.values().sum();
        if other > 0 {
            let top: Vec<String> = self
                .other_log_types
                .iter()
                .map(|(t, n)| format!("{t}: {n}"))
                .take(6)
                .collect();
            let more = if self.other_log_types.len() > 6 {
                ", ..."
            } else {
                ""
            };
            parts.push(format!(
                "skipped {other} rule(s) for log types hubwatch does not read ({}{more})",
                top.join(", ")
            ));
        }
        if !self.other_kinds.is_empty() {
            let kinds: Vec<String> = self
                .other_kinds
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            parts.push(format!("accepted other files ({})", kinds.join(", ")));
        }
        if self.not_analysis > 0 {
            parts.push(format!(
                "ignored {} YAML file(s) without AnalysisType",
                self.not_analysis
            ));
        }
        if !self.unsupported.is_empty() {
            let names: Vec<&str> = self
                .unsupported
                .iter()
                .map(|u| u.rule_id.as_str())
                .take(10)
                .collect();
            let more = if self.unsupported.len() > 10 {
                ", ..."
            } else {
                ""
            };
            parts.push(format!(
                "{} unsupported rule(s) skipped: {}{more}",
                self.unsupported.len(),
                names.join(", ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Whether `id` matches a pattern where `*` stands for any run of characters.
pub fn id_matches(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first) || id.len() < first.len() + last.len() || !id.ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl RuleSet {
    /// Loads the selected built-ins and the directory's rules; see the module doc.
    pub fn load(options: &RuleOptions) -> Result<(RuleSet, LoadReport), LoadError> {
        let mut report = LoadReport::default();
        let mut from_dir = Vec::new();
        if let Some(dir) = &options.dir {
            let mut paths = Vec::new();
            collect_yaml(dir, &mut paths)?;
            paths.sort();
            report.files = paths.len();
            for path in paths {
                if let Some(rule) = read_file(&path, &mut report)? {
                    from_dir.push(rule);
                }
            }
        }
        if !report.unsupported.is_empty() && !options.skip_unsupported {
            return Err(LoadError::Unsupported(report.unsupported.clone()));
        }
        let mut set = RuleSet::default();
        let selected = |id: &str| options.builtin.iter().any(|p| id_matches(p, id));
        let dir_ids: Vec<String> = from_dir.iter().map(|r| r.id().to_string()).collect();
        let wanted = |id: &str| selected(id) && !dir_ids.iter().any(|d| d == id);
        // Only the embedded files a load selects are parsed: parsing all five (their tests
        // included) was 12% of the instructions of a 300-body replay with `--rules`.
        for (name, id, text) in EMBEDDED_RULES {
            if wanted(id) {
                set.add(load_rule(Path::new(name), text)?)?;
            }
        }
        for port in builtin::ports() {
            let id = port.meta.rule_id;
            // A shipped file stands for the port of the same rule.
            if wanted(id) && !EMBEDDED_RULES.iter().any(|(_, e, _)| *e == id) {
                set.add(Rule::from_port(port))?;
            }
        }
        for rule in from_dir {
            set.add(rule)?;
        }
        if set.rules.is_empty() {
            return Err(LoadError::NoRules {
                dir: options.dir.clone(),
                builtin: options.builtin.clone(),
            });
        }
        Ok((set, report))
    }

    fn add(&mut self, rule: Rule) -> Result<(), LoadError> {
        let all = self.rules.iter().chain(self.disabled.iter());
        if let Some(other) = all.into_iter().find(|r| r.id() == rule.id()) {
            return Err(LoadError::Duplicate {
                path: rule.path.clone(),
                rule_id: rule.spec.rule_id.clone(),
                other: other.path.clone(),
            });
        }
        if rule.spec.enabled {
            self.rules.push(rule);
        } else {
            self.disabled.push(rule);
        }
        Ok(())
    }
}

/// Every `*.yml`/`*.yaml` below `dir`, hidden folders (`.git`, `.github`) left out.
fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let err = |source| LoadError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let path = entry.map_err(err)?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_yaml(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml") | Some("yaml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// The analysis types of Panther's repository that are not streaming rules.
const OTHER_KINDS: &[&str] = &[
    "global",
    "datamodel",
    "pack",
    "policy",
    "scheduled_rule",
    "correlation_rule",
    "scheduled_query",
    "saved_query",
    "lookup_table",
    "derived",
];

/// One file: `Some(rule)` for a rule hubwatch runs; the rest is counted in `report`.
fn read_file(path: &Path, report: &mut LoadReport) -> Result<Option<Rule>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(1);
        LoadError::Invalid {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        }
    })?;
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let Some(kind) = field("AnalysisType") else {
        if value.get("RuleID").is_some() {
            return Err(LoadError::Invalid {
                path: path.to_path_buf(),
                line: line_of(&text, "RuleID"),
                message: "a rule file needs an AnalysisType".into(),
            });
        }
        report.not_analysis += 1;
        return Ok(None);
    };
    if kind != "rule" {
        if OTHER_KINDS.contains(&kind.as_str()) {
            *report.other_kinds.entry(kind).or_default() += 1;
            return Ok(None);
        }
        return Err(LoadError::Invalid {
            path: path.to_path_buf(),
            line: line_of(&text, "AnalysisType"),
            message: format!("unknown AnalysisType {kind:?}"),
        });
    }
    let log_types: Vec<String> = value
        .get("LogTypes")
        .and_then(|v| v.as_sequence())
        .map(|s| {
            s.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !log_types.is_empty() && !log_types.iter().any(|t| t == AZURE_MONITOR_ACTIVITY) {
        let first = log_types.first().cloned().unwrap_or_default();
        *report.other_log_types.entry(first).or_default() += 1;
        return Ok(None);
    }
    if let Some((reason, key)) = unsupported_reason(&value) {
        report.unsupported.push(Unsupported {
            path: path.to_path_buf(),
            line: line_of(&text, key),
            rule_id: field("RuleID").unwrap_or_default(),
            reason,
        });
        return Ok(None);
    }
    load_rule(path, &text).map(Some)
}

/// Why a rule for our log type cannot run here, judged before strict parsing: the reason and
/// the key whose line it names.
fn unsupported_reason(value: &serde_norway::Value) -> Option<(String, &'static str)> {
    if value.get("InlineFilters").is_some() {
        return Some(("InlineFilters are not supported".into(), "InlineFilters"));
    }
    if value.get("Detection").is_some() {
        return None;
    }
    match value.get("Filename").and_then(|v| v.as_str()) {
        Some(f) if builtin::lookup(f).is_none() => Some((
            format!("its Python ({f}) has no port in hubwatch (`hubwatch rules` lists the ported rules)"),
            "Filename",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(id_matches("*", "a.b"));
        assert!(id_matches(
            "Azure.MonitorActivity.KeyVault.*",
            "Azure.MonitorActivity.KeyVault.Deleted"
        ));
        assert!(!id_matches(
            "Azure.MonitorActivity.KeyVault.*",
            "Azure.MonitorActivity.Disk.Deleted"
        ));
        assert!(id_matches("a*c*e", "abcde"));
        assert!(!id_matches("a*c*e", "ace_"));
        assert!(id_matches("exact", "exact"));
        assert!(!id_matches("ab*ba", "aba"));
    }

    #[test]
    fn default_selection_is_the_key_vault_family() {
        let (set, _) = RuleSet::load(&RuleOptions::default()).expect("built-ins load");
        assert!(set.rules.iter().all(|r| {
            r.id().starts_with("Azure.MonitorActivity.KeyVault.")
                || r.id().starts_with("Azure.KeyVault.AuditEvent.")
        }));
        assert!(set
            .rules
            .iter()
            .any(|r| r.id() == "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered"));
    }

    #[test]
    fn nothing_selected_is_an_error() {
        let options = RuleOptions {
            builtin: vec!["No.Such.*".into()],
            ..RuleOptions::default()
        };
        assert!(matches!(
            RuleSet::load(&options),
            Err(LoadError::NoRules { .. })
        ));
    }

    #[test]
    fn embedded_ids_are_their_files_and_every_one_loads() {
        for (name, id, text) in EMBEDDED_RULES {
            let rule = load_rule(Path::new(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rule.id(), *id, "{name}");
        }
        // Selected by id, each shipped file replaces the port of the same rule.
        let (set, _) = RuleSet::load(&RuleOptions {
            builtin: vec!["*".into()],
            ..RuleOptions::default()
        })
        .expect("built-ins load");
        for (name, id, _) in EMBEDDED_RULES {
            let rules: Vec<_> = set.rules.iter().filter(|r| r.id() == *id).collect();
            assert_eq!(rules.len(), 1, "{id}");
            assert_eq!(rules[0].path, Path::new(name), "{id}");
        }
    }
}
