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

mod consumer;
mod management;
mod message;
mod producer;
mod storage;
mod transport;

use consumer::*;
use management::*;
use message::*;
use producer::*;
use storage::*;
use transport::*;

/* ------------------------------ accept / dispatch ---------------------------- */

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let acceptor = Arc::new(
        ConnectionAcceptor::builder()
            .container_id("eventhubs-emulator")
            .max_frame_size(65536u32)
            .sasl_acceptor(AnySasl)
            .build(),
    );
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let stream = KillableStream {
                        inner: stream,
                        cancelled: Box::pin(state.shutdown.clone().cancelled_owned()),
                        killed: false,
                        seen: Default::default(),
                        pending: Vec::new(),
                        out: Vec::new(),
                    };
                    let acceptor = acceptor.clone();
                    let state = state.clone();
                    conns.spawn(async move {
                        let conn = tokio::select! {
                            _ = state.shutdown.cancelled() => return,
                            c = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(stream)) => c,
                        };
                        match conn {
                            Ok(Ok(conn)) => {
                                state.connections_opened.fetch_add(1, Ordering::SeqCst);
                                handle_connection(conn, state).await
                            }
                            Ok(Err(e)) => eprintln!("eventhubs-emulator: {peer}: open failed: {e}"),
                            Err(_) => eprintln!("eventhubs-emulator: {peer}: open timed out"),
                        }
                    });
                }
                Err(e) => {
                    eprintln!("eventhubs-emulator: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    conns.shutdown().await;
}

type ReplyLinks = Arc<Mutex<Vec<ReplyLink>>>;

async fn handle_connection(mut conn: ListenerConnectionHandle, state: Arc<State>) {
    let replies: ReplyLinks = Arc::new(Mutex::new(Vec::new()));
    let mut sessions = JoinSet::new();
    // An explicit handle-max: pyamqp reads the field and does not apply the spec default.
    let session_acceptor = SessionAcceptor::builder().handle_max(65535u32).build();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            incoming = conn.next_incoming_session() => {
                let Some(incoming) = incoming else { break };
                match session_acceptor.accept_incoming_session(incoming, &mut conn).await {
                    Ok(session) => {
                        sessions.spawn(handle_session(session, state.clone(), replies.clone()));
                    }
                    Err(e) => {
                        eprintln!("eventhubs-emulator: session begin failed: {e}");
                    }
                }
            }
        }
    }
    // The client closed the connection (or it broke): answer the close and stop its links.
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.close()).await;
}

fn target_address(attach: &Attach) -> Option<String> {
    #[allow(unreachable_patterns)]
    match attach.target.as_deref()? {
        TargetArchetype::Target(t) => t.address.clone(),
        _ => None,
    }
}

fn source_address(attach: &Attach) -> Option<String> {
    attach.source.as_ref()?.address.clone()
}

fn source_filter(attach: &Attach) -> Option<String> {
    let filter = attach.source.as_ref()?.filter.as_ref()?;
    filter.iter().find_map(|(_, v)| match v {
        Value::Described(d) => match &d.value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        },
        Value::String(s) => Some(s.clone()),
        _ => None,
    })
}

fn link_epoch(attach: &Attach) -> Option<i64> {
    let props = attach.properties.as_ref()?;
    match props.get(&Symbol::from(EPOCH_PROPERTY))? {
        Value::Long(v) => Some(*v),
        Value::Int(v) => Some(i64::from(*v)),
        Value::Short(v) => Some(i64::from(*v)),
        Value::Uint(v) => Some(i64::from(*v)),
        Value::Ulong(v) => Some(*v as i64),
        _ => None,
    }
}

/// Path segments of an entity address, without scheme and host.
fn path_segments(address: &str) -> Vec<String> {
    let path = match address.find("://") {
        Some(i) => {
            let rest = &address[i + 3..];
            rest.find('/').map(|j| &rest[j..]).unwrap_or("")
        }
        None => address,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
        .collect()
}

fn is_node(address: &Option<String>, node: &str) -> bool {
    address
        .as_deref()
        .map(|a| {
            let segs = path_segments(a);
            segs.len() == 1 && segs[0].eq_ignore_ascii_case(node)
        })
        .unwrap_or(false)
}

async fn handle_session(
    mut session: ListenerSessionHandle,
    state: Arc<State>,
    replies: ReplyLinks,
) {
    let session_id = state.next_id();
    // Event Hubs settles in mode `first` only; clients asking for `second` fall back to it.
    let link_acceptor = LinkAcceptor::builder()
        .max_message_size(MAX_MESSAGE_SIZE)
        .supported_receiver_settle_modes(SupportedReceiverSettleModes::First)
        .fallback_receiver_settle_mode(ReceiverSettleMode::First)
        .build();
    let mut links = JoinSet::new();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            Some(_) = links.join_next(), if !links.is_empty() => {}
            attach = session.next_incoming_attach() => {
                let Some(attach) = attach else { break };
                let source = source_address(&attach);
                let target = target_address(&attach);
                let filter = source_filter(&attach);
                let epoch = link_epoch(&attach);
                let name = attach.name.clone();
                trace!("attach {name:?} role={:?} source={source:?} target={target:?} filter={filter:?} epoch={epoch:?}", attach.role);
                match link_acceptor.accept_incoming_attach(attach, &mut session).await {
                    Ok(LinkEndpoint::Receiver(receiver)) => {
                        // The client sends on this link.
                        if is_node(&target, "$cbs") || is_node(&target, "$management") {
                            let node = path_segments(target.as_deref().unwrap_or(""))[0].clone();
                            links.spawn(run_request_link(receiver, node, session_id, state.clone(), replies.clone()));
                        } else {
                            links.spawn(run_producer_link(receiver, target.unwrap_or_default(), state.clone()));
                        }
                    }
                    Ok(LinkEndpoint::Sender(sender)) => {
                        // The client receives on this link.
                        if is_node(&source, "$cbs") || is_node(&source, "$management") {
                            let node = path_segments(source.as_deref().unwrap_or(""))[0].clone();
                            let (guard, rx) = register_reply_link(&replies, &state, session_id, &node, target, name);
                            links.spawn(run_reply_link(sender, guard, rx, state.clone()));
                        } else {
                            links.spawn(run_consumer_link(
                                sender,
                                source.unwrap_or_default(),
                                filter,
                                epoch,
                                state.clone(),
                            ));
                        }
                    }
                    Err(e) => eprintln!("eventhubs-emulator: link attach failed: {e}"),
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), session.end()).await;
}
