//! Entra ID authentication to Redis (Azure Managed Redis, Azure Cache for Redis): the
//! identity's access token for `https://redis.azure.com/.default` is the AUTH password and its
//! object id the user name. A background task fetches a token, hands it to every connection
//! and fetches the next one five minutes before it expires; connections re-authenticate with
//! each new token (the `redis` crate's streaming credentials). Tokens are never logged.

use azure_core::credentials::TokenCredential;
use redis::auth::{BasicAuth, StreamingCredentialsProvider};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The scope of Azure Managed Redis and Azure Cache for Redis data-plane tokens.
pub const REDIS_SCOPE: &str = "https://redis.azure.com/.default";

/// Credentials that follow the identity's tokens.
pub struct EntraCredentials {
    rx: watch::Receiver<Option<BasicAuth>>,
}

impl EntraCredentials {
    /// Starts fetching tokens (on the current Tokio runtime) for `username` (the identity's
    /// object id); the task ends when every subscriber is gone.
    pub fn start(credential: Arc<dyn TokenCredential>, username: String) -> EntraCredentials {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let mut attempt = 0u32;
            loop {
                let wait = match credential.get_token(&[REDIS_SCOPE], None).await {
                    Ok(token) => {
                        attempt = 0;
                        let auth =
                            BasicAuth::new(username.clone(), token.token.secret().to_string());
                        if tx.send(Some(auth)).is_err() {
                            return;
                        }
                        let left = token.expires_on
                            - time::OffsetDateTime::now_utc()
                            - time::Duration::minutes(5);
                        Duration::try_from(left)
                            .unwrap_or(Duration::ZERO)
                            .max(Duration::from_secs(30))
                    }
                    Err(e) => {
                        attempt = attempt.saturating_add(1);
                        tracing::warn!(error = %e, "cannot get an Entra ID token for Redis; retrying");
                        crate::retry::backoff_capped(attempt, Duration::from_secs(30))
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        EntraCredentials { rx }
    }
}

type AuthStream =
    Pin<Box<dyn futures::Stream<Item = redis::RedisResult<BasicAuth>> + Send + 'static>>;

impl StreamingCredentialsProvider for EntraCredentials {
    fn subscribe(&self) -> AuthStream {
        let rx = self.rx.clone();
        Box::pin(futures::stream::unfold(
            (rx, true),
            |(mut rx, first)| async move {
                if !first && rx.changed().await.is_err() {
                    return None;
                }
                loop {
                    let current = rx.borrow_and_update().clone();
                    if let Some(auth) = current {
                        return Some((Ok(auth), (rx, false)));
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        ))
    }
}
