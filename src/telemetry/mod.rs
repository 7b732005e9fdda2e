//! Logs: the tracing subscriber, and rate-limited reporting of bad input.
//!
//! Logs are JSON when stderr is not a terminal (a container) and human-readable on a terminal,
//! unless the format is set. The level comes from `RUST_LOG`, else from the configuration. In
//! JSON, structured values (an input's `source`) are nested JSON ([`json`]).

pub(crate) mod json;
pub(crate) mod metrics;

use crate::detect::Problem;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing_subscriber::EnvFilter;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when stderr is not a terminal, text otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

/// Installs the global subscriber; later calls are ignored.
pub(crate) fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        let format = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(false);
        builder
            .json()
            .event_format(json::NestedJson::new(format))
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Logs bad input once per item, but at most `burst` lines per kind per interval; the rest are
/// counted and summarised, so a flood of garbage cannot flood the logs.
#[derive(Debug)]
pub(crate) struct ProblemLog {
    burst: u32,
    interval: Duration,
    state: Mutex<HashMap<&'static str, (Instant, u32, u64)>>,
}

impl Default for ProblemLog {
    fn default() -> Self {
        ProblemLog::new(10, Duration::from_secs(60))
    }
}

impl ProblemLog {
    pub(crate) fn new(burst: u32, interval: Duration) -> Self {
        ProblemLog {
            burst,
            interval,
            state: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn report(&self, p: &Problem) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = state.entry(p.kind).or_insert((now, 0, 0));
        if now.duration_since(entry.0) >= self.interval {
            if entry.2 > 0 {
                tracing::warn!(
                    kind = p.kind,
                    suppressed = entry.2,
                    "more bad input of this kind was dead-lettered without a log line"
                );
            }
            *entry = (now, 0, 0);
        }
        if entry.1 < self.burst {
            entry.1 += 1;
            tracing::warn!(
                kind = p.kind,
                reason = %p.entry.reason,
                source = %json::Json(&p.entry.source),
                excerpt = %p.excerpt,
                "bad input dead-lettered"
            );
        } else {
            entry.2 += 1;
        }
    }
}
