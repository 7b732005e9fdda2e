//! The one validation of a configuration: what the types cannot say (values in range,
//! either-or keys, choices that must agree, unique sink names). A key a kind requires, or one
//! it does not take, is already refused when the section is read (`source::config`,
//! `checkpoint::config`, `sink::config`, `azure::settings`). Every error names its key.

use super::{invalid, BackfillConfig, Config, ConfigError, CredentialConfig, CredentialKind};
use crate::azure::BlobAuthConfig;
use crate::config::tagged::KeyError;
use crate::config::SourceConfig;
use crate::sink::config::SENTINEL_MAX_BODY_BYTES;
use crate::sink::{SinkConfig, SinkKindConfig, WebhookAuth};

impl Config {
    /// Checks what types cannot: consistent choices, values in range, unique sink names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.source {
            SourceConfig::Eventhubs(s) => {
                if s.eventhub.is_empty() {
                    return Err(invalid(
                        "source.eventhub",
                        "required when source.kind = \"eventhubs\"",
                    ));
                }
                if s.credential == CredentialKind::ConnectionString {
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
                if s.credential == CredentialKind::ClientSecret {
                    check_client_secret("source", &s.auth)?;
                }
                if let Some(ep) = &s.custom_endpoint {
                    check_amqp_endpoint(ep).map_err(|m| invalid("source.custom_endpoint", m))?;
                }
                if s.ownership_expiry_secs <= s.update_interval_secs {
                    return Err(invalid(
                        "source.ownership_expiry_secs",
                        "must be greater than source.update_interval_secs",
                    ));
                }
            }
            SourceConfig::File(f) => {
                if f.path.is_empty() {
                    return Err(invalid(
                        "source.path",
                        "required when source.kind = \"file\"",
                    ));
                }
            }
            SourceConfig::Stdin(_) => {}
        }
        if let Some(blob) = self.checkpoint.blob() {
            if self.source.eventhubs().is_none() {
                return Err(invalid(
                    "checkpoint.kind",
                    "\"blob\" needs source.kind = \"eventhubs\"",
                ));
            }
            blob_auth("checkpoint", &blob.auth)?;
        }
        if self.checkpoint.cadence.interval_events == 0 {
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
        for (i, s) in self.sinks.iter().enumerate() {
            sink(s).map_err(|e| invalid(&format!("sinks[{i}].{}", e.key), e.message))?;
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

/// One `[[sinks]]` entry (also checked when a sink is built on its own); the key is relative
/// to the entry.
pub(crate) fn sink(cfg: &SinkConfig) -> Result<(), KeyError> {
    let kind = cfg.kind_str();
    let need = |key: &str, value: &str| {
        if value.trim().is_empty() {
            Err(KeyError::new(
                key,
                format!("required for kind = \"{kind}\""),
            ))
        } else {
            Ok(())
        }
    };
    let err = |key: &str, message: &str| Err(KeyError::new(key, message));
    match &cfg.kind {
        SinkKindConfig::Stdout(_) => {}
        SinkKindConfig::File(f) => {
            if f.max_bytes.is_some_and(|b| b > 0) && f.max_files == 0 {
                return err("max_files", "must be at least 1 when max_bytes is set");
            }
        }
        SinkKindConfig::Webhook(w) => {
            need("url", &w.url)?;
            check_http_url("url", &w.url)?;
            match w.auth {
                WebhookAuth::None => {}
                WebhookAuth::Bearer => {
                    if w.token_env.is_none() && w.token_file.is_none() {
                        return err(
                            "token_env",
                            "auth = \"bearer\" needs token_env or token_file",
                        );
                    }
                }
                WebhookAuth::Entra => {
                    need("scope", w.scope.as_deref().unwrap_or_default())?;
                    let credential = w.credential.ok_or_else(|| {
                        KeyError::new(
                            "credential",
                            format!("required for kind = \"{kind}\" (managed-identity, workload-identity, client-secret or azure-cli)"),
                        )
                    })?;
                    check_token_credential(kind, credential, &w.credentials)?;
                }
                WebhookAuth::Hmac => {
                    if w.secret_env.is_none() && w.secret_file.is_none() {
                        return err(
                            "secret_env",
                            "auth = \"hmac\" needs secret_env or secret_file",
                        );
                    }
                }
            }
            for (name, value) in &w.headers {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(KeyError::new(
                        "headers",
                        format!("{name:?} is not a valid header name"),
                    ));
                }
                if reqwest::header::HeaderValue::from_str(value).is_err() {
                    return Err(KeyError::new(
                        "headers",
                        format!("the value of {name:?} is not valid"),
                    ));
                }
            }
            check_timeout_and_body(w.timeout_secs, w.max_body_bytes, usize::MAX)?;
        }
        SinkKindConfig::Sentinel(s) => {
            need("endpoint", &s.endpoint)?;
            check_http_url("endpoint", &s.endpoint)?;
            need("dcr_immutable_id", &s.dcr_immutable_id)?;
            need("stream_name", &s.stream_name)?;
            check_token_credential(kind, s.credential, &s.credentials)?;
            check_timeout_and_body(s.timeout_secs, s.max_body_bytes, SENTINEL_MAX_BODY_BYTES)?;
        }
        SinkKindConfig::Eventhubs(e) => {
            need("eventhub", &e.eventhub)?;
            if e.credential == CredentialKind::ConnectionString {
                if e.credentials.connection_string_env.is_none()
                    && e.credentials.connection_string_file.is_none()
                {
                    return err(
                        "connection_string_env",
                        "credential = \"connection-string\" needs connection_string_env or connection_string_file",
                    );
                }
            } else {
                need("namespace", e.namespace.as_deref().unwrap_or_default())?;
                check_token_credential(kind, e.credential, &e.credentials)?;
            }
            if let Some(ep) = &e.custom_endpoint {
                check_amqp_endpoint(ep).map_err(|m| KeyError::new("custom_endpoint", m))?;
            }
        }
    }
    let s = &cfg.shared;
    for (key, value) in [
        ("retry_backoff_max_ms", s.retry_backoff_max_ms),
        ("queue_size", s.queue_size as u64),
        ("batch_size", s.batch_size as u64),
    ] {
        if value == 0 {
            return err(key, "must be at least 1");
        }
    }
    Ok(())
}

/// `[backfill]`, checked by `hubwatch backfill` (and `check-config` when it has an
/// `account_url`), not by [`Config::validate`]: `run` does not read it.
pub(crate) fn backfill(b: &BackfillConfig) -> Result<(), ConfigError> {
    let url = b
        .account_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| invalid("backfill.account_url", "required for hubwatch backfill"))?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(invalid(
            "backfill.account_url",
            "must start with https:// (or http:// for Azurite)",
        ));
    }
    if b.containers.is_empty() || b.containers.iter().any(|c| c.trim().is_empty()) {
        return Err(invalid(
            "backfill.containers",
            "at least one non-empty container name is required",
        ));
    }
    if let Some(c) = b.containers.iter().find(|c| c.contains('/')) {
        return Err(invalid(
            "backfill.containers",
            format!("{c:?} is not a container name (no '/')"),
        ));
    }
    if b.prefixes.is_empty() {
        return Err(invalid(
            "backfill.prefixes",
            "at least one prefix is required (\"\" for the whole container)",
        ));
    }
    blob_auth("backfill", &b.auth)?;
    if b.parallelism == 0 {
        return Err(invalid("backfill.parallelism", "must be at least 1"));
    }
    if b.memory_mib == 0 {
        return Err(invalid("backfill.memory_mib", "must be at least 1"));
    }
    if b.range_bytes() < super::backfill::MIN_RANGE_BYTES {
        return Err(invalid(
            "backfill.memory_mib",
            format!(
                "memory_mib / parallelism must be at least 64 KiB (is {} bytes)",
                b.range_bytes()
            ),
        ));
    }
    if b.cursor_interval_ms == 0 {
        return Err(invalid("backfill.cursor_interval_ms", "must be at least 1"));
    }
    if b.progress_interval_secs == 0 {
        return Err(invalid(
            "backfill.progress_interval_secs",
            "must be at least 1",
        ));
    }
    Ok(())
}

