//! Panther simple detections: rules written as a `Detection:` block in YAML, with no code.
//!
//! - [`path`]: key specifiers (`Key`, `DeepKey`, `KeyPath`) and their case-insensitive lookup.
//! - [`condition`]: the conditions (`Equals`, `IsIn`, `IContains`, `IsIPAddressInCIDR`, ...).
//! - [`expr`]: match expressions and the combinators `All`, `Any`, `OnlyOne`, `None`.
//! - [`template`]: `AlertTitle` with `{field}` placeholders.
//! - [`output`]: `AlertContext` and `GroupBy`.
//! - [`ip`]: address parsing and Python's private/global address tables.
//!
//! Evaluation never fails: values of the wrong type simply do not satisfy a positive condition,
//! so a simple detection raises no rule errors.

pub mod condition;
pub mod expr;
pub mod ip;
pub mod output;
pub mod path;
pub mod template;

use super::{Logic, RuleError};
use crate::record::Record;
use expr::Expr;
use output::ContextEntry;
use path::KeyPath;
use serde_json::{Map, Value};
use template::Template;

/// A parsed `Detection:` block with its title template, alert context and group-by keys.
#[derive(Debug)]
pub struct SimpleDetection {
    /// The `Detection:` list (an implicit `All`).
    detection: Vec<Expr>,
    title: Option<Template>,
    context: Vec<ContextEntry>,
    group_by: Option<Vec<KeyPath>>,
}

/// A `Detection:` block that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SimpleError {
    pub message: String,
    /// Text near the error, used to find its line in the file.
    pub anchor: String,
    /// The top-level rule key the error is under (`Detection`, `AlertTitle`, ...), if known.
    pub section: Option<&'static str>,
}

impl SimpleError {
    pub fn new(message: impl Into<String>, anchor: impl Into<String>) -> Self {
        SimpleError {
            message: message.into(),
            anchor: anchor.into(),
            section: None,
        }
    }

    pub fn anchor(&self) -> &str {
        &self.anchor
    }

    fn in_section(mut self, section: &'static str) -> Self {
        self.section = Some(section);
        self
    }

    /// The 1-based line of the error in the rule file `text`: the first line holding the anchor
    /// at or after the line where the error's section starts (anywhere when the section is not
    /// found); 1 when the anchor does not occur.
    pub fn line_in(&self, text: &str) -> usize {
        let start = self
            .section
            .and_then(|section| {
                text.lines().position(|l| {
                    l.strip_prefix(section)
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                })
            })
            .unwrap_or(0);
        text.lines()
            .enumerate()
            .skip(start)
            .find(|(_, l)| l.contains(self.anchor.as_str()))
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| super::line_of(text, &self.anchor))
    }
}

impl SimpleDetection {
    pub fn parse(
        detection: &serde_norway::Value,
        alert_title: Option<&str>,
        alert_context: Option<&serde_norway::Value>,
        group_by: Option<&serde_norway::Value>,
    ) -> Result<SimpleDetection, SimpleError> {
        let detection =
            expr::parse_list(detection, "Detection", 0).map_err(|e| e.in_section("Detection"))?;
        let title = alert_title
            .map(Template::parse)
            .transpose()
            .map_err(|m| SimpleError::new(m, "AlertTitle").in_section("AlertTitle"))?;
        let context = match alert_context {
            Some(v) => output::parse_context(v).map_err(|e| e.in_section("AlertContext"))?,
            None => Vec::new(),
        };
        let group_by = group_by
            .map(output::parse_group_by)
            .transpose()
            .map_err(|e| e.in_section("GroupBy"))?;
        Ok(SimpleDetection {
            detection,
            title,
            context,
            group_by,
        })
    }
}

impl Logic for SimpleDetection {
    fn matches(&self, record: &Record) -> Result<bool, RuleError> {
        Ok(self.detection.iter().all(|e| e.eval(record.fields())))
    }

    fn title(&self, record: &Record) -> Result<Option<String>, RuleError> {
        Ok(self.title.as_ref().map(|t| t.render(record.fields())))
    }

    fn dedup(&self, record: &Record) -> Result<Option<String>, RuleError> {
        Ok(self
            .group_by
            .as_ref()
            .map(|paths| output::group_key(paths, record.fields())))
    }

    fn alert_context(&self, record: &Record) -> Result<Map<String, Value>, RuleError> {
        Ok(output::context(&self.context, record.fields()))
    }

    /// Needles of the implicit `All`: those of its most selective expression. Only positive
    /// string conditions with non-empty ASCII operands give needles: in pure-ASCII JSON text
    /// without backslashes a string value appears verbatim, so a value equal to, starting with,
    /// ending with or containing the operand (in any ASCII casing for the `I` forms) puts the
    /// operand in the text. `Any`/`OnlyOne` need needles from every child; `None`, negated
    /// conditions and non-string operands give none.
    fn needles(&self) -> Option<Vec<String>> {
        expr::all_needles(&self.detection)
    }
}

#[cfg(test)]
mod tests;
