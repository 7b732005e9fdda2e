//! Command-line interface: argument definitions and the commands' entry points.

use crate::config::Config;
use crate::decode::{DecodeLimits, DEFAULT_MAX_BODY_BYTES};
use crate::detect::Detector;
use crate::health::Health;
use crate::replay::Replay;
use crate::rules::loader::RuleOptions;
use crate::rules::{selftest, RuleSet};
use crate::service;
use crate::telemetry::{self, LogFormat};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "hubwatch",
    version,
    about = "Detection rules over Azure logs streamed through Event Hubs"
)]
pub(crate) struct Cli {
    /// Log format (default: JSON unless stderr is a terminal).
    #[arg(long, global = true, value_enum, env = "HUBWATCH_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

/// Which rules a command loads when no configuration file says it.
#[derive(Debug, clap::Args)]
pub(crate) struct RuleSelection {
    /// Rules directory (hubwatch's or a panther-analysis checkout), read recursively. Given
    /// alone, only its rules are loaded.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Built-in rules to load, by rule id with `*` wildcards (repeatable; `'*'` for all).
    /// Default: the Key Vault family, unless --rules is given.
    #[arg(long = "builtin", value_name = "PATTERN")]
    builtin: Vec<String>,
    /// Load what can run and list the rules hubwatch cannot run instead of failing.
    #[arg(long)]
    skip_unsupported: bool,
}

impl RuleSelection {
    fn options(&self) -> RuleOptions {
        let builtin = match (&self.rules, self.builtin.is_empty()) {
            (_, false) => self.builtin.clone(),
            (Some(_), true) => Vec::new(),
            (None, true) => RuleOptions::default().builtin,
        };
        RuleOptions {
            builtin,
            dir: self.rules.clone(),
            skip_unsupported: self.skip_unsupported,
        }
    }
}

/// `replay`'s context store: Key Vault operations are written to it and Key Vault alerts
/// carry `runbook_answers`, as with `[context]` in `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayContext {
    /// A SQLite context store file (created if missing).
    #[arg(long, value_name = "PATH", conflicts_with = "context_redis")]
    context_sqlite: Option<PathBuf>,
    /// A Redis context store, `redis://host:port` or `rediss://host:port`.
    #[arg(long, value_name = "URL")]
    context_redis: Option<String>,
    /// Environment variable holding the Redis access key.
    #[arg(long, value_name = "VAR", requires = "context_redis")]
    context_redis_key_env: Option<String>,
    /// Prefix of the Redis keys.
    #[arg(long, value_name = "PREFIX", requires = "context_redis")]
    context_redis_prefix: Option<String>,
    /// Days of history kept and asked about.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    context_retention_days: u64,
}

