//! `hubwatch run`: wires configuration into a running service and shuts it down cleanly.
//!
//! Start-up: rules (and their tests), sinks with their workers, the pipeline, then the source.
//! Shutdown on SIGTERM/SIGINT: the source stops taking events, partitions wait for their
//! in-flight deliveries and write final checkpoints, then sink queues drain and flush; all of it
//! within `service.shutdown_grace_secs` of the signal (plus [`MIN_CLOSE`] for the sinks' final
//! flush), so the orchestrator's grace period can be set from that one number.

use crate::azure;
use crate::checkpoint::{BlobCheckpointStore, BlobCheckpointStoreOptions, FileCheckpointStore};
use crate::config::{CheckpointKind, CheckpointStoreConfig, Config, SourceConfig, SourceKind};
use crate::dead_letter::DeadLetterFile;
use crate::decode::DecodeLimits;
use crate::dedup::Deduper;
use crate::detect::Detector;
use crate::health::Health;
use crate::pipeline::Pipeline;
use crate::rules::selftest::{load_tested, RulesError};
use crate::sink::{self, worker};
use crate::source::eventhubs::EventHubsSource;
use crate::source::file::FileSource;
use crate::source::identity::ReplicaIdentity;
use crate::source::positions::FilePositions;
use crate::source::{DeliverySettings, Input, SourceContext};
use crate::startup::Startup;
use azure_messaging_eventhubs::CheckpointStore;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
    #[error("context store: {0}")]
    Context(crate::context::StoreError),
}

/// Runs until the source ends (file source without `follow`) or `cancel` fires.
pub(crate) async fn run(
    config: Config,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    let pipeline = Arc::new(build_pipeline(&config, health).await?);
    tracing::info!(
        source = config.source.kind().as_str(),
        "sinks started; starting the source"
    );
    let grace = Duration::from_secs(config.service.shutdown_grace_secs);
    tokio::spawn(crate::memory::trim_until(cancel.clone()));
    // When the stop was requested: the sinks get what is left of the grace period after the
    // source's drain, not a second one.
    let stop_requested = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            tokio::time::Instant::now()
        }
    });
    let tasks = TaskTracker::new();
    let result = match build_source(&config, pipeline.health(), &cancel).await? {
        Some(input) => {
            let ctx = SourceContext {
                pipeline: pipeline.clone(),
                shutdown: cancel.clone(),
                delivery: DeliverySettings::from_config(&config),
                tasks: tasks.clone(),
            };
            input.run(ctx).await.map_err(ServiceError::from)
        }
        // Stopped before the checkpoint store was reached.
        None => Ok(()),
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
    close_pipeline(pipeline, tasks, (stopped_at + grace).max(now + MIN_CLOSE)).await;
    result
}

/// The configured source, with its checkpoint store or file positions; `None` when `cancel`
/// fired before the checkpoint store was reached.
async fn build_source(
    config: &Config,
    health: &Arc<Health>,
    cancel: &CancellationToken,
) -> Result<Option<Input>, ServiceError> {
    let (paths, follow): (Vec<String>, bool) = match &config.source {
        SourceConfig::Eventhubs(source) => {
            let startup = Startup::new(
                Duration::from_secs(config.service.startup_timeout_secs),
                health.clone(),
            );
            let Some(store) = checkpoint_store(config, &startup, cancel).await? else {
                return Ok(None);
            };
            crate::checkpoint::keda::log_at_start(config);
            return Ok(Some(Input::EventHubs(Box::new(EventHubsSource {
                config: source.clone(),
                store,
                identity: ReplicaIdentity::acquire(&config.service.state_dir),
                startup,
            }))));
        }
        SourceConfig::Stdin(s) => (vec!["-".into()], s.follow),
        SourceConfig::File(f) => (
            f.path.iter().map(|p| p.display().to_string()).collect(),
            f.follow,
        ),
    };
    let positions = match (config.checkpoint.kind(), config.source.kind()) {
        (CheckpointKind::File, SourceKind::File) => {
            let dir = config.checkpoint_dir();
            Some(
                FilePositions::open(&dir)
                    .map_err(|e| ServiceError::Checkpoint(format!("{}: {e}", dir.display())))?,
            )
        }
        _ => None,
    };
    Ok(Some(Input::File(FileSource {
        paths,
        follow,
        max_body_bytes: config.service.max_body_bytes,
        positions,
    })))
}

