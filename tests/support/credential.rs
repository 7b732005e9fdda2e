//! The one fake Entra ID credential of the tests. Its token names the scopes it was asked for
//! (`fake-token-for-{scopes joined by ","}`), so a test that checks the `Authorization` header
//! checks the scope too; it counts calls and records scopes for tests of token caching.
#![allow(dead_code)]

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeCredential {
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
}

impl FakeCredential {
    /// The token it hands out for `scopes`.
    pub fn token_for(scopes: &[&str]) -> String {
        format!("fake-token-for-{}", scopes.join(","))
    }

    /// How many tokens were requested.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Every scope requested so far, in order.
    pub fn scopes(&self) -> Vec<String> {
        self.scopes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait::async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(scopes.iter().map(|s| s.to_string()));
        Ok(AccessToken::new(
            Self::token_for(scopes),
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}
