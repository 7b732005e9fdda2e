//! `check-config`'s look at every secret the configuration names: each environment variable
//! or file must exist and hold something, as `run` will need it. Values are read, never shown.

use super::{Config, CredentialConfig};
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
    credential("source", &config.source.auth, &mut out);
    let cp = &config.checkpoint;
    credential("checkpoint", &cp.credential_config, &mut out);
    env_only("checkpoint.sas_env", cp.sas_env.as_deref(), &mut out);
    env_only(
        "checkpoint.account_key_env",
        cp.account_key_env.as_deref(),
        &mut out,
    );
    if config.backfill.account_url.is_some() {
        let b = &config.backfill;
        credential("backfill", &b.credential_config, &mut out);
        env_only("backfill.sas_env", b.sas_env.as_deref(), &mut out);
        env_only(
            "backfill.account_key_env",
            b.account_key_env.as_deref(),
            &mut out,
        );
    }
    for (i, sink) in config.sinks.iter().enumerate() {
        let at = format!("sinks[{i}]");
        credential(&at, &sink.credentials, &mut out);
        pair(&at, "token", &sink.token_env, &sink.token_file, &mut out);
        pair(&at, "secret", &sink.secret_env, &sink.secret_file, &mut out);
    }
    out
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
