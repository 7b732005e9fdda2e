//! What configuration says about Azure credentials: which kind, its ids and where its secrets
//! are. Kept with the credential code (not in `config`), so that the sinks, the source and the
//! blob client read it without depending on the whole configuration.

use crate::config::tagged::{self, KeyError};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// How to authenticate to Azure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    ManagedIdentity,
    WorkloadIdentity,
    ClientSecret,
    AzureCli,
    ConnectionString,
}

/// Credential settings shared by the Event Hubs source and the Azure sinks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// Client id of a user-assigned managed identity, workload identity or app registration.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Environment variable holding the client secret (`credential = "client-secret"`).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Environment variable holding an Event Hubs SAS connection string.
    #[serde(default)]
    pub connection_string_env: Option<String>,
    /// File holding an Event Hubs SAS connection string.
    #[serde(default)]
    pub connection_string_file: Option<PathBuf>,
}

/// How a section that reads Blob Storage (`[checkpoint] kind = "blob"`, `[backfill]`)
/// authenticates, chosen by its `auth` key (default `entra`). Flattened into both sections, so
/// the keys are declared once, here.
#[derive(Debug, Clone)]
pub enum BlobAuthConfig {
    /// `auth = "entra"`: an Entra ID token from `credential`.
    Entra(EntraBlobAuth),
    /// `auth = "sas"`: a SAS token in the environment variable `sas_env`.
    Sas(SasBlobAuth),
    /// `auth = "shared-key"`: the account and the environment variable holding its key.
    SharedKey(SharedKeyBlobAuth),
}

/// `auth = "entra"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraBlobAuth {
    /// Required where the section is used (checked by `Config::validate`, since `[backfill]`
    /// is read only by `hubwatch backfill`).
    #[serde(default)]
    pub credential: Option<CredentialKind>,
    /// The credential settings of `[source]`, for the storage credential.
    #[serde(flatten)]
    pub credentials: CredentialConfig,
}

/// `auth = "sas"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SasBlobAuth {
    /// Environment variable holding the SAS token.
    pub sas_env: String,
}

/// `auth = "shared-key"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedKeyBlobAuth {
    pub account_name: String,
    /// Environment variable holding the account key.
    pub account_key_env: String,
}

impl Default for BlobAuthConfig {
    fn default() -> Self {
        BlobAuthConfig::Entra(EntraBlobAuth::default())
    }
}

/// Every key [`BlobAuthConfig`] takes from its section, whatever `auth` is: a key of another
/// choice is then refused naming it, and keys of the section itself are left to it.
const BLOB_AUTH_KEYS: &[&str] = &[
    "auth",
    "credential",
    "client_id",
    "tenant_id",
    "client_secret_env",
    "client_secret_file",
    "connection_string_env",
    "connection_string_file",
    "sas_env",
    "account_name",
    "account_key_env",
];

impl BlobAuthConfig {
    /// The `auth` choice as written.
    pub fn as_str(&self) -> &'static str {
        match self {
            BlobAuthConfig::Entra(_) => "entra",
            BlobAuthConfig::Sas(_) => "sas",
            BlobAuthConfig::SharedKey(_) => "shared-key",
        }
    }

    /// Reads the keys of the section's `auth` choice (see [`crate::config::tagged`] for why
    /// this is not `#[serde(tag = "auth")]`).
    pub fn from_table(mut table: toml::Table) -> Result<BlobAuthConfig, KeyError> {
        let auth = tagged::take_tag(&mut table, "auth", &["entra", "sas", "shared-key"])?
            .unwrap_or("entra");
        let required = format!("for auth = {auth:?}");
        Ok(match auth {
            "entra" => BlobAuthConfig::Entra(tagged::from_table(table, &required)?),
            "sas" => BlobAuthConfig::Sas(tagged::from_table(table, &required)?),
            _ => BlobAuthConfig::SharedKey(tagged::from_table(table, &required)?),
        })
    }
}

impl<'de> Deserialize<'de> for BlobAuthConfig {
    /// Asks for its keys by name (`deserialize_struct`), which is what lets the section
    /// flatten it: serde hands a flattened struct only the keys it names.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = toml::Table;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the auth keys of a section")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<toml::Table, A::Error> {
                let mut table = toml::Table::new();
                while let Some((k, v)) = map.next_entry::<String, toml::Value>()? {
                    table.insert(k, v);
                }
                Ok(table)
            }
        }
        let table = d.deserialize_struct("BlobAuthConfig", BLOB_AUTH_KEYS, Keys)?;
        BlobAuthConfig::from_table(table).map_err(KeyError::into_de)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blob_auth_keys_hold_every_credential_key() {
        for key in crate::config::tagged::field_names::<CredentialConfig>() {
            assert!(BLOB_AUTH_KEYS.contains(key), "{key}");
        }
    }
}
