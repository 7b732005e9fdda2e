//! `hubwatch backfill`: runs the rules over the diagnostic-settings archives in a storage
//! account (hourly `PT1H.json` append blobs, one record per line), sends the alerts to the
//! configured sinks with the ids the live path gives, and keeps a durable cursor so a killed
//! run resumes where it stopped.
//!
//! - `listing.rs`: the time-partitioned blob names, the walk that lists only the hours in
//!   range, and `--shard i/n`;
//! - `reader.rs`: one blob: ranged reads from its offset, lines, detection, delivery;
//! - `cursor.rs`: the durable per-blob offsets;
//! - `batch.rs`: the complete lines of one downloaded range, with their sources;
//! - `progress.rs`: progress bar, JSON progress lines and the summary.
//!
//! Records go through [`Pipeline`](crate::pipeline::Pipeline), the same detection, dedup,
//! alert building and sink delivery as `hubwatch run`, so a record's `alert_id` is the one the
//! live path gives it (with `[rules] dedup = false` the id includes the record's position,
//! which is a blob line here, not an Event Hubs event).

mod batch;
mod cursor;
pub(crate) mod listing;
pub(crate) mod progress;
mod reader;

use crate::azure::{self, blob::BlobContainer};
use crate::config::Config;
use crate::health::Health;
use crate::service::{self, ServiceError};
use cursor::{Cursor, RunKey};
use futures::StreamExt;
use listing::{ArchiveBlob, HourRange, Shard};
use progress::{Counters, Display, Snapshot};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// What one `hubwatch backfill` reads.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub shard: Shard,
    /// Ignore a saved cursor and start over.
    pub restart: bool,
    pub display: Display,
}

