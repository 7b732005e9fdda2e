//! Azure credentials from configuration: Entra ID token credentials, SAS connection strings
//! and Blob Storage auth; and the Blob REST client ([`blob`]) the checkpoint store and the
//! backfill share.
//!
//! Secrets are read from the environment variable or file the configuration names, never from
//! the configuration itself or the command line, and never appear in errors.

pub mod blob;
pub mod settings;

use azure_core::credentials::{Secret, TokenCredential};
pub use settings::{BlobAuthConfig, CredentialConfig, CredentialKind};
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

/// The key naming where a connection string is (`connection_string_env` or `_file`).
pub fn connection_string_key(c: &CredentialConfig) -> &'static str {
    if c.connection_string_env.is_none() && c.connection_string_file.is_some() {
        "connection_string_file"
    } else {
        "connection_string_env"
    }
}

/// Parses a SAS connection string as the SDK does when it connects, and checks that its
/// `EntityPath` (if any) names `eventhub`, which the SDK also requires. The error names what is
/// wrong, never the secret.
pub fn parse_connection_string(
    cs: &str,
    eventhub: Option<&str>,
) -> Result<azure_messaging_eventhubs::ConnectionString, CredentialError> {
    let parsed: azure_messaging_eventhubs::ConnectionString = cs
        .parse()
        .map_err(|e| CredentialError(format!("the connection string cannot be parsed: {e}")))?;
    if let (Some(path), Some(hub)) = (parsed.entity_path.as_deref(), eventhub) {
        if path != hub {
            return Err(CredentialError(format!(
                "the connection string's EntityPath {path:?} is not the configured eventhub {hub:?}"
            )));
        }
    }
    Ok(parsed)
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

/// The [`blob::BlobAuth`] a section (`checkpoint`, `backfill`, for messages) names; secrets are
/// read from the environment here.
pub fn blob_auth(section: &str, auth: &BlobAuthConfig) -> Result<blob::BlobAuth, CredentialError> {
    match auth {
        BlobAuthConfig::Entra(e) => {
            let kind = e.credential.ok_or_else(|| {
                CredentialError(format!(
                    "{section}.credential is required for auth = \"entra\""
                ))
            })?;
            Ok(blob::BlobAuth::token(token_credential(
                kind,
                &e.credentials,
            )?))
        }
        BlobAuthConfig::Sas(s) => Ok(blob::BlobAuth::sas(read_secret(
            Some(&s.sas_env),
            None,
            &format!("{section} SAS token"),
        )?)),
        BlobAuthConfig::SharedKey(k) => {
            let key = read_secret(
                Some(&k.account_key_env),
                None,
                &format!("{section} account key"),
            )?;
            Ok(blob::BlobAuth::shared_key(&k.account_name, key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapper(&'static str, #[source] std::io::Error);

    #[test]
    fn connection_strings_are_checked_without_showing_the_key() {
        let good = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;EntityPath=hub";
        let parsed = parse_connection_string(good, Some("hub")).map_err(|e| e.0);
        assert_eq!(
            parsed.map(|p| p.fully_qualified_namespace),
            Ok("ns.servicebus.windows.net".to_string())
        );
        for (cs, hub, why) in [
            ("c2VjcmV0", Some("hub"), "cannot be parsed"),
            (
                "Endpoint=sb://ns/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0",
                None,
                "",
            ),
            (
                "Endpoint=ns.servicebus.windows.net;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0",
                None,
                "cannot be parsed",
            ),
            (
                "Endpoint=sb://ns/;SharedAccessKey=c2VjcmV0",
                None,
                "missing",
            ),
            (good, Some("other"), "EntityPath"),
        ] {
            match parse_connection_string(cs, hub) {
                Ok(_) => assert!(why.is_empty(), "{cs} should fail"),
                Err(e) => {
                    assert!(!why.is_empty() && e.0.contains(why), "{cs}: {}", e.0);
                    assert!(!e.0.contains("c2VjcmV0"), "the key leaked: {}", e.0);
                }
            }
        }
    }

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
