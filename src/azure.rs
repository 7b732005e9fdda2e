//! Azure credentials from configuration: Entra ID token credentials and SAS connection strings.
//!
//! Secrets are read from the environment variable or file the configuration names, never from
//! the configuration itself or the command line, and never appear in errors.

use crate::config::{CredentialConfig, CredentialKind};
use azure_core::credentials::{Secret, TokenCredential};
use std::path::Path;
use std::sync::Arc;

/// A credential that could not be built; the message names the setting, not the secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// Reads a secret from an environment variable or a file (trailing newline trimmed).
pub fn read_secret(
    env: Option<&str>,
    file: Option<&Path>,
    what: &str,
) -> Result<String, CredentialError> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            _ => Err(CredentialError(format!(
                "{what}: environment variable {var} is not set or empty"
            ))),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            Ok(_) => Err(CredentialError(format!(
                "{what}: file {} is empty",
                path.display()
            ))),
            Err(e) => Err(CredentialError(format!(
                "{what}: cannot read {}: {e}",
                path.display()
            ))),
        };
    }
    Err(CredentialError(format!(
        "{what}: neither an environment variable nor a file is configured"
    )))
}

/// An Entra ID token credential of the configured kind.
pub fn token_credential(
    kind: CredentialKind,
    c: &CredentialConfig,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let fail =
        |what: &str, e: azure_core::Error| CredentialError(format!("{what} credential: {e}"));
    match kind {
        CredentialKind::ManagedIdentity => {
            let options = azure_identity::ManagedIdentityCredentialOptions {
                user_assigned_id: c
                    .client_id
                    .clone()
                    .map(azure_identity::UserAssignedId::ClientId),
                ..Default::default()
            };
            Ok(
                azure_identity::ManagedIdentityCredential::new(Some(options))
                    .map_err(|e| fail("managed identity", e))?,
            )
        }
        CredentialKind::WorkloadIdentity => {
            let options = azure_identity::WorkloadIdentityCredentialOptions {
                client_id: c.client_id.clone(),
                tenant_id: c.tenant_id.clone(),
                ..Default::default()
            };
            Ok(
                azure_identity::WorkloadIdentityCredential::new(Some(options))
                    .map_err(|e| fail("workload identity", e))?,
            )
        }
        CredentialKind::ClientSecret => {
            let tenant = c.tenant_id.as_deref().ok_or_else(|| {
                CredentialError("client-secret credential needs tenant_id".into())
            })?;
            let client = c.client_id.clone().ok_or_else(|| {
                CredentialError("client-secret credential needs client_id".into())
            })?;
            let secret = read_secret(
                c.client_secret_env.as_deref(),
                c.client_secret_file.as_deref(),
                "client secret",
            )?;
            Ok(azure_identity::ClientSecretCredential::new(
                tenant,
                client,
                Secret::new(secret),
                None,
            )
            .map_err(|e| fail("client secret", e))?)
        }
        CredentialKind::AzureCli => {
            let options = azure_identity::AzureCliCredentialOptions {
                tenant_id: c.tenant_id.clone(),
                ..Default::default()
            };
            Ok(azure_identity::AzureCliCredential::new(Some(options))
                .map_err(|e| fail("Azure CLI", e))?)
        }
        CredentialKind::ConnectionString => Err(CredentialError(
            "a connection string is not a token credential; use it where SAS is accepted".into(),
        )),
    }
}

/// The SAS connection string the configuration points at.
pub fn connection_string(c: &CredentialConfig) -> Result<String, CredentialError> {
    read_secret(
        c.connection_string_env.as_deref(),
        c.connection_string_file.as_deref(),
        "connection string",
    )
}

/// An Azure SDK error's message, its debug form and the message of every error in its source
/// chain: the SDK wraps AMQP conditions and status codes in errors whose messages do not
/// repeat them, so classifying an error means searching all of this.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    format!("{} {e:?}", error_chain(e))
}

/// An error's message followed by its sources' (`a: b: c`), skipping a source whose message
/// the previous one already contains: the SDK's wrappers often name only the operation.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let message = s.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapper(&'static str, #[source] std::io::Error);

    #[test]
    fn chains_name_every_cause_once() {
        let e = Wrapper(
            "Failed to update checkpoint",
            std::io::Error::other("No space left on device"),
        );
        assert_eq!(
            error_chain(&e),
            "Failed to update checkpoint: No space left on device"
        );
        // A wrapper that already repeats its cause is not repeated.
        let e = Wrapper("a: disk full", std::io::Error::other("disk full"));
        assert_eq!(error_chain(&e), "a: disk full");
        assert!(error_text(&e).contains("disk full"));
    }
}
