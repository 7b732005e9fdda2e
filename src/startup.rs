//! Start-up dependencies (the checkpoint store, Event Hubs) that are not reachable yet: they are
//! retried with the sinks' backoff ([`crate::retry::backoff`]) for at most
//! `service.startup_timeout_secs` after start, while `/readyz` says `starting: <what>
//! unreachable: <cause>`; past that bound the service stops with the last cause (exit 2), so the
//! orchestrator shows it instead of a pod that never turns ready.
//!
//! A dependency that was reached once is no longer a start-up matter: later faults are retried
//! for as long as they last (the source's reconnect loop, the sinks' retries).

use crate::health::Health;
use crate::retry::backoff;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A start-up dependency stayed unreachable for the whole start-up bound.
#[derive(Debug, thiserror::Error)]
#[error("{what} unreachable at start-up for {waited_secs} s (service.startup_timeout_secs = {limit_secs}): {cause}")]
pub struct StartupError {
    pub what: &'static str,
    pub waited_secs: u64,
    pub limit_secs: u64,
    pub cause: String,
}

/// The start-up bound, shared by every dependency: it runs from the service's start.
#[derive(Debug, Clone)]
pub(crate) struct Startup {
    started: Instant,
    limit: Duration,
    health: Arc<Health>,
}

impl Startup {
    pub(crate) fn new(limit: Duration, health: Arc<Health>) -> Startup {
        Startup {
            started: Instant::now(),
            limit,
            health,
        }
    }

    /// The readiness reason for a dependency not reached yet.
    fn reason(what: &str, cause: &str) -> String {
        format!("{what} unreachable: {cause}")
    }

    /// One failed attempt at `what`: records why for `/readyz` and returns how long to wait
    /// before the next attempt (`attempt` counts from 1), or the error once the bound is spent.
    pub(crate) fn failed(
        &self,
        what: &'static str,
        attempt: u32,
        cause: &str,
    ) -> Result<Duration, StartupError> {
        self.health.set_starting(Some(Self::reason(what, cause)));
        let left = (self.started + self.limit).saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(StartupError {
                what,
                waited_secs: self.started.elapsed().as_secs(),
                limit_secs: self.limit.as_secs(),
                cause: cause.to_string(),
            });
        }
        // The last attempt falls on the bound, not a whole backoff past it.
        Ok(backoff(attempt.min(8)).min(left))
    }

    /// `what` was reached: it no longer holds readiness back.
    pub(crate) fn reached(&self) {
        self.health.set_starting(None);
    }

    /// Runs `attempt` until it succeeds (`Ok(Some)`), the bound is spent (`Err`), or `cancel`
    /// fires (`Ok(None)`). The first failure is logged at WARN, the rest at DEBUG.
    pub(crate) async fn retry<T, F, Fut>(
        &self,
        what: &'static str,
        cancel: &CancellationToken,
        mut attempt: F,
    ) -> Result<Option<T>, StartupError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut failures = 0u32;
        loop {
            let outcome = tokio::select! {
                r = attempt() => r,
                _ = cancel.cancelled() => return Ok(None),
            };
            match outcome {
                Ok(v) => {
                    if failures > 0 {
                        tracing::info!(
                            what,
                            attempts = failures + 1,
                            "start-up dependency reached"
                        );
                    }
                    self.reached();
                    return Ok(Some(v));
                }
                Err(cause) => {
                    failures = failures.saturating_add(1);
                    let delay = self.failed(what, failures, &cause)?;
                    if failures == 1 {
                        tracing::warn!(what, error = %cause, limit_secs = self.limit.as_secs(), "start-up dependency unreachable; retrying");
                    } else {
                        tracing::debug!(what, error = %cause, ?delay, "start-up dependency still unreachable");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => return Ok(None),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn retries_until_reached_and_readiness_says_why_meanwhile() {
        let health = Health::new();
        let startup = Startup::new(Duration::from_secs(60), health.clone());
        let calls = AtomicU32::new(0);
        let got = startup
            .retry("thing", &CancellationToken::new(), || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let health = health.clone();
                async move {
                    if n < 2 {
                        Err(format!("refused {n}"))
                    } else {
                        // While failing, /readyz named the dependency and the last cause.
                        let why = health.readiness().unwrap_err();
                        assert!(
                            why.contains(&"starting: thing unreachable: refused 1".to_string()),
                            "{why:?}"
                        );
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(got, Some(2));
        let why = health.readiness().unwrap_err();
        assert!(!why.iter().any(|w| w.starts_with("starting")), "{why:?}");
    }

    #[tokio::test]
    async fn gives_up_with_the_cause_after_the_bound() {
        let startup = Startup::new(Duration::from_millis(500), Health::new());
        let err = startup
            .retry("thing", &CancellationToken::new(), || async {
                Err::<(), _>("connection refused".to_string())
            })
            .await
            .unwrap_err();
        assert_eq!(err.what, "thing");
        assert_eq!(err.cause, "connection refused");
        assert!(err.to_string().contains("connection refused"));
    }
}
