//! Panther simple detections: rules written as a `Detection:` block in YAML, with no code.

use super::{Logic, RuleError};
use crate::record::Record;

/// A parsed `Detection:` block with its title template and alert context.
#[derive(Debug)]
pub struct SimpleDetection {}

/// A `Detection:` block that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SimpleError {
    pub message: String,
    /// Text near the error, used to find its line in the file.
    pub anchor: String,
}

impl SimpleError {
    pub fn anchor(&self) -> &str {
        &self.anchor
    }
}

impl SimpleDetection {
    pub fn parse(
        _detection: &serde_norway::Value,
        _alert_title: Option<&str>,
        _alert_context: Option<&serde_norway::Value>,
        _group_by: Option<&serde_norway::Value>,
    ) -> Result<SimpleDetection, SimpleError> {
        Err(SimpleError {
            message: "simple detections are not implemented yet".into(),
            anchor: "Detection".into(),
        })
    }
}

impl Logic for SimpleDetection {
    fn matches(&self, _record: &Record) -> Result<bool, RuleError> {
        Ok(false)
    }
    fn title(&self, _record: &Record) -> Result<Option<String>, RuleError> {
        Ok(None)
    }
    fn needles(&self) -> Option<Vec<String>> {
        None
    }
}
