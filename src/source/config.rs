//! `[source]` configuration: one struct per kind, chosen by `kind` ([`SourceConfig`]), each
//! beside its source (`eventhubs/config.rs`, `file.rs`).

use super::eventhubs::config::EventHubsSourceConfig;
use super::file::FileSourceConfig;
use crate::config::tagged::{self, KeyError};
use serde::{Deserialize, Deserializer};

/// Which source feeds the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Eventhubs,
    File,
    Stdin,
}

impl SourceKind {
    /// The configuration's spelling (`source.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Eventhubs => "eventhubs",
            SourceKind::File => "file",
            SourceKind::Stdin => "stdin",
        }
    }
}

/// `[source]`.
// One value per process: boxing the large variant would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Eventhubs(EventHubsSourceConfig),
    File(FileSourceConfig),
    Stdin(StdinSourceConfig),
}

/// `kind = "stdin"`: lines of standard input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {
    /// Keep reading after the end of input.
    #[serde(default)]
    pub follow: bool,
}

impl SourceConfig {
    /// The kind.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceConfig::Eventhubs(_) => SourceKind::Eventhubs,
            SourceConfig::File(_) => SourceKind::File,
            SourceConfig::Stdin(_) => SourceKind::Stdin,
        }
    }

    /// The Event Hubs source's keys, when that is the kind.
    pub fn eventhubs(&self) -> Option<&EventHubsSourceConfig> {
        match self {
            SourceConfig::Eventhubs(c) => Some(c),
            _ => None,
        }
    }

    /// Reads the section: `kind`, then that kind's keys (see [`tagged`] for why this is not
    /// `#[serde(tag = "kind")]`).
    pub fn from_table(mut table: toml::Table) -> Result<SourceConfig, KeyError> {
        let kinds =
            [SourceKind::Eventhubs, SourceKind::File, SourceKind::Stdin].map(SourceKind::as_str);
        let kind = tagged::take_tag(&mut table, "kind", &kinds)?
            .ok_or_else(|| KeyError::new("kind", format!("required (one of {kinds:?})")))?;
        let required = format!("for kind = {kind:?}");
        Ok(match kind {
            "eventhubs" => SourceConfig::Eventhubs(tagged::from_table(table, &required)?),
            "file" => SourceConfig::File(tagged::from_table(table, &required)?),
            _ => SourceConfig::Stdin(tagged::from_table(table, &required)?),
        })
    }
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SourceConfig::from_table(tagged::table(d)?).map_err(KeyError::into_de)
    }
}
