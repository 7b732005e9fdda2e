//! The Blob Storage auth of a configuration section (`[checkpoint]`, `[backfill]`): the one
//! place its [`BlobAuthSettings`] are read from the section, and checked as
//! `azure::blob_auth` will use them at start, so that `check-config` refuses what `run` would.

use super::{check_client_secret, invalid, BackfillConfig, CheckpointConfig, ConfigError};
use crate::azure::{BlobAuthSettings, CredentialKind};

impl CheckpointConfig {
    pub fn blob_auth_settings(&self) -> BlobAuthSettings<'_> {
        BlobAuthSettings {
            section: "checkpoint",
            auth: self.auth.as_deref(),
            credential: self.credential,
            credential_config: &self.credential_config,
            sas_env: self.sas_env.as_deref(),
            account_name: self.account_name.as_deref(),
            account_key_env: self.account_key_env.as_deref(),
        }
    }
}

impl BackfillConfig {
    pub fn blob_auth_settings(&self) -> BlobAuthSettings<'_> {
        BlobAuthSettings {
            section: "backfill",
            auth: self.auth.as_deref(),
            credential: self.credential,
            credential_config: &self.credential_config,
            sas_env: self.sas_env.as_deref(),
            account_name: self.account_name.as_deref(),
            account_key_env: self.account_key_env.as_deref(),
        }
    }
}

/// The keys `azure::blob_auth` will need for the section's choice.
pub(super) fn validate(s: &BlobAuthSettings<'_>) -> Result<(), ConfigError> {
    let key = |k: &str| format!("{}.{k}", s.section);
    match s.auth.unwrap_or("entra") {
        "entra" => match s.credential {
            None => Err(invalid(
                &key("credential"),
                "required for auth = \"entra\" (managed-identity, workload-identity, client-secret or azure-cli)",
            )),
            Some(CredentialKind::ConnectionString) => Err(invalid(
                &key("credential"),
                "\"connection-string\" is for Event Hubs; Blob Storage takes auth = \"sas\" or \"shared-key\"",
            )),
            Some(CredentialKind::ClientSecret) => check_client_secret(s.section, s.credential_config),
            Some(_) => Ok(()),
        },
        "sas" if s.sas_env.is_none() => Err(invalid(&key("sas_env"), "required for auth = \"sas\"")),
        "shared-key" if s.account_name.is_none() => Err(invalid(
            &key("account_name"),
            "required for auth = \"shared-key\"",
        )),
        "shared-key" if s.account_key_env.is_none() => Err(invalid(
            &key("account_key_env"),
            "required for auth = \"shared-key\"",
        )),
        "sas" | "shared-key" => Ok(()),
        other => Err(invalid(
            &key("auth"),
            format!("{other:?} is not one of \"entra\", \"sas\", \"shared-key\""),
        )),
    }
}