/// The backfill could not run.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("backfill: {0}")]
    Credential(#[from] azure::CredentialError),
    #[error("backfill: container {container}: {source}")]
    Storage {
        container: String,
        source: azure_core::Error,
    },
    #[error(transparent)]
    Cursor(#[from] cursor::CursorError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("backfill: --from {from} is not before --to {to}")]
    Range { from: String, to: String },
}

/// Runs a backfill to its end (or until `cancel`), with the sinks, rules and context store of
/// `config`.
pub async fn run(
    config: &Config,
    options: &BackfillOptions,
    cancel: CancellationToken,
) -> Result<Snapshot, BackfillError> {
    let b = &config.backfill;
    b.validate()?;
    let range = HourRange::new(options.from, options.to);
    if range.from >= range.to {
        return Err(BackfillError::Range {
            from: rfc3339(options.from),
            to: rfc3339(options.to),
        });
    }
    let auth = azure::blob_auth("backfill", &b.auth)?;
    let account_url = b.account_url.clone().unwrap_or_default();
    let mut clients = HashMap::new();
    for container in &b.containers {
        let url = container_url(&account_url, container);
        let client =
            BlobContainer::new(&url, auth.clone(), Default::default()).map_err(|source| {
                BackfillError::Storage {
                    container: container.clone(),
                    source,
                }
            })?;
        clients.insert(container.clone(), Arc::new(client));
    }
    let run_key = RunKey {
        from: rfc3339(range.from),
        shard: options.shard.to_string(),
        containers: b.containers.clone(),
        prefixes: b.prefixes.clone(),
    };
    let cursor = Arc::new(Cursor::open(
        &b.cursor_dir(&config.service.state_dir),
        run_key,
        options.restart,
    )?);
    tracing::info!(cursor = %cursor.path().display(), from = %rfc3339(range.from), to = %rfc3339(range.to), shard = %options.shard, "backfill starting: listing");

    let mut blobs = Vec::new();
    for container in &b.containers {
        let client = &clients[container];
        for prefix in &b.prefixes {
            let found = match listing::list(client, container, prefix, &range).await {
                Ok(found) => found,
                // Diagnostic settings create a container with its first record: a category
                // never written has none.
                Err(e) if e.http_status() == Some(azure_core::http::StatusCode::NotFound) => {
                    tracing::warn!(container = %container, "backfill: container not found; skipped");
                    break;
                }
                Err(source) => {
                    return Err(BackfillError::Storage {
                        container: container.clone(),
                        source,
                    })
                }
            };
            blobs.extend(found.into_iter().filter(|a| options.shard.owns(&a.key())));
        }
    }
    // Oldest hour first, so dedup windows fill in event-time order.
    blobs.sort_by_key(|a| (a.hour, a.key()));
    blobs.dedup_by(|a, c| a.key() == c.key());

    let counters = Arc::new(Counters::default());
    counters.blobs.store(blobs.len() as u64, Ordering::Relaxed);
    let left: u64 = blobs
        .iter()
        .map(|a| {
            let at = cursor.get(&a.key());
            if at.done && a.length <= at.length {
                0
            } else {
                a.length.saturating_sub(at.offset)
            }
        })
        .sum();
    counters.bytes_total.store(left, Ordering::Relaxed);
    tracing::info!(blobs = blobs.len(), bytes = left, "backfill: blobs listed");

    let pipeline = Arc::new(service::build_pipeline(config, Health::new()).await?);
    let reader = Arc::new(reader::Reader {
        pipeline: pipeline.clone(),
        cursor: cursor.clone(),
        counters: counters.clone(),
        range_bytes: b.range_bytes() as u64,
        max_body_bytes: config.service.max_body_bytes,
        closed_after: time::Duration::minutes(b.closed_after_minutes as i64),
        shutdown_grace: Duration::from_secs(config.service.shutdown_grace_secs),
    });

    let started = Instant::now();
    let stop = CancellationToken::new();
    let saver = tokio::spawn(
        cursor
            .clone()
            .run_saver(Duration::from_millis(b.cursor_interval_ms), stop.clone()),
    );
    let shown = tokio::spawn(progress::report(
        counters.clone(),
        options.display,
        Duration::from_secs(b.progress_interval_secs),
        started,
        stop.clone(),
    ));

    {
        // `parallelism` blobs are read at a time; a blob read to its end waits for its
        // acknowledgements apart, so the next blob is read meanwhile.
        let mut reading = Box::pin(
            futures::stream::iter(blobs.into_iter().map(|blob: ArchiveBlob| {
                let reader = reader.clone();
                let client = clients[&blob.container].clone();
                let cancel = cancel.clone();
                async move { reader.take_in(&client, &blob, &cancel).await }
            }))
            .buffer_unordered(b.parallelism),
        );
        let mut finishing = futures::stream::FuturesUnordered::new();
        loop {
            tokio::select! {
                Some(tail) = reading.next() => {
                    if let Some(tail) = tail {
                        let reader = reader.clone();
                        let cancel = cancel.clone();
                        finishing.push(async move { reader.finish(tail, &cancel).await });
                    }
                }
                Some(result) = finishing.next(), if !finishing.is_empty() => {
                    if let Err(e) = result {
                        counters.blobs_failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %azure::error_text(&e), "backfill: blob not finished; it is read again from its cursor next run");
                    }
                }
                else => break,
            }
        }
    }
    drop(reader);
    let grace = Duration::from_secs(config.service.shutdown_grace_secs);
    // The blob readers ran inline and are gone: no task of their own to wait for.
    service::close_pipeline(
        pipeline,
        tokio_util::task::TaskTracker::new(),
        tokio::time::Instant::now() + grace.max(service::MIN_CLOSE),
    )
    .await;
    stop.cancel();
    let _ = saver.await;
    let _ = shown.await;
    Ok(counters.snapshot(started.elapsed()))
}

/// The URL of `container` in the account at `account_url` (a SAS query string is kept).
pub fn container_url(account_url: &str, container: &str) -> String {
    match account_url.split_once('?') {
        Some((base, query)) => format!("{}/{container}?{query}", base.trim_end_matches('/')),
        None => format!("{}/{container}", account_url.trim_end_matches('/')),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses `--from`/`--to`: RFC 3339 (`2026-11-01T00:00:00Z`), a date (`2026-11-01`, midnight
/// UTC), or `now`.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(OffsetDateTime::now_utc());
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &date_format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("{s:?} is not an RFC 3339 time, a date (YYYY-MM-DD) or \"now\""))
}
