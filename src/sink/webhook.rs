//! The `webhook` sink: alerts POSTed as JSON to an HTTP(S) endpoint.
//!
//! With `batch = false` (the default) each alert is one request whose body is the alert's JSON
//! object; with `batch = true` a request carries a JSON array of alerts (split to stay under
//! `max_body_bytes`). A `preset` (`slack`, `teams`) shapes the body for a chat service, one
//! alert per request. Each call of [`Sink::send`] makes one attempt per request; retries,
//! backoff and dead-lettering are the worker's (see [`crate::sink::worker`]). When a batch needs
//! several requests and one fails, the whole batch is retried, so a receiver may see an alert
//! twice: deduplicate on `alert_id`.
//!
//! # Authentication
//!
//! * `auth = "bearer"`: `Authorization: Bearer <token>`, the token read once at start from
//!   `token_env` or `token_file`.
//! * `auth = "entra"`: `Authorization: Bearer <token>`, an Entra ID access token for `scope`
//!   from the configured `credential` (fetched per request; the credential caches it).
//! * `auth = "hmac"`: a signature the receiver verifies with the shared secret (read once at
//!   start from `secret_env` or `secret_file`, used as its UTF-8 bytes, surrounding whitespace
//!   trimmed):
//!
//!   ```text
//!   X-Hubwatch-Timestamp: <t>                  t = Unix time in seconds, decimal
//!   X-Hubwatch-Signature: sha256=<hex>         hex = lower-case hex of
//!                                              HMAC-SHA256(key = secret, message = "<t>.<body>")
//!   ```
//!
//!   `<body>` is the exact request body bytes. A receiver recomputes the HMAC over the timestamp
//!   header, a `.` and the raw body it received, compares it with the header in constant time,
//!   and rejects timestamps too far from its clock (e.g. more than 5 minutes) to stop replays.
//!
//! # Failures
//!
//! Connect errors, timeouts, 408, 429 and 5xx are transient (`Retry-After` honoured); other 4xx
//! and an alert whose body exceeds `max_body_bytes` are permanent (dead-lettered). Logs and
//! errors name the endpoint by `scheme://host[:port]` only; the token, the secret and the URL's
//! path and query never appear.

use super::config::{WebhookAuth, WebhookPreset};
use super::http;
use super::{Sink, SinkBuildError, SinkConfig, SinkError, SinkKind, SinkKindConfig};
use crate::alert::Alert;
use azure_core::credentials::TokenCredential;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// Header carrying the signing time (Unix seconds) of `auth = "hmac"`.
pub const TIMESTAMP_HEADER: &str = "X-Hubwatch-Timestamp";
/// Header carrying `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">` of `auth = "hmac"`.
pub const SIGNATURE_HEADER: &str = "X-Hubwatch-Signature";

enum Auth {
    None,
    Bearer(HeaderValue),
    Entra {
        credential: Arc<dyn TokenCredential>,
        scope: String,
    },
    Hmac(Vec<u8>),
}

/// Posts alerts to an HTTP endpoint.
pub struct WebhookSink {
    name: String,
    url: Url,
    origin: String,
    client: reqwest::Client,
    headers: HeaderMap,
    auth: Auth,
    batch: bool,
    preset: Option<WebhookPreset>,
    max_body_bytes: usize,
}

impl WebhookSink {
    /// Builds the sink from its configuration, reading secrets and building the Entra
    /// credential it names.
    pub fn from_config(name: &str, cfg: &SinkConfig) -> Result<Self, SinkBuildError> {
        Self::new(name, cfg, None)
    }

