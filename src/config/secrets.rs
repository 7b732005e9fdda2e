//! `check-config`'s look at every secret the configuration names: each environment variable
//! or file must exist and hold something, as `run` will need it. Values are read, never shown.

use super::{BlobAuthConfig, Config, CredentialConfig};
use crate::sink::SinkKindConfig;
use std::path::{Path, PathBuf};

/// A secret reference: the key that names it, and its variable or file.
struct Secret<'a> {
    key: String,
    env: Option<&'a str>,
    file: Option<&'a Path>,
}

/// The first secret that cannot be read, as `key: why` (the message never holds the value).
pub(crate) fn check(config: &Config) -> Result<(), String> {
    for s in secrets(config) {
        if s.env.is_none() && s.file.is_none() {
            continue;
        }
        crate::azure::read_secret(s.env, s.file, &s.key).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn secrets(config: &Config) -> Vec<Secret<'_>> {
    let mut out = Vec::new();
    if let Some(s) = config.source.eventhubs() {
        credential("source", &s.auth, &mut out);
    }
    if let Some(blob) = config.checkpoint.blob() {
        blob_auth("checkpoint", &blob.auth, &mut out);
    }
    if config.backfill.account_url.is_some() {
        blob_auth("backfill", &config.backfill.auth, &mut out);
    }
    for (i, sink) in config.sinks.iter().enumerate() {
        let at = format!("sinks[{i}]");
        match &sink.kind {
            SinkKindConfig::Webhook(w) => {
                credential(&at, &w.credentials, &mut out);
                pair(&at, "token", &w.token_env, &w.token_file, &mut out);
                pair(&at, "secret", &w.secret_env, &w.secret_file, &mut out);
            }
            SinkKindConfig::Sentinel(s) => credential(&at, &s.credentials, &mut out),
            SinkKindConfig::Eventhubs(e) => credential(&at, &e.credentials, &mut out),
            SinkKindConfig::Stdout(_) | SinkKindConfig::File(_) => {}
        }
    }
    out
}

fn blob_auth<'a>(section: &str, auth: &'a BlobAuthConfig, out: &mut Vec<Secret<'a>>) {
    match auth {
        BlobAuthConfig::Entra(e) => credential(section, &e.credentials, out),
        BlobAuthConfig::Sas(s) => env_only(&format!("{section}.sas_env"), Some(&s.sas_env), out),
        BlobAuthConfig::SharedKey(k) => env_only(
            &format!("{section}.account_key_env"),
            Some(&k.account_key_env),
            out,
        ),
    }
}

fn credential<'a>(at: &str, c: &'a CredentialConfig, out: &mut Vec<Secret<'a>>) {
    pair(
        at,
        "client_secret",
        &c.client_secret_env,
        &c.client_secret_file,
        out,
    );
    pair(
        at,
        "connection_string",
        &c.connection_string_env,
        &c.connection_string_file,
        out,
    );
}

fn pair<'a>(
    at: &str,
    what: &str,
    env: &'a Option<String>,
    file: &'a Option<PathBuf>,
    out: &mut Vec<Secret<'a>>,
) {
    let key = match (env, file) {
        (Some(_), _) => format!("{at}.{what}_env"),
        _ => format!("{at}.{what}_file"),
    };
    out.push(Secret {
        key,
        env: env.as_deref(),
        file: file.as_deref(),
    });
}

fn env_only<'a>(key: &str, env: Option<&'a str>, out: &mut Vec<Secret<'a>>) {
    out.push(Secret {
        key: key.to_string(),
        env,
        file: None,
    });
}
