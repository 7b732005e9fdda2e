//! `hubwatch run`: wires configuration into a running service and shuts it down cleanly.
//!
//! Start-up: rules (and their tests), sinks with their workers, the pipeline, then the source.
//! Shutdown on SIGTERM/SIGINT: the source stops taking events, partitions wait for their
//! in-flight deliveries and write final checkpoints, then sink queues drain and flush; all of it
//! within `service.shutdown_grace_secs` of the signal (plus [`MIN_CLOSE`] for the sinks' final
//! flush), so the orchestrator's grace period can be set from that one number.

use crate::azure;
use crate::checkpoint::{
    BlobAuth, BlobCheckpointStore, BlobCheckpointStoreOptions, FileCheckpointStore,
};
use crate::config::{CheckpointKind, Config, SourceKind};
use crate::dead_letter::DeadLetterFile;
use crate::decode::DecodeLimits;
use crate::dedup::Deduper;
use crate::detect::Detector;
use crate::health::Health;
use crate::pipeline::Pipeline;
use crate::rules::testing::{load_tested, RulesError};
use crate::sink::{self, worker};
use crate::source::eventhubs::{EventHubsSource, PartitionSettings};
use crate::source::file::FileSource;
use crate::source::positions::FilePositions;
use azure_messaging_eventhubs::CheckpointStore;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The service could not start or failed for good.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("sinks[{index}]: {message}")]
    Sink { index: usize, message: String },
    #[error("checkpoint store: {0}")]
    Checkpoint(String),
    #[error(transparent)]
    FileSource(#[from] crate::source::file::FileSourceError),
    #[error(transparent)]
    EventHubs(#[from] crate::source::eventhubs::EventHubsSourceError),
    #[error("context store: {0}")]
    Context(crate::context::StoreError),
}

/// Runs until the source ends (file source without `follow`) or `cancel` fires.
pub async fn run(
    config: Config,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    let (rules, report) = load_tested(&config.rules.options())?;
    let rules = Arc::new(rules);
    log_load_report(&report);
    tracing::info!(rules = rules.rules.len(), "rules loaded");
    let detector = Arc::new(Detector::new(
        rules,
        DecodeLimits {
            max_body_bytes: config.service.max_body_bytes,
        },
    ));
    let names = sink::names(&config.sinks).map_err(|e| ServiceError::Sink {
        index: 0,
        message: e.to_string(),
    })?;
    let mut sinks = Vec::new();
    for (index, (name, cfg)) in names.iter().zip(&config.sinks).enumerate() {
        let built = sink::build_named(name, cfg)
            .await
            .map_err(|e| ServiceError::Sink {
                index,
                message: e.to_string(),
            })?;
        let dead_letter = cfg.dead_letter_path.clone().unwrap_or_else(|| {
            config
                .service
                .state_dir
                .join(format!("dead-letter-{name}.jsonl"))
        });
        sinks.push(worker::spawn(
            built,
            cfg.clone(),
            Arc::new(DeadLetterFile::new(dead_letter)),
        ));
    }
    tracing::info!(sinks = sinks.len(), source = ?config.source.kind, "sinks started; starting the source");
    let mut pipeline = Pipeline::new(
        detector,
        Deduper::with_capacity(config.rules.dedup, config.rules.max_dedup_keys),
        sinks,
        Arc::new(DeadLetterFile::new(config.dead_letter_path())),
        health.clone(),
    );
    if config.context.enabled {
        let store = crate::context::open(&config.context, &config.service.state_dir)
            .await
            .map_err(ServiceError::Context)?;
        tracing::info!(
            store = store.kind(),
            "context store open; Key Vault alerts carry runbook_answers"
        );
        pipeline = pipeline
            .with_context(crate::context::Context::start(store, &config.context, health).await);
    }
    let pipeline = Arc::new(pipeline);
    let grace = Duration::from_secs(config.service.shutdown_grace_secs);
    // When the stop was requested: the sinks get what is left of the grace period after the
    // source's drain, not a second one.
    let stop_requested = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            tokio::time::Instant::now()
        }
    });
    let checkpoint_every = Duration::from_millis(config.checkpoint.interval_ms);
    let result = match config.source.kind {
        SourceKind::File | SourceKind::Stdin => {
            let paths: Vec<String> = match config.source.kind {
                SourceKind::Stdin => vec!["-".into()],
                _ => config
                    .source
                    .path
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            };
            let positions = match (config.checkpoint.kind, config.source.kind) {
                (CheckpointKind::File, SourceKind::File) => {
                    Some(FilePositions::open(&config.checkpoint_dir()).map_err(|e| {
                        ServiceError::Checkpoint(format!(
                            "{}: {e}",
                            config.checkpoint_dir().display()
                        ))
                    })?)
                }
                _ => None,
            };
            let source = FileSource {
                paths,
                follow: config.source.follow,
                max_body_bytes: config.service.max_body_bytes,
                channel_capacity: config.service.channel_capacity,
                checkpoint_every_events: config.checkpoint.interval_events,
                checkpoint_every,
                shutdown_grace: grace,
                positions,
            };
            source
                .run(pipeline.clone(), cancel.clone())
                .await
                .map_err(ServiceError::from)
        }
        SourceKind::Eventhubs => {
            let store = checkpoint_store(&config).await?;
            crate::checkpoint::keda::log_at_start(&config);
            let source = EventHubsSource {
                config: config.source.clone(),
                store,
                settings: PartitionSettings {
                    checkpoint_every_events: config.checkpoint.interval_events,
                    checkpoint_every,
                    shutdown_grace: grace,
                },
                owner_id: EventHubsSource::new_owner_id(),
            };
            let local = tokio::task::LocalSet::new();
            local
                .run_until(source.run(pipeline.clone(), cancel.clone()))
                .await
                .map_err(ServiceError::from)
        }
    };
    tracing::info!("source stopped; draining sink queues");
    let now = tokio::time::Instant::now();
    let stopped_at = if stop_requested.is_finished() {
        stop_requested.await.unwrap_or(now)
    } else {
        // The source ended on its own (the end of a file that is not followed).
        stop_requested.abort();
        now
    };
    close_pipeline(pipeline, (stopped_at + grace).max(now + MIN_CLOSE)).await;
    result
}