    /// Like [`WebhookSink::from_config`], with `credential` (when given) used for
    /// `auth = "entra"` instead of the configured one (tests pass a fake).
    pub fn new(
        name: &str,
        config: &SinkConfig,
        credential: Option<Arc<dyn TokenCredential>>,
    ) -> Result<Self, SinkBuildError> {
        let bad = |key: &str, message: String| SinkBuildError::config(name, key, message);
        let SinkKindConfig::Webhook(cfg) = &config.kind else {
            return Err(super::wrong_kind(name, config, SinkKind::Webhook));
        };
        let raw_url = cfg.url.as_str();
        // Never echo the URL: it may hold secrets.
        let url = Url::parse(raw_url)
            .map_err(|_| bad("url", "must be an absolute http:// or https:// URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(
                "url",
                "must be an absolute http:// or https:// URL".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let hn = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| bad("headers", format!("{k:?} is not a valid header name")))?;
            let mut hv = HeaderValue::from_str(v)
                .map_err(|_| bad("headers", format!("the value of {k:?} is not valid")))?;
            hv.set_sensitive(true);
            headers.insert(hn, hv);
        }
        let auth = match cfg.auth {
            WebhookAuth::None => Auth::None,
            WebhookAuth::Bearer => {
                let token = crate::azure::read_secret(
                    cfg.token_env.as_deref(),
                    cfg.token_file.as_deref(),
                    "bearer token",
                )
                .map_err(|e| SinkBuildError::credential(name, "token_env", e))?;
                let mut hv = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    bad(
                        "token_env",
                        "the bearer token is not a valid header value".into(),
                    )
                })?;
                hv.set_sensitive(true);
                Auth::Bearer(hv)
            }
            WebhookAuth::Entra => {
                let scope = cfg
                    .scope
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| bad("scope", "required with auth = \"entra\"".into()))?;
                let credential = match (credential, cfg.credential) {
                    (Some(c), _) => c,
                    (None, Some(kind)) => super::entra_credential(name, kind, &cfg.credentials)?,
                    (None, None) => return Err(bad(
                        "credential",
                        "required: managed-identity, workload-identity, client-secret or azure-cli"
                            .into(),
                    )),
                };
                Auth::Entra { credential, scope }
            }
            WebhookAuth::Hmac => {
                let secret = crate::azure::read_secret(
                    cfg.secret_env.as_deref(),
                    cfg.secret_file.as_deref(),
                    "HMAC secret",
                )
                .map_err(|e| SinkBuildError::credential(name, "secret_env", e))?;
                Auth::Hmac(secret.into_bytes())
            }
        };
        if cfg.timeout_secs == 0 {
            return Err(bad("timeout_secs", "must be at least 1".into()));
        }
        let client = http::client(Duration::from_secs(cfg.timeout_secs))
            .map_err(|e| bad("url", format!("cannot build the HTTP client: {e}")))?;
        Ok(WebhookSink {
            name: name.to_string(),
            origin: http::origin(&url),
            url,
            client,
            headers,
            auth,
            batch: cfg.batch,
            preset: cfg.preset,
            max_body_bytes: cfg.body_limit(),
        })
    }

    /// The request bodies for a batch.
    fn bodies(&self, alerts: &[Arc<Alert>]) -> Result<Vec<Vec<u8>>, SinkError> {
        let too_big = |a: &Alert, len: usize| {
            SinkError::permanent(format!(
                "alert {} makes a {len}-byte body, over max_body_bytes = {}",
                a.alert_id, self.max_body_bytes
            ))
        };
        if self.batch && self.preset.is_none() {
            let items: Vec<String> = alerts.iter().map(|a| a.to_json()).collect();
            return http::pack_json_arrays(&items, self.max_body_bytes).map_err(|i| {
                let len = items.get(i).map_or(0, |s| s.len() + 2);
                match alerts.get(i) {
                    Some(a) => too_big(a, len),
                    None => SinkError::permanent("body over max_body_bytes"),
                }
            });
        }
        alerts
            .iter()
            .map(|a| {
                let body = match self.preset {
                    None => a.to_json().into_bytes(),
                    Some(WebhookPreset::Slack) => slack_payload(a).to_string().into_bytes(),
                    Some(WebhookPreset::Teams) => teams_payload(a).to_string().into_bytes(),
                };
                if body.len() > self.max_body_bytes {
                    Err(too_big(a, body.len()))
                } else {
                    Ok(body)
                }
            })
            .collect()
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), SinkError> {
        let mut headers = self.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(v) => {
                headers.insert(AUTHORIZATION, v.clone());
            }
            Auth::Entra { credential, scope } => {
                let token = credential
                    .get_token(&[scope.as_str()], None)
                    .await
                    .map_err(|e| {
                        SinkError::transient(format!(
                            "getting an Entra ID token for {}: {e}",
                            self.origin
                        ))
                    })?;
                let v = http::header_value(
                    &format!("Bearer {}", token.token.secret()),
                    "the Entra ID token",
                )?;
                headers.insert(AUTHORIZATION, v);
            }
            Auth::Hmac(secret) => {
                let ts = time::OffsetDateTime::now_utc().unix_timestamp();
                let sig = sign(secret, ts, &body);
                headers.insert(TIMESTAMP_HEADER, HeaderValue::from(ts));
                headers.insert(
                    SIGNATURE_HEADER,
                    http::header_value(&sig, "the HMAC signature")?,
                );
            }
        }
        let request = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(body);
        http::send(request, &self.origin).await
    }
}

/// `sha256=<lower-case hex of HMAC-SHA256(secret, "{timestamp}.{body}")>`: the value of
/// [`SIGNATURE_HEADER`].
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        for body in self.bodies(alerts)? {
            self.post(body).await?;
        }
        Ok(())
    }
}

/// A JSON value as short display text (`-` when null or empty).
fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Cuts text to at most `max` characters, marking the cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Who acted (`actor.caller`), `-` when unknown.
fn caller(a: &Alert) -> String {
    a.actor.caller.clone().unwrap_or_else(|| "-".into())
}