/// The blob auth of a section, as `azure::blob_auth` will use it at start, so that
/// `check-config` refuses what `run` would (`sas` and `shared-key` need only their keys,
/// which the types require).
fn blob_auth(section: &str, auth: &BlobAuthConfig) -> Result<(), ConfigError> {
    let BlobAuthConfig::Entra(e) = auth else {
        return Ok(());
    };
    let key = format!("{section}.credential");
    match e.credential {
        None => Err(invalid(
            &key,
            "required for auth = \"entra\" (managed-identity, workload-identity, client-secret or azure-cli)",
        )),
        Some(CredentialKind::ConnectionString) => Err(invalid(
            &key,
            "\"connection-string\" is for Event Hubs; Blob Storage takes auth = \"sas\" or \"shared-key\"",
        )),
        Some(CredentialKind::ClientSecret) => check_client_secret(section, &e.credentials),
        Some(_) => Ok(()),
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

fn check_amqp_endpoint(ep: &str) -> Result<(), &'static str> {
    if ep.starts_with("amqp://") || ep.starts_with("amqps://") || ep.starts_with("sb://") {
        Ok(())
    } else {
        Err("must start with amqp://, amqps:// or sb://")
    }
}

/// A sink's Entra ID token credential (not a connection string) and its keys.
fn check_token_credential(
    kind: &str,
    credential: CredentialKind,
    c: &CredentialConfig,
) -> Result<(), KeyError> {
    match credential {
        CredentialKind::ConnectionString => Err(KeyError::new(
            "credential",
            format!("connection-string is not an Entra ID credential and cannot be used by kind = \"{kind}\""),
        )),
        CredentialKind::ClientSecret => {
            if c.tenant_id.is_none() || c.client_id.is_none() {
                return Err(KeyError::new(
                    "tenant_id",
                    "credential = \"client-secret\" needs tenant_id and client_id",
                ));
            }
            if c.client_secret_env.is_none() && c.client_secret_file.is_none() {
                return Err(KeyError::new(
                    "client_secret_env",
                    "credential = \"client-secret\" needs client_secret_env or client_secret_file",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_timeout_and_body(
    timeout_secs: u64,
    body: Option<usize>,
    max: usize,
) -> Result<(), KeyError> {
    if timeout_secs == 0 {
        return Err(KeyError::new("timeout_secs", "must be at least 1"));
    }
    if let Some(b) = body {
        if b == 0 || b > max {
            return Err(KeyError::new(
                "max_body_bytes",
                format!("must be between 1 and {max}"),
            ));
        }
    }
    Ok(())
}

/// The value must be an absolute `http://` or `https://` URL.
fn check_http_url(key: &str, value: &str) -> Result<(), KeyError> {
    match reqwest::Url::parse(value) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {
            Ok(())
        }
        // Never echo the value: webhook URLs carry secrets.
        _ => Err(KeyError::new(
            key,
            "must be an absolute http:// or https:// URL",
        )),
    }
}
