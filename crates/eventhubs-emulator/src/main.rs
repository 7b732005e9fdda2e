//! The `eventhubs-emulator` binary: the library's [`Emulator`] as a standalone server for local
//! development and the benchmarks, until SIGINT / SIGTERM.
//!
//! ```text
//! cargo run -p hubwatch-eventhubs-emulator -- --listen 127.0.0.1:5672 --hub NAME --partitions 4 [--data-dir DIR]
//! ```
//!
//! Clients connect over plain AMQP (no TLS), e.g. the Rust SDK with
//! `with_custom_endpoint("amqp://127.0.0.1:5672")` or the Python SDK with a connection string
//! `Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=dGVzdA==;EntityPath=NAME;UseDevelopmentEmulator=true`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use hubwatch_eventhubs_emulator::{Emulator, EmulatorConfig};

/// Event Hubs-compatible AMQP 1.0 emulator (plain TCP, any credential accepted).
#[derive(Debug, Parser)]
#[command(name = "eventhubs-emulator")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5672")]
    listen: SocketAddr,
    /// Event hub name.
    #[arg(long)]
    hub: String,
    /// Number of partitions.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Directory for durable per-partition event logs (reloaded on start).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let emulator = Emulator::start(EmulatorConfig {
        listen: args.listen,
        hub: args.hub.clone(),
        partitions: args.partitions,
        data_dir: args.data_dir,
    })
    .await?;
    println!(
        "eventhubs-emulator listening on {} hub={} partitions={}",
        emulator.local_addr(),
        args.hub,
        args.partitions
    );
    wait_for_signal().await;
    emulator.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