/// Escapes the three characters Slack's mrkdwn gives meaning to.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack incoming-webhook payload of an alert:
///
/// ```json
/// {"text": "[HIGH] <title> (<rule_id>)",
///  "blocks": [
///    {"type": "header", "text": {"type": "plain_text", "text": "<title>"}},
///    {"type": "section", "fields": [
///       {"type": "mrkdwn", "text": "*Severity*\nHIGH"}, {"type": "mrkdwn", "text": "*Rule*\n<rule_id>"},
///       {"type": "mrkdwn", "text": "*Caller*\n..."},
///       {"type": "mrkdwn", "text": "*Resource*\n..."}, {"type": "mrkdwn", "text": "*Caller IP*\n..."},
///       {"type": "mrkdwn", "text": "*Event time*\n..."}, {"type": "mrkdwn", "text": "*Correlation id*\n..."}]},
///    {"type": "section", "text": {"type": "mrkdwn", "text": "<description>"}},   // when not empty
///    {"type": "section", "text": {"type": "mrkdwn", "text": "*Runbook*\n..."}},   // when not empty
///    {"type": "context", "elements": [{"type": "mrkdwn", "text": "alert_id <id> · detected <time> · hubwatch"}]}]}
/// ```
pub fn slack_payload(a: &Alert) -> Value {
    let severity = a.severity.as_str();
    let field = |label: &str, v: String| json!({"type": "mrkdwn", "text": cut(&format!("*{label}*\n{}", slack_escape(&v)), 2000)});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&a.title, 150), "emoji": false}}),
        json!({"type": "section", "fields": [
            field("Severity", severity.to_string()),
            field("Rule", a.rule_id.clone()),
            field("Caller", caller(a)),
            field("Resource", show(&a.resource_id)),
            field("Caller IP", show(&a.caller_ip_address)),
            field("Event time", show(&a.event_time)),
            field("Correlation id", show(&a.correlation_id)),
        ]}),
    ];
    if !a.description.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&slack_escape(&a.description), 3000)}}));
    }
    if !a.runbook.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!("*Runbook*\n{}", slack_escape(&a.runbook)), 3000)}}));
    }
    blocks.push(
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(&format!(
        "alert_id {} · detected {} · hubwatch",
        a.alert_id,
        rfc3339(a.detected_at)
    ), 2000)}]}),
    );
    json!({
        "text": cut(&format!("[{severity}] {} ({})", slack_escape(&a.title), a.rule_id), 3000),
        "blocks": blocks,
    })
}

/// The Microsoft Teams payload of an alert, as a Workflows ("When a Teams webhook request is
/// received") webhook expects it: a `message` with one Adaptive Card (version 1.4) attachment.
///
/// ```json
/// {"type": "message",
///  "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
///    "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
///      "type": "AdaptiveCard", "version": "1.4", "msteams": {"width": "Full"},
///      "body": [
///        {"type": "TextBlock", "text": "<title>", "weight": "Bolder", "size": "Medium", "wrap": true,
///         "color": "Attention|Warning|Default"},
///        {"type": "FactSet", "facts": [{"title": "Severity", "value": "HIGH"}, {"title": "Rule", ...},
///          {"title": "Caller", ...}, {"title": "Resource", ...}, {"title": "Caller IP", ...},
///          {"title": "Event time", ...}, {"title": "Correlation id", ...}, {"title": "Alert id", ...},
///          {"title": "Detected", ...}]},
///        {"type": "TextBlock", "text": "<description>", "wrap": true},      // when not empty
///        {"type": "TextBlock", "text": "Runbook: ...", "wrap": true}]}}]}  // when not empty
/// ```
pub fn teams_payload(a: &Alert) -> Value {
    use crate::rules::spec::Severity;
    let color = match a.severity {
        Severity::Critical | Severity::High => "Attention",
        Severity::Medium => "Warning",
        Severity::Low | Severity::Info => "Default",
    };
    let fact = |title: &str, v: String| json!({"title": title, "value": cut(&v, 1000)});
    let mut body = vec![
        json!({"type": "TextBlock", "text": cut(&a.title, 500), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color}),
        json!({"type": "FactSet", "facts": [
            fact("Severity", a.severity.as_str().to_string()),
            fact("Rule", a.rule_id.clone()),
            fact("Caller", caller(a)),
            fact("Resource", show(&a.resource_id)),
            fact("Caller IP", show(&a.caller_ip_address)),
            fact("Event time", show(&a.event_time)),
            fact("Correlation id", show(&a.correlation_id)),
            fact("Alert id", a.alert_id.clone()),
            fact("Detected", rfc3339(a.detected_at)),
        ]}),
    ];
    if !a.description.is_empty() {
        body.push(json!({"type": "TextBlock", "text": cut(&a.description, 4000), "wrap": true}));
    }
    if !a.runbook.is_empty() {
        body.push(json!({"type": "TextBlock", "text": cut(&format!("Runbook: {}", a.runbook), 4000), "wrap": true}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
            }
        }]
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let sig = sign(b"secret", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
    }

    #[test]
    fn slack_escapes_and_cuts() {
        assert_eq!(slack_escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
