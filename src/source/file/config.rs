//! `[source] kind = "file"`: which files the file source reads, and whether it follows the last.

use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// `[source] kind = "file"`: the files of bodies, one per line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// `path = "a"` or `path = ["a", "b"]`.
    #[serde(deserialize_with = "one_or_many")]
    pub path: Vec<PathBuf>,
    /// Keep reading lines appended to the last file instead of stopping at its end.
    #[serde(default)]
    pub follow: bool,
}

/// `path = "a"` or `path = ["a", "b"]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}