/// Loads the rules (and runs their tests), starts the sinks and their workers, and builds the
/// pipeline that `run` and `backfill` feed.
pub(crate) async fn build_pipeline(
    config: &Config,
    health: Arc<Health>,
) -> Result<Pipeline, ServiceError> {
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
        let dead_letter = cfg.shared.dead_letter_path.clone().unwrap_or_else(|| {
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
    tracing::info!(sinks = sinks.len(), "sinks started");
    let pipeline = Pipeline::new(
        detector,
        Deduper::with_capacity(config.rules.dedup, config.rules.max_dedup_keys),
        sinks,
        Arc::new(DeadLetterFile::new(config.dead_letter_path())),
        health.clone(),
    );
    if !config.context.enabled {
        return Ok(pipeline);
    }
    let store = crate::context::open(&config.context, &config.service.state_dir)
        .await
        .map_err(ServiceError::Context)?;
    tracing::info!(
        store = store.kind(),
        "context store open; Key Vault alerts carry runbook_answers"
    );
    Ok(pipeline.with_context(crate::context::Context::start(store, &config.context, health).await))
}

/// The least time the sinks get to drain and flush at shutdown, even when the source's drain
/// used up the grace period (a sink that is down): enough for a healthy sink's final flush.
pub(crate) const MIN_CLOSE: Duration = Duration::from_secs(2);

/// Drains and flushes the sinks once every task under `tasks` has ended: closed and empty,
/// the tracker leaves the caller the pipeline's only owner. Call after the source returned.
pub(crate) async fn close_pipeline(
    pipeline: Arc<Pipeline>,
    tasks: TaskTracker,
    deadline: tokio::time::Instant,
) {
    tasks.close();
    if tokio::time::timeout_at(deadline, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("source tasks still running at the end of the grace period");
        return;
    }
    let Ok(pipeline) = Arc::try_unwrap(pipeline) else {
        // Only an untracked task can hold it now (a bug); the exit must not wait for it.
        tracing::error!(
            "the pipeline is still shared after every source task ended; sinks not drained"
        );
        return;
    };
    if tokio::time::timeout_at(deadline, pipeline.close())
        .await
        .is_err()
    {
        tracing::warn!(
            "sinks did not drain within the grace period; undelivered alerts are not checkpointed"
        );
    }
}

/// The checkpoint store for the Event Hubs source; a blob store once it was reached (within
/// the start-up bound). `None` when `cancel` fired first.
async fn checkpoint_store(
    config: &Config,
    startup: &Startup,
    cancel: &CancellationToken,
) -> Result<Option<Arc<dyn CheckpointStore>>, ServiceError> {
    match &config.checkpoint.store {
        CheckpointStoreConfig::Memory(_) => Ok(Some(Arc::new(
            azure_messaging_eventhubs::InMemoryCheckpointStore::new(),
        ))),
        CheckpointStoreConfig::File(_) => {
            let dir = config.checkpoint_dir();
            let store = FileCheckpointStore::open(&dir)
                .map_err(|e| ServiceError::Checkpoint(format!("{}: {e}", dir.display())))?;
            Ok(Some(Arc::new(store)))
        }
        CheckpointStoreConfig::Blob(c) => {
            let fail = |e: String| ServiceError::Checkpoint(e);
            let url = c.container_url.clone();
            let auth = azure::blob_auth("checkpoint", &c.auth).map_err(|e| fail(e.to_string()))?;
            let store = BlobCheckpointStore::new(&url, auth, BlobCheckpointStoreOptions::default())
                .map_err(|e| fail(e.to_string()))?;
            let reached = startup
                .retry("checkpoint store", cancel, || async {
                    let r = if c.create_container {
                        store.create_container_if_missing().await
                    } else {
                        store.check_reachable().await
                    };
                    r.map_err(|e| azure::error_chain(&e))
                })
                .await?;
            Ok(reached.map(|()| Arc::new(store) as Arc<dyn CheckpointStore>))
        }
    }
}

/// SIGTERM and SIGINT, registered before anything else starts: from then on neither kills the
/// process with the default action, and one that arrives before [`ShutdownSignals::recv`] is
/// awaited is kept, so an orchestrator's stop right after start still ends in a clean exit 0.
pub(crate) struct ShutdownSignals {
    #[cfg(unix)]
    registered: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    /// Registers the handlers; call inside a Tokio runtime context.
    pub(crate) fn install() -> ShutdownSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            ShutdownSignals {
                registered: signal(SignalKind::terminate())
                    .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        {
            ShutdownSignals {}
        }
    }

    /// Resolves when SIGTERM or SIGINT arrives (or arrived since [`ShutdownSignals::install`]).
    pub(crate) async fn recv(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.registered {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Cancels `cancel` when the signal arrives (a task of its own; call inside the runtime).
    pub(crate) fn cancel_on_signal(self, cancel: &CancellationToken) {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            self.recv().await;
            cancel.cancel();
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Origin;
    use crate::test_support::{alert_body, pipeline, sink_config, Gate};
    use tokio::time::Instant;

    fn source() -> Origin {
        Origin::File {
            path: "input.jsonl".into(),
            line: 1,
            record_index: None,
        }
    }

    #[tokio::test]
    async fn close_pipeline_waits_for_the_tracked_tasks_then_drains_the_sinks() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let gate = Gate::closed(Vec::new());
        let pipeline = Arc::new(pipeline(dir.path(), vec![(gate.clone(), sink_config(""))]));
        let tasks = TaskTracker::new();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        // A source task that hands its alert over only after it is released.
        let task = tasks.spawn({
            let pipeline = pipeline.clone();
            async move {
                let _ = released.await;
                let cancel = CancellationToken::new();
                pipeline.process(alert_body(), &source(), &cancel).await
            }
        });
        let closing = tokio::spawn(close_pipeline(
            pipeline,
            tasks,
            Instant::now() + Duration::from_secs(10),
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !closing.is_finished(),
            "closed while a task held the pipeline"
        );
        gate.open(1);
        let _ = release.send(());
        let closed = tokio::time::timeout(Duration::from_secs(5), closing).await;
        assert!(matches!(closed, Ok(Ok(()))), "{closed:?}");
        let pending = task.await.unwrap_or_else(|e| panic!("{e}"));
        let pending = pending.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            pending.is_done(),
            "the sinks were drained after the task ended"
        );
    }

    #[tokio::test]
    async fn close_pipeline_gives_up_at_the_deadline_while_a_task_holds_the_pipeline() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pipeline = Arc::new(pipeline(dir.path(), Vec::new()));
        let tasks = TaskTracker::new();
        tasks.spawn({
            let pipeline = pipeline.clone();
            async move {
                std::future::pending::<()>().await;
                drop(pipeline);
            }
        });
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        let closed = tokio::time::timeout(
            Duration::from_secs(5),
            close_pipeline(pipeline, tasks, deadline),
        )
        .await;
        assert!(closed.is_ok(), "did not return at the deadline");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
