//! The one validation of a configuration: what types cannot say (required keys per kind,
//! consistent choices, unique sink names). Every error names its key.

use super::{
    invalid, CheckpointKind, Config, ConfigError, CredentialConfig, CredentialKind, SourceKind,
};

impl Config {
    /// Checks what types cannot: required keys per kind, consistent choices.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.source;
        match s.kind {
            SourceKind::Eventhubs => {
                if s.eventhub.as_deref().unwrap_or_default().is_empty() {
                    return Err(invalid(
                        "source.eventhub",
                        "required when source.kind = \"eventhubs\"",
                    ));
                }
                let credential = s.credential.ok_or_else(|| {
                    invalid(
                        "source.credential",
                        "required when source.kind = \"eventhubs\" (managed-identity, workload-identity, client-secret, azure-cli or connection-string)",
                    )
                })?;
                if credential == CredentialKind::ConnectionString {
                    if s.auth.connection_string_env.is_none()
                        && s.auth.connection_string_file.is_none()
                    {
                        return Err(invalid(
                            "source.connection_string_env",
                            "credential = \"connection-string\" needs connection_string_env or connection_string_file",
                        ));
                    }
                } else if s.namespace.as_deref().unwrap_or_default().is_empty() {
                    return Err(invalid(
                        "source.namespace",
                        "required when source.kind = \"eventhubs\"",
                    ));
                }
                if credential == CredentialKind::ClientSecret {
                    check_client_secret("source", &s.auth)?;
                }
                if let Some(ep) = &s.custom_endpoint {
                    if !(ep.starts_with("amqp://")
                        || ep.starts_with("amqps://")
                        || ep.starts_with("sb://"))
                    {
                        return Err(invalid(
                            "source.custom_endpoint",
                            "must start with amqp://, amqps:// or sb://",
                        ));
                    }
                }
                if s.ownership_expiry_secs <= s.update_interval_secs {
                    return Err(invalid(
                        "source.ownership_expiry_secs",
                        "must be greater than source.update_interval_secs",
                    ));
                }
            }
            SourceKind::File => {
                if s.path.is_empty() {
                    return Err(invalid(
                        "source.path",
                        "required when source.kind = \"file\"",
                    ));
                }
            }
            SourceKind::Stdin => {}
        }
        if self.checkpoint.kind == CheckpointKind::Blob {
            if self.checkpoint.container_url.is_none() {
                return Err(invalid(
                    "checkpoint.container_url",
                    "required when checkpoint.kind = \"blob\"",
                ));
            }
            if self.source.kind != SourceKind::Eventhubs {
                return Err(invalid(
                    "checkpoint.kind",
                    "\"blob\" needs source.kind = \"eventhubs\"",
                ));
            }
            super::blob_auth::validate(&self.checkpoint.blob_auth_settings())?;
        }
        if self.checkpoint.interval_events == 0 {
            return Err(invalid("checkpoint.interval_events", "must be at least 1"));
        }
        if self.service.channel_capacity == 0 {
            return Err(invalid("service.channel_capacity", "must be at least 1"));
        }
        if self.service.max_body_bytes == 0 {
            return Err(invalid("service.max_body_bytes", "must be at least 1"));
        }
        if self.sinks.is_empty() {
            return Err(invalid("sinks", "at least one [[sinks]] is required"));
        }
        for (i, sink) in self.sinks.iter().enumerate() {
            sink.validate()
                .map_err(|(key, message)| invalid(&format!("sinks[{i}].{key}"), message))?;
        }
        self.context
            .validate()
            .map_err(|(key, message)| invalid(&format!("context.{key}"), message))?;
        if let Err(crate::sink::SinkBuildError::DuplicateName { index, name }) =
            crate::sink::names(&self.sinks)
        {
            return Err(invalid(
                &format!("sinks[{index}].name"),
                format!("{name:?} is already the name of an earlier sink (names must be unique)"),
            ));
        }
        Ok(())
    }
}

/// Checks that a client-secret credential names where its secret is.
pub fn check_client_secret(section: &str, c: &CredentialConfig) -> Result<(), ConfigError> {
    if c.tenant_id.is_none() || c.client_id.is_none() {
        return Err(invalid(
            &format!("{section}.tenant_id"),
            "client-secret needs tenant_id and client_id",
        ));
    }
    if c.client_secret_env.is_none() && c.client_secret_file.is_none() {
        return Err(invalid(
            &format!("{section}.client_secret_env"),
            "client-secret needs client_secret_env or client_secret_file",
        ));
    }
    Ok(())
}
