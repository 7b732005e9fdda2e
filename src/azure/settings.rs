//! What configuration says about Azure credentials: which kind, its ids and where its secrets
//! are. Kept with the credential code (not in `config`), so that the sinks, the source and the
//! blob client read it without depending on the whole configuration.

use serde::Deserialize;
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