impl ReplayContext {
    fn config(&self) -> Option<crate::context::ContextConfig> {
        use crate::context::config::{RedisAuth, StoreKind};
        let mut c = crate::context::ContextConfig {
            enabled: true,
            retention_days: self.context_retention_days,
            ..Default::default()
        };
        if let Some(path) = &self.context_sqlite {
            c.path = Some(path.clone());
        } else if let Some(url) = &self.context_redis {
            c.store = StoreKind::Redis;
            c.redis.url = Some(url.clone());
            if let Some(var) = &self.context_redis_key_env {
                c.redis.auth = RedisAuth::AccessKey;
                c.redis.access_key_env = Some(var.clone());
            }
            if let Some(p) = &self.context_redis_prefix {
                c.redis.key_prefix = p.clone();
            }
        } else {
            return None;
        }
        Some(c)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run files of Event Hubs bodies (one per line) through the rules; alerts go to stdout.
    Replay {
        #[command(flatten)]
        rules: RuleSelection,
        /// Raise one alert per matching record instead of one per dedup window.
        #[arg(long)]
        no_dedup: bool,
        /// Append what cannot be evaluated to this JSON-lines file.
        #[arg(long)]
        dead_letter: Option<PathBuf>,
        /// Largest body accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
        /// Threads evaluating bodies (default: one per CPU); alerts keep the input order.
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        #[command(flatten)]
        context: ReplayContext,
        /// Input files; `-` is standard input (the default).
        #[arg(default_value = "-")]
        inputs: Vec<String>,
    },
    /// Run the service.
    Run {
        /// Configuration file (TOML); `HUBWATCH_*` variables override it.
        #[arg(long, short, env = "HUBWATCH_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration (and the rules it names) without connecting to anything.
    CheckConfig {
        #[arg(long, short, env = "HUBWATCH_CONFIG")]
        config: PathBuf,
    },
    /// Run every rule's Tests; exits 1 if any fails.
    Test {
        #[command(flatten)]
        rules: RuleSelection,
    },
    /// Re-send the alerts of a dead-letter file to the sinks that refused them; the file keeps
    /// only what was not delivered. Exits 1 if any alert was not delivered. Stop hubwatch first
    /// (or redrive a copy): the file is replaced.
    Redrive {
        /// The configuration naming the sinks (`[[sinks]]`).
        #[arg(long, short, env = "HUBWATCH_CONFIG")]
        config: PathBuf,
        /// The dead-letter file.
        file: PathBuf,
    },
    /// Run the rules over the diagnostic-settings archives in a storage account (`[backfill]`)
    /// from --from to --to, sending alerts to the configured sinks. Resumable: the same command
    /// again continues from the cursor under `service.state_dir`. Exits 1 if a blob failed.
    Backfill {
        #[arg(long, short, env = "HUBWATCH_CONFIG")]
        config: PathBuf,
        /// Start: RFC 3339 (`2026-09-01T00:00:00Z`) or a date (`2026-09-01`); rounded down to
        /// the hour.
        #[arg(long)]
        from: String,
        /// End (exclusive; rounded up to the hour): RFC 3339, a date, or `now`.
        #[arg(long, default_value = "now")]
        to: String,
        /// Read only shard i of n (`0/4`): blobs are split by a hash of their name.
        #[arg(long, value_name = "I/N", conflicts_with = "shards")]
        shard: Option<crate::backfill::listing::Shard>,
        /// Read shard JOB_COMPLETION_INDEX of N (a Kubernetes Indexed Job).
        #[arg(long, value_name = "N")]
        shards: Option<u32>,
        /// Ignore the saved cursor of this run and start over.
        #[arg(long)]
        restart: bool,
        /// Progress as JSON lines even on a terminal.
        #[arg(long)]
        json_progress: bool,
    },
    /// List the built-in rules: RuleID, severity, whether the default selection runs it, and
    /// the Panther file it reproduces.
    Rules,
    /// Probe a running service's readiness (container HEALTHCHECK); exits 0 on 200, else 1.
    Healthcheck {
        /// URL to GET (default: /readyz on HUBWATCH_HTTP__LISTEN, else 127.0.0.1:9464).
        #[arg(long)]
        url: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format.unwrap_or_default();
    match cli.command {
        Command::Replay {
            rules,
            no_dedup,
            dead_letter,
            max_body_bytes,
            jobs,
            context,
            inputs,
        } => {
            telemetry::init("warn", format);
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            report(replay(
                &rules.options(),
                !no_dedup,
                dead_letter,
                max_body_bytes,
                jobs.max(1),
                context.config(),
                &inputs,
            ))
        }
        Command::Run { config } => report(run(&config, cli.log_format)),
        Command::CheckConfig { config } => {
            telemetry::init("warn", format);
            report(check_config(&config))
        }
        Command::Test { rules } => {
            telemetry::init("warn", format);
            report(test(&rules.options()))
        }
        Command::Redrive { config, file } => {
            telemetry::init("warn", format);
            report(redrive(&config, &file))
        }
        Command::Backfill {
            config,
            from,
            to,
            shard,
            shards,
            restart,
            json_progress,
        } => report(
            backfill_args(&from, &to, shard, shards, restart, json_progress)
                .and_then(|options| backfill(&config, options, cli.log_format)),
        ),
        Command::Rules => list_rules(),
        Command::Healthcheck { url } => healthcheck(url),
    }
}

fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hubwatch: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn replay(
    rules: &RuleOptions,
    dedup: bool,
    dead_letter: Option<PathBuf>,
    max_body_bytes: usize,
    jobs: usize,
    context: Option<crate::context::ContextConfig>,
    inputs: &[String],
) -> anyhow::Result<ExitCode> {
    let (set, load_report) = selftest::load_tested(rules)?;
    if let Some(summary) = load_report.summary() {
        eprintln!("hubwatch: {summary}");
    }
    let set = Arc::new(set);
    let detector = Detector::new(set, DecodeLimits { max_body_bytes });
    let mut replay = Replay::new(&detector, dedup, dead_letter, max_body_bytes);
    replay.jobs = jobs;
    if let Some(c) = context {
        c.validate()
            .map_err(|(key, message)| anyhow::anyhow!("context.{key}: {message}"))?;
        replay = replay.with_context(crate::replay::ReplayContext::open(&c)?);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut failed = false;
    for input in inputs {
        if let Err(e) = replay.input(input, &mut out) {
            eprintln!("hubwatch: {e}");
            failed = true;
        }
    }
    eprintln!("{}", replay.stats.summary());
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn test(rules: &RuleOptions) -> anyhow::Result<ExitCode> {
    let (set, load_report) = RuleSet::load(rules).context("loading rules")?;
    if let Some(summary) = load_report.summary() {
        println!("{summary}");
    }
    let report = selftest::run_all(&set);
    for f in &report.failures {
        println!("{f}");
    }
    println!("{} passed, {} failed", report.passed, report.failed());
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run(path: &Path, log_format: Option<LogFormat>) -> anyhow::Result<ExitCode> {
    telemetry::metrics::mark_started();
    // The runtime and the signal handlers first: a SIGTERM during start-up (even while the
    // configuration is read) is then a clean stop, not death by the signal's default action.
    let runtime = multi_thread_runtime()?;
    let signals = {
        let _runtime = runtime.enter();
        service::ShutdownSignals::install()
    };
    let config = Config::load(path)?;
    telemetry::init(
        &config.service.log_level,
        log_format.unwrap_or(config.service.log_format),
    );
    runtime.block_on(async {
        let health = Health::new();
        let cancel = CancellationToken::new();
        signals.cancel_on_signal(&cancel);
        tracing::info!(config = %path.display(), version = env!("CARGO_PKG_VERSION"), "hubwatch starting");
        let http = crate::admin::start(&config.http.listen, health.clone(), cancel.clone()).await?;
        let result = service::run(config, health, cancel).await;
        if let Some(http) = http {
            http.shutdown().await;
        }
        match result {
            Ok(()) => {
                tracing::info!("hubwatch stopped");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                tracing::error!(error = %e, "hubwatch failed");
                Err(e.into())
            }
        }
    })
}

/// The runtime of `run` and `backfill`.
fn multi_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn backfill_args(
    from: &str,
    to: &str,
    shard: Option<crate::backfill::listing::Shard>,
    shards: Option<u32>,
    restart: bool,
    json_progress: bool,
) -> anyhow::Result<crate::backfill::BackfillOptions> {
    use crate::backfill::{listing::Shard, parse_time, progress::Display};
    let shard = match (shard, shards) {
        (Some(s), _) => s,
        (None, Some(n)) => {
            let index = std::env::var("JOB_COMPLETION_INDEX")
                .context("--shards needs JOB_COMPLETION_INDEX (set by an Indexed Job)")?;
            format!("{}/{n}", index.trim())
                .parse::<Shard>()
                .map_err(|e| anyhow::anyhow!("--shards: {e}"))?
        }
        (None, None) => Shard::default(),
    };
    Ok(crate::backfill::BackfillOptions {
        from: parse_time(from).map_err(|e| anyhow::anyhow!("--from: {e}"))?,
        to: parse_time(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?,
        shard,
        restart,
        display: if json_progress {
            Display::Json
        } else {
            Display::detect()
        },
    })
}

fn backfill(
    path: &Path,
    options: crate::backfill::BackfillOptions,
    log_format: Option<LogFormat>,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    telemetry::init(
        &config.service.log_level,
        log_format.unwrap_or(config.service.log_format),
    );
    let runtime = multi_thread_runtime()?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        service::ShutdownSignals::install().cancel_on_signal(&cancel);
        let display = options.display;
        let summary = crate::backfill::run(&config, &options, cancel.clone()).await?;
        if display == crate::backfill::progress::Display::Bar {
            eprintln!("{}", summary.summary());
        }
        crate::backfill::progress::print_json("summary", &summary);
        Ok(if summary.blobs_failed > 0 || cancel.is_cancelled() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// `hubwatch rules`: one tab-separated line per built-in rule.
fn list_rules() -> ExitCode {
    let defaults = RuleOptions::default().builtin;
    let default_on = |id: &str| {
        defaults
            .iter()
            .any(|p| crate::rules::loader::id_matches(p, id))
    };
    println!("rule_id\tseverity\tdefault\tfilename");
    let embedded: Vec<_> = crate::rules::EMBEDDED_RULES
        .iter()
        .filter_map(|(name, _, text)| crate::rules::load_rule(Path::new(name), text).ok())
        .collect();
    let mut rows: Vec<(&str, &str, &str)> = embedded
        .iter()
        .map(|r| {
            let file = r
                .spec
                .filename
                .as_deref()
                .unwrap_or(r.path.to_str().unwrap_or(""));
            (r.id(), r.severity().as_str(), file)
        })
        .collect();
    for port in crate::rules::builtin::ports() {
        if !rows.iter().any(|(id, _, _)| *id == port.meta.rule_id) {
            rows.push((
                port.meta.rule_id,
                port.meta.severity.as_str(),
                port.filename,
            ));
        }
    }
    for (id, severity, file) in rows {
        let on = if default_on(id) { "on" } else { "off" };
        println!("{id}\t{severity}\t{on}\t{file}");
    }
    ExitCode::SUCCESS
}

/// `hubwatch healthcheck`: one GET with a 3 s budget; the reason goes on one line.
fn healthcheck(url: Option<String>) -> ExitCode {
    let url = url.unwrap_or_else(|| {
        crate::admin::default_probe_url(std::env::var("HUBWATCH_HTTP__LISTEN").ok().as_deref())
    });
    match crate::admin::probe(&url, std::time::Duration::from_secs(3)) {
        Ok(line) => {
            println!("ok: {line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            eprintln!("not ready: {line}");
            ExitCode::from(1)
        }
    }
}

fn check_config(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    crate::config::secrets::check(&config).map_err(anyhow::Error::msg)?;
    check_connection_strings(&config)?;
    if config.backfill.account_url.is_some() {
        config.backfill.validate()?;
    }
    let (rules, load_report) = selftest::load_tested(&config.rules.options())?;
    if let Some(summary) = load_report.summary() {
        println!("{summary}");
    }
    println!(
        "{}: ok (source {:?}, {} sink(s), {} rule(s))",
        path.display(),
        config.source.kind(),
        config.sinks.len(),
        rules.rules.len()
    );
    for line in crate::checkpoint::keda::check_config_lines(&config) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads and parses every SAS connection string the configuration points at, as `run` does
/// before it connects: a string `run` would refuse must not pass here.
fn check_connection_strings(config: &Config) -> anyhow::Result<()> {
    use crate::config::CredentialKind;
    let check = |what: String, auth: &crate::config::CredentialConfig, hub: Option<&str>| {
        let key = crate::azure::connection_string_key(auth);
        crate::azure::connection_string(auth)
            .and_then(|cs| crate::azure::parse_connection_string(&cs, hub).map(|_| ()))
            .map_err(|e| anyhow::anyhow!("{what}.{key}: {e}"))
    };
    if let Some(s) = config.source.eventhubs() {
        if s.credential == CredentialKind::ConnectionString {
            check("source".into(), &s.auth, Some(&s.eventhub))?;
        }
    }
    for (i, sink) in config.sinks.iter().enumerate() {
        if let crate::sink::SinkKindConfig::Eventhubs(e) = &sink.kind {
            if e.credential == CredentialKind::ConnectionString {
                check(format!("sinks[{i}]"), &e.credentials, Some(&e.eventhub))?;
            }
        }
    }
    Ok(())
}

fn redrive(config: &Path, file: &Path) -> anyhow::Result<ExitCode> {
    let config = crate::config::Config::load(config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let names = crate::sink::names(&config.sinks)?;
        let mut sinks = Vec::with_capacity(names.len());
        for (name, cfg) in names.into_iter().zip(&config.sinks) {
            let sink = crate::sink::build_named(&name, cfg).await?;
            sinks.push((name, sink));
        }
        let report = crate::redrive::redrive(file, &sinks).await?;
        for (_, sink) in &sinks {
            if let Err(e) = sink.flush().await {
                eprintln!("hubwatch: flushing sink {}: {e}", sink.name());
            }
        }
        println!("{report}");
        Ok(if report.failed > 0 || report.unknown_sink > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}
