//! The Blob Storage auth of a configuration section (`[checkpoint]`, `[backfill]`), checked as
//! `azure::blob_auth` will use it at start, so that `check-config` refuses what `run` would.

use super::{check_client_secret, invalid, ConfigError, CredentialConfig, CredentialKind};

/// One section's choice.
pub struct BlobAuthChoice<'a> {
    pub section: &'a str,
    pub auth: Option<&'a str>,
    pub credential: Option<CredentialKind>,
    pub credential_config: &'a CredentialConfig,
    pub sas_env: Option<&'a str>,
    pub account_name: Option<&'a str>,
    pub account_key_env: Option<&'a str>,
}

impl BlobAuthChoice<'_> {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{}.{k}", self.section);
        match self.auth.unwrap_or("entra") {
            "entra" => match self.credential {
                None => Err(invalid(
                    &key("credential"),
                    "required for auth = \"entra\" (managed-identity, workload-identity, client-secret or azure-cli)",
                )),
                Some(CredentialKind::ConnectionString) => Err(invalid(
                    &key("credential"),
                    "\"connection-string\" is for Event Hubs; Blob Storage takes auth = \"sas\" or \"shared-key\"",
                )),
                Some(CredentialKind::ClientSecret) => {
                    check_client_secret(self.section, self.credential_config)
                }
                Some(_) => Ok(()),
            },
            "sas" if self.sas_env.is_none() => Err(invalid(
                &key("sas_env"),
                "required for auth = \"sas\"",
            )),
            "shared-key" if self.account_name.is_none() => Err(invalid(
                &key("account_name"),
                "required for auth = \"shared-key\"",
            )),
            "shared-key" if self.account_key_env.is_none() => Err(invalid(
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
}
