//! A local stand-in for Azure Event Hubs: a small Event Hubs-compatible AMQP 1.0 server for
//! hubwatch's integration tests, benchmarks and local runs against AMQP (the quick start's
//! `config/local.toml` reads a file and needs no server), with fault switches that make it
//! misbehave the way a real namespace or network can.
//!
//! What it speaks: plain TCP, SASL ANONYMOUS / PLAIN (any credential accepted), CBS put-token
//! (any token accepted, unless [`Emulator::set_reject_tokens`] simulates revoked credentials),
//! `$management` READ for the event hub and its partitions, producer sender links (including
//! the SDK's batch message format), consumer receiver links with the
//! `apache.org:selector-filter:string` start filter, owner-level epochs and optional durable
//! per-partition storage ([`EmulatorConfig::data_dir`]).
//!
//! In-process use (tests): [`Emulator::start`] with an [`EmulatorConfig`], then the fault
//! switches (`set_*`) and the inspection methods of [`Emulator`]. Standalone: the
//! `eventhubs-emulator` binary of this crate,
//! `cargo run -p hubwatch-eventhubs-emulator -- --hub NAME [--listen ADDR] [--partitions N] [--data-dir DIR]`.
//! README.md lists the clients' settings, what is supported and the environment switches.
//!
//! Modules: `accept` (accept loop, connections, sessions, link dispatch), `transport`
//! (the TCP stream and SASL), `management` (`$cbs` and `$management`), `producer` and
//! `consumer` (the two kinds of event links), `message` (AMQP message helpers),
//! `storage` (stored events and their files) and `state` (what every connection shares).

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fe2o3_amqp::acceptor::sasl_acceptor::SaslServerFrame;
use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerConnectionHandle,
    ListenerSessionHandle, SaslAcceptor, SessionAcceptor, SupportedReceiverSettleModes,
};
use fe2o3_amqp::link::delivery::Sendable;
use fe2o3_amqp::{Receiver, Sender};
use fe2o3_amqp_types::definitions::ReceiverSettleMode;
use fe2o3_amqp_types::definitions::{self, AmqpError, LinkError};
use fe2o3_amqp_types::messaging::annotations::OwnedKey;
use fe2o3_amqp_types::messaging::message::__private::{Deserializable, Serializable};
use fe2o3_amqp_types::messaging::{
    AmqpValue, ApplicationProperties, Body, Data, Message, MessageAnnotations, MessageId,
    Properties, TargetArchetype,
};
use fe2o3_amqp_types::performatives::Attach;
use fe2o3_amqp_types::primitives::{
    Array, Binary, OrderedMap, SimpleValue, Symbol, Timestamp, Value,
};
use fe2o3_amqp_types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// The message format of the Event Hubs batch envelope (each Data section holds one message).
const BATCH_MESSAGE_FORMAT: u32 = 0x8001_3700;
const MAX_MESSAGE_SIZE: u64 = 1024 * 1024;
const EPOCH_PROPERTY: &str = "com.microsoft:epoch";

fn debug_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("EVENTHUBS_EMULATOR_DEBUG").is_some())
}

fn frames_debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("EVENTHUBS_EMULATOR_DEBUG").as_deref() == Ok("frames"))
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if debug_enabled() {
            eprintln!("eventhubs-emulator: {}", format_args!($($arg)*));
        }
    };
}

/// Configuration of an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Event hub name (entity path).
    pub hub: String,
    /// Number of partitions, ids `"0"..partitions-1`.
    pub partitions: u32,
    /// When set, events are appended durably to one file per partition and reloaded on start.
    pub data_dir: Option<PathBuf>,
}

/// A running emulator. Dropping it without [`Emulator::shutdown`] also stops it.
pub struct Emulator {
    local_addr: SocketAddr,
    state: Arc<State>,
    accept_task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds the listener, loads stored events (with `data_dir`) and spawns the accept loop.
    pub async fn start(cfg: EmulatorConfig) -> io::Result<Emulator> {
        if cfg.partitions == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "partitions must be at least 1",
            ));
        }
        let state = Arc::new(State::new(&cfg)?);
        let listener = TcpListener::bind(cfg.listen).await?;
        let local_addr = listener.local_addr()?;
        let accept_task = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(Emulator {
            local_addr,
            state,
            accept_task: Some(accept_task),
        })
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The event hub name.
    pub fn hub(&self) -> &str {
        &self.state.hub
    }

    /// Closes the listener and drops every open connection (clients see the server go away).
    pub async fn shutdown(mut self) {
        self.state.shutdown.cancel();
        if let Some(task) = self.accept_task.take() {
            let _ = task.await;
        }
        // Give the connection engines a moment to notice their killed transports.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Simulates expired or revoked credentials: while `reject` holds, CBS put-token answers
    /// status-code 401 and consumer links are refused; turning it on also detaches every open
    /// consumer link with `amqp:unauthorized-access`.
    pub fn set_reject_tokens(&self, reject: bool) {
        self.state.reject_tokens.store(reject, Ordering::SeqCst);
        if reject {
            let mut revoked = self.state.revoked.lock().unwrap_or_else(|e| e.into_inner());
            revoked.cancel();
            *revoked = CancellationToken::new();
        }
    }

    /// Simulates half-open connections: while `frozen` is set, consumer links (open ones and
    /// new ones) deliver no events, without detaching or reporting an error.
    pub fn set_freeze_receivers(&self, frozen: bool) {
        self.state.frozen.store(frozen, Ordering::SeqCst);
    }

    /// While `hold` is set, requests for a partition's properties are never answered (event
    /// hub properties still are), as on a management link that hangs.
    pub fn set_hold_partition_properties(&self, hold: bool) {
        self.state
            .hold_partition_properties
            .store(hold, Ordering::SeqCst);
    }

    /// Simulates lost settlements: while `hold` is set, events sent are stored but their
    /// deliveries are never settled, so the sender's `send` does not complete.
    pub fn set_hold_settlements(&self, hold: bool) {
        self.state.hold_settlements.store(hold, Ordering::SeqCst);
    }

    /// Simulates a broker that let an event through ingress that no link can carry (a bug, or
    /// a store written by something else): while `accept` holds, sends are stored even when the
    /// message a consumer would receive exceeds the links' maximum message size. Consumer links
    /// never send such an event: each one that reaches it is closed with
    /// `amqp:link:message-size-exceeded`, so it is a poison event for its partition.
    pub fn set_accept_oversized(&self, accept: bool) {
        self.state.accept_oversized.store(accept, Ordering::SeqCst);
    }

    /// Number of AMQP connections opened since the start.
    pub fn connections_opened(&self) -> u64 {
        self.state.connections_opened.load(Ordering::SeqCst)
    }

    /// Number of events stored in a partition (0 for an unknown partition).
    pub fn partition_len(&self, partition: &str) -> u64 {
        match self.state.partition(partition) {
            Some(p) => p.lock().events.len() as u64,
            None => 0,
        }
    }

    /// `(sequence number, body)` of every event stored in a partition.
    pub fn events(&self, partition: &str) -> Vec<(i64, Vec<u8>)> {
        match self.state.partition(partition) {
            Some(p) => p
                .lock()
                .events
                .iter()
                .map(|e| (e.seq, e.body.clone()))
                .collect(),
            None => Vec::new(),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

mod accept;
mod consumer;
mod management;
mod message;
mod producer;
mod state;
mod storage;
mod transport;

use accept::*;
use consumer::*;
use management::*;
use message::*;
use producer::*;
use state::*;
use storage::*;
use transport::*;