/// The least time the sinks get to drain and flush at shutdown, even when the source's drain
/// used up the grace period (a sink that is down): enough for a healthy sink's final flush.
pub const MIN_CLOSE: Duration = Duration::from_secs(2);

/// Drains and flushes the sinks once every source task has let go of the pipeline.
async fn close_pipeline(pipeline: Arc<Pipeline>, deadline: tokio::time::Instant) {
    let mut pipeline = pipeline;
    loop {
        match Arc::try_unwrap(pipeline) {
            Ok(p) => {
                if tokio::time::timeout_at(deadline, p.close()).await.is_err() {
                    tracing::warn!("sinks did not drain within the grace period; undelivered alerts are not checkpointed");
                }
                return;
            }
            Err(shared) => {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!("source tasks still running at the end of the grace period");
                    return;
                }
                pipeline = shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The checkpoint store for the Event Hubs source.
async fn checkpoint_store(config: &Config) -> Result<Arc<dyn CheckpointStore>, ServiceError> {
    let c = &config.checkpoint;
    match c.kind {
        CheckpointKind::Memory => Ok(Arc::new(
            azure_messaging_eventhubs::InMemoryCheckpointStore::new(),
        )),
        CheckpointKind::File => {
            let dir = config.checkpoint_dir();
            let store = FileCheckpointStore::open(&dir)
                .map_err(|e| ServiceError::Checkpoint(format!("{}: {e}", dir.display())))?;
            Ok(Arc::new(store))
        }
        CheckpointKind::Blob => {
            let fail = |e: String| ServiceError::Checkpoint(e);
            let url = c.container_url.clone().unwrap_or_default();
            let auth = match c.auth.as_deref().unwrap_or("entra") {
                "entra" => {
                    let kind = c.credential.ok_or_else(|| {
                        fail("checkpoint.credential is required for auth = \"entra\"".into())
                    })?;
                    BlobAuth::token(
                        azure::token_credential(kind, &c.credential_config)
                            .map_err(|e| fail(e.to_string()))?,
                    )
                }
                "sas" => BlobAuth::sas(
                    azure::read_secret(c.sas_env.as_deref(), None, "checkpoint SAS token")
                        .map_err(|e| fail(e.to_string()))?,
                ),
                "shared-key" => {
                    let account = c.account_name.clone().ok_or_else(|| {
                        fail("checkpoint.account_name is required for auth = \"shared-key\"".into())
                    })?;
                    let key = azure::read_secret(
                        c.account_key_env.as_deref(),
                        None,
                        "checkpoint account key",
                    )
                    .map_err(|e| fail(e.to_string()))?;
                    BlobAuth::shared_key(account, key)
                }
                other => {
                    return Err(fail(format!(
                        "checkpoint.auth {other:?} is not one of \"entra\", \"sas\", \"shared-key\""
                    )))
                }
            };
            let store = BlobCheckpointStore::new(&url, auth, BlobCheckpointStoreOptions::default())
                .map_err(|e| fail(e.to_string()))?;
            if c.create_container {
                store
                    .create_container_if_missing()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
            }
            Ok(Arc::new(store))
        }
    }
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
                    _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What rule loading skipped: one INFO line, and a WARN naming every unsupported rule that
/// `rules.skip_unsupported` let the service start without.
fn log_load_report(report: &crate::rules::loader::LoadReport) {
    if !report.unsupported.is_empty() {
        let names: Vec<String> = report.unsupported.iter().map(|u| u.to_string()).collect();
        tracing::warn!(
            count = report.unsupported.len(),
            rules = %names.join("; "),
            "running without rules hubwatch cannot run (rules.skip_unsupported = true)"
        );
    }
    if let Some(summary) = report.summary() {
        tracing::info!(%summary, "rule files");
    }
}
