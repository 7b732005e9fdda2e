//! A small Azure Event Hubs-compatible AMQP 1.0 server for development and tests.
//!
//! Plain TCP, SASL ANONYMOUS / PLAIN (any credential accepted), CBS put-token (any token
//! accepted, unless [`Emulator::set_reject_tokens`] simulates revoked credentials),
//! `$management` READ for the event hub and its partitions, producer sender links (including the SDK's batch message format), consumer receiver links with the
//! `apache.org:selector-filter:string` start filter, owner-level epochs and optional durable
//! per-partition storage (`data_dir`).
//!
//! This file is self-contained so tests can pull it in with
//! `#[path = "../examples/eventhubs-emulator/server.rs"] mod emulator;`.
#![allow(dead_code)]

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

/* --------------------------------- storage -------------------------------- */

#[derive(Debug, Clone)]
struct StoredEvent {
    seq: i64,
    offset: i64,
    enqueued_ms: i64,
    partition_key: Option<String>,
    /// The original AMQP message as encoded by the producer.
    raw: Arc<Vec<u8>>,
    body: Vec<u8>,
}

struct PartitionData {
    events: Vec<StoredEvent>,
    next_offset: i64,
    file: Option<File>,
}

struct Partition {
    data: Mutex<PartitionData>,
    /// Number of stored events; receivers wait on changes.
    len_tx: watch::Sender<usize>,
}

impl Partition {
    fn lock(&self) -> MutexGuard<'_, PartitionData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct NewEvent {
    partition_key: Option<String>,
    raw: Vec<u8>,
    body: Vec<u8>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn encode_record(e: &StoredEvent) -> Vec<u8> {
    let pk = e.partition_key.as_deref().unwrap_or("");
    let mut payload = Vec::with_capacity(e.raw.len() + 64);
    payload.extend_from_slice(&e.seq.to_le_bytes());
    payload.extend_from_slice(&e.offset.to_le_bytes());
    payload.extend_from_slice(&e.enqueued_ms.to_le_bytes());
    payload.push(u8::from(e.partition_key.is_some()));
    payload.extend_from_slice(&(pk.len() as u32).to_le_bytes());
    payload.extend_from_slice(pk.as_bytes());
    payload.extend_from_slice(&e.raw);
    let mut rec = Vec::with_capacity(payload.len() + 4);
    rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    rec.extend_from_slice(&payload);
    rec
}

fn decode_record(payload: &[u8]) -> Option<StoredEvent> {
    let rd_i64 = |at: usize| -> Option<i64> {
        Some(i64::from_le_bytes(
            payload.get(at..at + 8)?.try_into().ok()?,
        ))
    };
    let seq = rd_i64(0)?;
    let offset = rd_i64(8)?;
    let enqueued_ms = rd_i64(16)?;
    let has_pk = *payload.get(24)? != 0;
    let pk_len = u32::from_le_bytes(payload.get(25..29)?.try_into().ok()?) as usize;
    let pk = std::str::from_utf8(payload.get(29..29 + pk_len)?).ok()?;
    let raw = payload.get(29 + pk_len..)?.to_vec();
    let body = decode_message(&raw).map(|m| body_bytes(&m.body))?;
    Some(StoredEvent {
        seq,
        offset,
        enqueued_ms,
        partition_key: has_pk.then(|| pk.to_string()),
        raw: Arc::new(raw),
        body,
    })
}

/// Loads a partition file; a torn record at the end (crash mid-write) is cut off.
fn load_partition_file(path: &Path) -> io::Result<(File, Vec<StoredEvent>, i64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let mut events = Vec::new();
    let mut pos = 0usize;
    let mut next_offset = 0i64;
    while pos + 4 <= buf.len() {
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let Some(payload) = buf.get(pos + 4..pos + 4 + len) else {
            break;
        };
        let Some(ev) = decode_record(payload) else {
            break;
        };
        if ev.seq != events.len() as i64 {
            break;
        }
        next_offset = ev.offset + ev.raw.len() as i64;
        events.push(ev);
        pos += 4 + len;
    }
    if pos != buf.len() {
        eprintln!(
            "eventhubs-emulator: {}: dropping {} trailing bytes of an incomplete record",
            path.display(),
            buf.len() - pos
        );
        file.set_len(pos as u64)?;
        file.sync_all()?;
    }
    Ok((file, events, next_offset))
}

/* ---------------------------------- state --------------------------------- */

struct ReceiverReg {
    id: u64,
    epoch: Option<i64>,
    kick: CancellationToken,
}

struct ReplyLink {
    id: u64,
    /// The session the link lives in; replies prefer the request's session.
    session_id: u64,
    /// Source address of the client's receiver (`$cbs`, `$management`).
    node: String,
    /// Target address of the client's receiver (the client node used in `reply-to`).
    client_addr: Option<String>,
    name: String,
    tx: tokio::sync::mpsc::UnboundedSender<Message<Body<Value>>>,
}

struct State {
    hub: String,
    created_ms: i64,
    partitions: Vec<Partition>,
    round_robin: AtomicUsize,
    owners: Mutex<HashMap<(String, usize), Vec<ReceiverReg>>>,
    next_id: AtomicU64,
    shutdown: CancellationToken,
    /// Credentials revoked: CBS put-token answers 401 and consumer links are refused.
    reject_tokens: AtomicBool,
    /// Cancelled (and replaced) when tokens become rejected: open consumer links detach.
    revoked: Mutex<CancellationToken>,
    /// Consumer links deliver nothing but stay attached, as over a half-open connection.
    frozen: AtomicBool,
    /// `$management` READ requests for a partition's properties get no answer.
    hold_partition_properties: AtomicBool,
    /// Sends are stored but never settled (a lost disposition, as on a half-open connection).
    hold_settlements: AtomicBool,
    /// AMQP connections opened so far.
    connections_opened: AtomicU64,
}

impl State {
    fn new(cfg: &EmulatorConfig) -> io::Result<State> {
        let mut partitions = Vec::new();
        let dir = match &cfg.data_dir {
            Some(d) => {
                let dir = d.join(&cfg.hub);
                fs::create_dir_all(&dir)?;
                Some(dir)
            }
            None => None,
        };
        for i in 0..cfg.partitions {
            let (file, events, next_offset) = match &dir {
                Some(dir) => {
                    let (f, e, o) = load_partition_file(&dir.join(format!("partition-{i}.log")))?;
                    (Some(f), e, o)
                }
                None => (None, Vec::new(), 0),
            };
            let (len_tx, _) = watch::channel(events.len());
            partitions.push(Partition {
                data: Mutex::new(PartitionData {
                    events,
                    next_offset,
                    file,
                }),
                len_tx,
            });
        }
        Ok(State {
            hub: cfg.hub.clone(),
            created_ms: now_ms(),
            partitions,
            round_robin: AtomicUsize::new(0),
            owners: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            reject_tokens: AtomicBool::new(false),
            revoked: Mutex::new(CancellationToken::new()),
            frozen: AtomicBool::new(false),
            hold_settlements: AtomicBool::new(false),
            hold_partition_properties: AtomicBool::new(false),
            connections_opened: AtomicU64::new(0),
        })
    }

    fn partition_index(&self, id: &str) -> Option<usize> {
        let i: usize = id.parse().ok()?;
        (i < self.partitions.len() && i.to_string() == id).then_some(i)
    }

    fn partition(&self, id: &str) -> Option<&Partition> {
        self.partition_index(id).map(|i| &self.partitions[i])
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn pick_partition(&self, partition_key: Option<&str>) -> usize {
        let n = self.partitions.len();
        match partition_key {
            Some(key) => {
                let hash = partition_key_hash(key);
                ((hash as i32) % (n as i32)).unsigned_abs() as usize
            }
            None => self.round_robin.fetch_add(1, Ordering::Relaxed) % n,
        }
    }

    /// Appends events to a partition (durably first, when a data dir is set).
    fn append(&self, partition: usize, events: Vec<NewEvent>) -> io::Result<()> {
        let part = &self.partitions[partition];
        let mut data = part.lock();
        let enqueued_ms = now_ms();
        let mut stored = Vec::with_capacity(events.len());
        let mut next_offset = data.next_offset;
        let base = data.events.len() as i64;
        for (i, ev) in events.into_iter().enumerate() {
            let raw_len = ev.raw.len() as i64;
            stored.push(StoredEvent {
                seq: base + i as i64,
                offset: next_offset,
                enqueued_ms,
                partition_key: ev.partition_key,
                raw: Arc::new(ev.raw),
                body: ev.body,
            });
            next_offset += raw_len.max(1);
        }
        if let Some(file) = data.file.as_mut() {
            let mut buf = Vec::new();
            for e in &stored {
                buf.extend_from_slice(&encode_record(e));
            }
            file.write_all(&buf)?;
            file.sync_data()?;
        }
        data.next_offset = next_offset;
        data.events.extend(stored);
        let len = data.events.len();
        drop(data);
        part.len_tx.send_replace(len);
        Ok(())
    }
}

/// The partition key hash of the Azure SDKs (Jenkins lookup3 `hashlittle2`, folded to 16 bits),
/// so a key lands where the SDK's own partition resolver would put it.
fn partition_key_hash(key: &str) -> i16 {
    let data = key.as_bytes();
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut a = 0xDEAD_BEEF_u32.wrapping_add(data.len() as u32);
    let mut b = a;
    let mut c = a;
    let chunks = if data.len() > 12 {
        (data.len() - 1) / 12
    } else {
        0
    };
    let mut off = 0usize;
    for _ in 0..chunks {
        a = a.wrapping_add(le32(&data[off..off + 4]));
        b = b.wrapping_add(le32(&data[off + 4..off + 8]));
        c = c.wrapping_add(le32(&data[off + 8..off + 12]));
        off += 12;
        a = a.wrapping_sub(c);
        a ^= c.rotate_left(4);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= a.rotate_left(6);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= b.rotate_left(8);
        b = b.wrapping_add(a);
        a = a.wrapping_sub(c);
        a ^= c.rotate_left(16);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= a.rotate_left(19);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= b.rotate_left(4);
        b = b.wrapping_add(a);
    }
    let tail = &data[off..];
    let mut padded = [0u8; 12];
    padded[..tail.len()].copy_from_slice(tail);
    if tail.is_empty() {
        return (c ^ b) as u16 as i16;
    }
    // Adding zero-padded little-endian words equals lookup3's byte-wise tail switch.
    a = a.wrapping_add(le32(&padded[0..4]));
    if tail.len() > 4 {
        b = b.wrapping_add(le32(&padded[4..8]));
    }
    if tail.len() > 8 {
        c = c.wrapping_add(le32(&padded[8..12]));
    }
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    (c ^ b) as u16 as i16
}

/* ------------------------------ message helpers ---------------------------- */

fn encode_message(msg: &Message<Body<Value>>) -> Option<Vec<u8>> {
    serde_amqp::to_vec(&Serializable(msg.clone())).ok()
}

fn decode_message(bytes: &[u8]) -> Option<Message<Body<Value>>> {
    serde_amqp::from_slice::<Deserializable<Message<Body<Value>>>>(bytes)
        .ok()
        .map(|d| d.0)
}

fn body_bytes(body: &Body<Value>) -> Vec<u8> {
    match body {
        Body::Data(batch) => batch.iter().flat_map(|d| d.0.iter().copied()).collect(),
        Body::Value(AmqpValue(Value::Binary(b))) => b.to_vec(),
        Body::Value(AmqpValue(Value::String(s))) => s.as_bytes().to_vec(),
        Body::Value(AmqpValue(v)) => serde_amqp::to_vec(v).unwrap_or_default(),
        Body::Sequence(seq) => {
            serde_amqp::to_vec(&seq.iter().map(|s| &s.0).collect::<Vec<_>>()).unwrap_or_default()
        }
        Body::Empty => Vec::new(),
    }
}

fn annotation_string(msg: &Message<Body<Value>>, key: &str) -> Option<String> {
    let ann = msg.message_annotations.as_ref()?;
    ann.0.iter().find_map(|(k, v)| match (k, v) {
        (OwnedKey::Symbol(s), Value::String(v)) if s.0 == key => Some(v.clone()),
        _ => None,
    })
}

fn app_prop_string(msg: &Message<Body<Value>>, key: &str) -> Option<String> {
    match msg.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::String(s) => Some(s.clone()),
        SimpleValue::Symbol(s) => Some(s.0.clone()),
        _ => None,
    }
}

fn build_delivery(ev: &StoredEvent) -> Option<Message<Body<Value>>> {
    let mut msg = decode_message(&ev.raw)?;
    msg.delivery_annotations = None;
    let mut ann = msg
        .message_annotations
        .take()
        .map(|a| a.0)
        .unwrap_or_default();
    let key = |s: &str| OwnedKey::Symbol(Symbol::from(s));
    ann.insert(key("x-opt-sequence-number"), Value::Long(ev.seq));
    ann.insert(key("x-opt-offset"), Value::String(ev.offset.to_string()));
    ann.insert(
        key("x-opt-enqueued-time"),
        Value::Timestamp(Timestamp::from_milliseconds(ev.enqueued_ms)),
    );
    match &ev.partition_key {
        Some(pk) => {
            ann.insert(key("x-opt-partition-key"), Value::String(pk.clone()));
        }
        None => {
            ann.swap_remove(&key("x-opt-partition-key"));
        }
    }
    msg.message_annotations = Some(MessageAnnotations(ann));
    // One Data section with the body, as the service delivers it.
    if !matches!(msg.body, Body::Data(_)) {
        msg.body = Body::Data(vec![Data(Binary::from(ev.body.clone()))].into());
    }
    Some(msg)
}

/* -------------------------------- transport -------------------------------- */

/// A TCP stream that fails all I/O once the server shuts down, so the AMQP engines drop the
/// socket as in a server crash/restart.
struct KillableStream {
    inner: TcpStream,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    killed: bool,
    /// Frame tracing (EVENTHUBS_EMULATOR_DEBUG=frames): bytes seen per direction.
    seen: [FrameTracer; 2],
    /// Written bytes not yet forming a complete frame.
    pending: Vec<u8>,
    /// Padded frames not yet written to the socket.
    out: Vec<u8>,
}

#[derive(Default)]
struct FrameTracer {
    buf: Vec<u8>,
}

impl FrameTracer {
    fn feed(&mut self, dir: &str, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        loop {
            if self.buf.len() >= 8 && self.buf.starts_with(b"AMQP") {
                self.buf.drain(..8);
                continue;
            }
            if self.buf.len() < 8 {
                return;
            }
            let size =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if self.buf.len() < size {
                return;
            }
            let doff = self.buf[4] as usize * 4;
            let ftype = self.buf[5];
            let channel = u16::from_be_bytes([self.buf[6], self.buf[7]]);
            let body = &self.buf[doff.min(size)..size];
            let code = match body {
                [0x00, 0x53, c, ..] => *c as u64,
                [0x00, 0x80, rest @ ..] if rest.len() >= 8 => {
                    u64::from_be_bytes(rest[..8].try_into().unwrap())
                }
                [] => 0xff,
                _ => 0xfe,
            };
            let name = match (ftype, code) {
                (1, c) => match c {
                    0x40 => "sasl-mechanisms",
                    0x41 => "sasl-init",
                    0x44 => "sasl-outcome",
                    _ => "sasl-?",
                },
                (_, 0x10) => "open",
                (_, 0x11) => "begin",
                (_, 0x12) => "attach",
                (_, 0x13) => "flow",
                (_, 0x14) => "transfer",
                (_, 0x15) => "disposition",
                (_, 0x16) => "detach",
                (_, 0x17) => "end",
                (_, 0x18) => "close",
                (_, 0xff) => "empty",
                _ => "?",
            };
            eprintln!(
                "eventhubs-emulator: frame {dir} ch={channel} {name} {:02x?}",
                &body[..body.len().min(48)]
            );
            self.buf.drain(..size);
        }
    }
}

impl KillableStream {
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.killed && self.cancelled.as_mut().poll(cx).is_ready() {
            self.killed = true;
        }
        if self.killed {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "emulator shut down",
            ))
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for KillableStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillableStream")
            .field("inner", &self.inner)
            .finish()
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if frames_debug() {
            let bytes = buf.filled()[before..].to_vec();
            self.seen[0].feed("<-", &bytes);
        }
        res
    }
}

impl KillableStream {
    /// Writes as much of the padded output as the socket takes now.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "socket closed",
                    )))
                }
                Poll::Ready(Ok(n)) => {
                    self.out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Moves complete frames from `pending` to `out`, padding performatives.
    fn pad_pending(&mut self) {
        loop {
            if self.pending.len() >= 8 && self.pending.starts_with(b"AMQP") {
                let header: Vec<u8> = self.pending.drain(..8).collect();
                self.push_out(&header);
                continue;
            }
            if self.pending.len() < 8 {
                return;
            }
            let size = u32::from_be_bytes([
                self.pending[0],
                self.pending[1],
                self.pending[2],
                self.pending[3],
            ]) as usize;
            if size < 8 || self.pending.len() < size {
                if size < 8 {
                    // Not a frame we understand: pass everything through unchanged.
                    let all: Vec<u8> = self.pending.drain(..).collect();
                    self.push_out(&all);
                }
                return;
            }
            let frame: Vec<u8> = self.pending.drain(..size).collect();
            match pad_performative(&frame) {
                Some(padded) => self.push_out(&padded),
                None => self.push_out(&frame),
            }
        }
    }

    fn push_out(&mut self, bytes: &[u8]) {
        if frames_debug() {
            self.seen[1].feed("->", bytes);
        }
        self.out.extend_from_slice(bytes);
    }
}

/// Number of fields of each performative (AMQP 1.0 part 2.7 and 5.3).
fn performative_fields(frame_type: u8, code: u8) -> Option<usize> {
    Some(match (frame_type, code) {
        (0, 0x10) => 10, // open
        (0, 0x11) => 8,  // begin
        (0, 0x12) => 14, // attach
        (0, 0x13) => 11, // flow
        (0, 0x14) => 11, // transfer
        (0, 0x15) => 6,  // disposition
        (0, 0x16) => 3,  // detach
        (0, 0x17) => 1,  // end
        (0, 0x18) => 1,  // close
        (1, 0x40) => 1,  // sasl-mechanisms
        (1, 0x42) => 1,  // sasl-challenge
        (1, 0x44) => 2,  // sasl-outcome
        _ => return None,
    })
}

/// fe2o3 omits trailing null fields of performatives, which AMQP allows, but the Python
/// `azure-eventhub` client (pyamqp) indexes every field; pad the lists with nulls.
fn pad_performative(frame: &[u8]) -> Option<Vec<u8>> {
    let doff = frame[4] as usize * 4;
    let frame_type = frame[5];
    let body = frame.get(doff..)?;
    if body.len() < 4 || body[0] != 0x00 || body[1] != 0x53 {
        return None;
    }
    let code = body[2];
    let expected = performative_fields(frame_type, code)?;
    let (count, items, rest) = match body[3] {
        0x45 => (0usize, &body[4..4], &body[4..]),
        0xc0 => {
            let size = *body.get(4)? as usize;
            let count = *body.get(5)? as usize;
            (count, body.get(6..5 + size)?, body.get(5 + size..)?)
        }
        0xd0 => {
            let size = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?) as usize;
            let count = u32::from_be_bytes(body.get(8..12)?.try_into().ok()?) as usize;
            (count, body.get(12..8 + size)?, body.get(8 + size..)?)
        }
        _ => return None,
    };
    if count >= expected {
        return None;
    }
    let mut list_items = items.to_vec();
    list_items.extend(std::iter::repeat_n(0x40u8, expected - count));
    let mut new_body = vec![0x00, 0x53, code];
    if list_items.len() < 255 {
        new_body.push(0xc0);
        new_body.push((list_items.len() + 1) as u8);
        new_body.push(expected as u8);
    } else {
        new_body.push(0xd0);
        new_body.extend_from_slice(&((list_items.len() + 4) as u32).to_be_bytes());
        new_body.extend_from_slice(&(expected as u32).to_be_bytes());
    }
    new_body.extend_from_slice(&list_items);
    new_body.extend_from_slice(rest);
    let mut out = Vec::with_capacity(doff + new_body.len());
    out.extend_from_slice(&((doff + new_body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&frame[4..doff]);
    out.extend_from_slice(&new_body);
    Some(out)
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        // Backpressure: take new bytes only once earlier output is on the socket.
        match self.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|_| 0)),
        }
        self.pending.extend_from_slice(buf);
        self.pad_pending();
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        match self.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.killed {
            match self.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts ANONYMOUS, PLAIN, EXTERNAL and MSSBCBS with any credential.
#[derive(Debug, Clone)]
struct AnySasl;

impl SaslAcceptor for AnySasl {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(vec![
            Symbol::from("ANONYMOUS"),
            Symbol::from("PLAIN"),
            Symbol::from("MSSBCBS"),
            Symbol::from("EXTERNAL"),
        ])
    }

    fn on_init(&mut self, _init: SaslInit) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        })
    }
}

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

/* ------------------------------- $cbs / $management ------------------------ */

/// How long to wait before settling a delivery received from a client.
///
/// fe2o3-amqp 0.16 (the Rust SDK's AMQP stack) records an unsettled outgoing delivery only
/// after it has handed the transfer to its session; a disposition that arrives before that is
/// dropped and the client's `send` never completes. Against Azure the network round trip hides
/// this race, against a local server it hangs the client in most runs. Settling a little later
/// avoids it. Override with `EVENTHUBS_EMULATOR_SETTLE_DELAY_MS`.
fn settle_delay() -> Duration {
    static DELAY: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *DELAY.get_or_init(|| {
        let ms = std::env::var("EVENTHUBS_EMULATOR_SETTLE_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        Duration::from_millis(ms)
    })
}

/// Accepts a delivery after [`settle_delay`] without blocking the link.
fn accept_later(receiver: &Receiver, info: fe2o3_amqp::link::delivery::DeliveryInfo) {
    let disposer = receiver.disposer();
    tokio::spawn(async move {
        tokio::time::sleep(settle_delay()).await;
        if let Err(e) = disposer.accept(info).await {
            trace!("late accept failed: {e}");
        }
    });
}

/// Registers a `$cbs`/`$management` reply link; it is unregistered when the guard drops.
fn register_reply_link(
    replies: &ReplyLinks,
    state: &State,
    session_id: u64,
    node: &str,
    client_addr: Option<String>,
    name: String,
) -> (ReplyGuard, ReplyRx) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let id = state.next_id();
    replies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ReplyLink {
            id,
            session_id,
            node: node.to_ascii_lowercase(),
            client_addr,
            name,
            tx,
        });
    (ReplyGuard(replies.clone(), id), rx)
}

type ReplyRx = tokio::sync::mpsc::UnboundedReceiver<Message<Body<Value>>>;

struct ReplyGuard(ReplyLinks, u64);

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| r.id != self.1);
    }
}

async fn run_reply_link(
    mut sender: Sender,
    _guard: ReplyGuard,
    mut rx: ReplyRx,
    state: Arc<State>,
) {
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            e = sender.on_detach() => {
                answer_detach(sender, e).await;
                return;
            }
            msg = rx.recv() => {
                let Some(msg) = msg else { return };
                let sendable = Sendable::builder().message(msg).settled(false).build();
                match tokio::time::timeout(Duration::from_secs(30), sender.send_batchable(sendable)).await {
                    Ok(Ok(_fut)) => {}
                    Ok(Err(e)) => {
                        eprintln!("eventhubs-emulator: reply send failed: {e}");
                        let _ = tokio::time::timeout(Duration::from_secs(2), sender.close()).await;
                        return;
                    }
                    Err(_) => eprintln!("eventhubs-emulator: reply dropped (no credit)"),
                }
            }
        }
    }
}

/// Finds the reply link for a request: same node, preferring the request's session, then the
/// client address named by `reply-to`, then the link names used by the SDKs
/// (`X-sender`/`X-receiver`), then the only candidate. Never by arrival order.
async fn find_reply_link(
    replies: &ReplyLinks,
    node: &str,
    session_id: u64,
    reply_to: Option<&str>,
    request_link_name: &str,
) -> Option<tokio::sync::mpsc::UnboundedSender<Message<Body<Value>>>> {
    let node = node.to_ascii_lowercase();
    let stem = |name: &str, suffixes: [&str; 2]| -> Option<String> {
        suffixes
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .map(|s| s.to_string())
    };
    let request_stem = stem(request_link_name, ["sender", "Sender"]);
    // The reply link normally attaches before the request arrives; wait briefly if not.
    for _ in 0..100 {
        {
            let links = replies.lock().unwrap_or_else(|e| e.into_inner());
            for same_session in [true, false] {
                let candidates: Vec<&ReplyLink> = links
                    .iter()
                    .filter(|l| l.node == node && !l.tx.is_closed())
                    .filter(|l| !same_session || l.session_id == session_id)
                    .collect();
                let by_addr = || {
                    let rt = reply_to?;
                    candidates
                        .iter()
                        .rev()
                        .find(|l| l.client_addr.as_deref() == Some(rt))
                };
                let by_name = || {
                    let want = request_stem.as_deref()?;
                    candidates
                        .iter()
                        .rev()
                        .find(|l| stem(&l.name, ["receiver", "Receiver"]).as_deref() == Some(want))
                };
                let only = || (candidates.len() == 1).then(|| &candidates[0]);
                if let Some(link) = by_addr().or_else(by_name).or_else(only) {
                    return Some(link.tx.clone());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn run_request_link(
    mut receiver: Receiver,
    node: String,
    session_id: u64,
    state: Arc<State>,
    replies: ReplyLinks,
) {
    let link_name = receiver.name().to_string();
    loop {
        let delivery = tokio::select! {
            _ = state.shutdown.cancelled() => return,
            d = receiver.recv::<Body<Value>>() => d,
        };
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                // fe2o3 already answered a remote detach/close with the same `closed` flag;
                // closing again would re-attach the link.
                trace!("receiver link ended: {e}");
                return;
            }
        };
        let (info, request) = delivery.into_parts();
        accept_later(&receiver, info);
        let (message_id, reply_to) = match &request.properties {
            Some(p) => (p.message_id.clone(), p.reply_to.clone()),
            None => (None, None),
        };
        let (status, description, body) = if node.eq_ignore_ascii_case("$cbs") {
            if state.reject_tokens.load(Ordering::SeqCst) {
                (
                    401,
                    "Unauthorized: the token is expired or revoked".to_string(),
                    Value::Null,
                )
            } else {
                (202, "Accepted".to_string(), Value::Null)
            }
        } else {
            let partition_read = app_prop_string(&request, "type")
                .is_some_and(|t| t.to_ascii_lowercase().contains("partition"));
            if partition_read && state.hold_partition_properties.load(Ordering::SeqCst) {
                trace!("holding a partition properties request");
                continue;
            }
            management_reply(&state, &request)
        };
        let mut props = OrderedMap::new();
        props.insert("status-code".to_string(), SimpleValue::Int(status));
        props.insert("statusCode".to_string(), SimpleValue::Int(status));
        props.insert(
            "status-description".to_string(),
            SimpleValue::String(description.clone()),
        );
        props.insert(
            "statusDescription".to_string(),
            SimpleValue::String(description),
        );
        let reply = Message {
            header: None,
            delivery_annotations: None,
            message_annotations: None,
            properties: Some(Properties {
                correlation_id: message_id.or(Some(MessageId::Ulong(0))),
                to: reply_to.clone(),
                ..Default::default()
            }),
            application_properties: Some(ApplicationProperties(props)),
            body: Body::Value(AmqpValue(body)),
            footer: None,
        };
        trace!("{node} request on {link_name:?} session {session_id} reply_to={reply_to:?} -> {status}");
        match find_reply_link(&replies, &node, session_id, reply_to.as_deref(), &link_name).await {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => eprintln!("eventhubs-emulator: no reply link for a {node} request"),
        }
    }
}

fn management_reply(state: &State, request: &Message<Body<Value>>) -> (i32, String, Value) {
    let operation = app_prop_string(request, "operation").unwrap_or_default();
    let entity_type = app_prop_string(request, "type").unwrap_or_default();
    let name = app_prop_string(request, "name").unwrap_or_default();
    if operation != "READ" {
        return (
            501,
            format!("operation {operation:?} not supported"),
            Value::Null,
        );
    }
    if !name.eq_ignore_ascii_case(&state.hub) {
        return (404, format!("event hub {name:?} not found"), Value::Null);
    }
    let mut map: OrderedMap<Value, Value> = OrderedMap::new();
    let mut put = |k: &str, v: Value| {
        map.insert(Value::String(k.to_string()), v);
    };
    match entity_type.as_str() {
        "com.microsoft:eventhub" => {
            put("name", Value::String(state.hub.clone()));
            put("type", Value::String(entity_type.clone()));
            put(
                "created_at",
                Value::Timestamp(Timestamp::from_milliseconds(state.created_ms)),
            );
            put("partition_count", Value::Int(state.partitions.len() as i32));
            put(
                "partition_ids",
                Value::Array(Array::from(
                    (0..state.partitions.len())
                        .map(|i| Value::String(i.to_string()))
                        .collect::<Vec<_>>(),
                )),
            );
        }
        "com.microsoft:partition" => {
            let pid = app_prop_string(request, "partition").unwrap_or_default();
            let Some(part) = state.partition(&pid) else {
                return (404, format!("partition {pid:?} not found"), Value::Null);
            };
            let data = part.lock();
            let last = data.events.last();
            put("name", Value::String(state.hub.clone()));
            put("type", Value::String(entity_type.clone()));
            put("partition", Value::String(pid.clone()));
            put("begin_sequence_number", Value::Long(0));
            put(
                "last_enqueued_sequence_number",
                Value::Long(last.map(|e| e.seq).unwrap_or(-1)),
            );
            put(
                "last_enqueued_offset",
                Value::String(last.map(|e| e.offset.to_string()).unwrap_or("-1".into())),
            );
            put(
                "last_enqueued_time_utc",
                Value::Timestamp(Timestamp::from_milliseconds(
                    last.map(|e| e.enqueued_ms).unwrap_or(0),
                )),
            );
            put("is_partition_empty", Value::Bool(data.events.is_empty()));
            put("last_enqueued_sequence_number_epoch", Value::Long(0));
        }
        other => return (404, format!("unknown entity type {other:?}"), Value::Null),
    }
    (200, "OK".to_string(), Value::Map(map))
}

/* ---------------------------------- producers ------------------------------- */

async fn close_receiver_with(
    receiver: Receiver,
    condition: definitions::ErrorCondition,
    msg: String,
) {
    let err = definitions::Error::new(condition, Some(msg), None);
    let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close_with_error(err)).await;
}

async fn run_producer_link(mut receiver: Receiver, target: String, state: Arc<State>) {
    let segs = path_segments(&target);
    let fixed_partition = match segs.as_slice() {
        [hub] if hub.eq_ignore_ascii_case(&state.hub) => None,
        [hub, p, id]
            if hub.eq_ignore_ascii_case(&state.hub) && p.eq_ignore_ascii_case("Partitions") =>
        {
            match state.partition_index(id) {
                Some(i) => Some(i),
                None => {
                    let msg = format!("partition {id:?} not found");
                    return close_receiver_with(receiver, AmqpError::NotFound.into(), msg).await;
                }
            }
        }
        _ => {
            let msg = format!("entity {target:?} not found");
            return close_receiver_with(receiver, AmqpError::NotFound.into(), msg).await;
        }
    };
    loop {
        let delivery = tokio::select! {
            _ = state.shutdown.cancelled() => return,
            d = receiver.recv::<Body<Value>>() => d,
        };
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                // fe2o3 already answered a remote detach/close with the same `closed` flag;
                // closing again would re-attach the link.
                trace!("receiver link ended: {e}");
                return;
            }
        };
        let is_batch = *delivery.message_format() == Some(BATCH_MESSAGE_FORMAT);
        trace!(
            "delivery on {target} format={:?}",
            delivery.message_format()
        );
        let result = store_delivery(&state, fixed_partition, is_batch, delivery.message());
        let outcome = match result {
            Ok(()) if state.hold_settlements.load(Ordering::SeqCst) => Ok(()),
            Ok(()) => {
                accept_later(&receiver, delivery.into_parts().0);
                Ok(())
            }
            Err(e) => {
                eprintln!("eventhubs-emulator: rejecting a send to {target}: {e}");
                let err =
                    definitions::Error::new(AmqpError::InternalError, Some(e.to_string()), None);
                tokio::time::sleep(settle_delay()).await;
                receiver.reject(&delivery, err).await
            }
        };
        trace!("settled delivery on {target}: {outcome:?}");
        if outcome.is_err() {
            let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close()).await;
            return;
        }
    }
}

fn store_delivery(
    state: &State,
    fixed_partition: Option<usize>,
    is_batch: bool,
    message: &Message<Body<Value>>,
) -> io::Result<()> {
    let envelope_key = annotation_string(message, "x-opt-partition-key");
    let mut events = Vec::new();
    match (&message.body, is_batch) {
        (Body::Data(sections), true) => {
            for section in sections.iter() {
                let inner = decode_message(&section.0).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "undecodable batched message")
                })?;
                let key = annotation_string(&inner, "x-opt-partition-key").or(envelope_key.clone());
                events.push(NewEvent {
                    partition_key: key,
                    body: body_bytes(&inner.body),
                    raw: section.0.to_vec(),
                });
            }
        }
        _ => {
            let raw = encode_message(message)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unencodable message"))?;
            events.push(NewEvent {
                partition_key: envelope_key.clone(),
                body: body_bytes(&message.body),
                raw,
            });
        }
    }
    if events.is_empty() {
        return Ok(());
    }
    let partition = fixed_partition.unwrap_or_else(|| {
        let key = envelope_key.or_else(|| events[0].partition_key.clone());
        state.pick_partition(key.as_deref())
    });
    state.append(partition, events)
}

/* ---------------------------------- consumers ------------------------------- */

#[derive(Debug, Clone, PartialEq)]
enum StartFrom {
    Sequence { value: i64, inclusive: bool },
    Offset { value: i64, inclusive: bool },
    Latest,
    EnqueuedTime { ms: i64, inclusive: bool },
}

/// Parses `amqp.annotation.x-opt-offset > '-1'` and friends.
fn parse_filter(filter: &str) -> Result<StartFrom, String> {
    let f = filter.trim();
    let rest = f
        .strip_prefix("amqp.annotation.")
        .ok_or_else(|| format!("unsupported filter {filter:?}"))?;
    let (field, rest) = rest
        .split_once(|c: char| c.is_whitespace() || c == '>' || c == '=' || c == '<')
        .map(|(a, _)| (a, &rest[a.len()..]))
        .ok_or_else(|| format!("unsupported filter {filter:?}"))?;
    let rest = rest.trim_start();
    let (inclusive, rest) = if let Some(r) = rest.strip_prefix(">=") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (false, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (true, r)
    } else {
        return Err(format!("unsupported operator in filter {filter:?}"));
    };
    let value = rest.trim().trim_matches('\'').trim();
    let parse = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("bad value {v:?} in filter {filter:?}"))
    };
    match field {
        "x-opt-offset" if value == "@latest" => Ok(StartFrom::Latest),
        "x-opt-offset" => Ok(StartFrom::Offset {
            value: parse(value)?,
            inclusive,
        }),
        "x-opt-sequence-number" => Ok(StartFrom::Sequence {
            value: parse(value)?,
            inclusive,
        }),
        "x-opt-enqueued-time" => Ok(StartFrom::EnqueuedTime {
            ms: parse(value)?,
            inclusive,
        }),
        _ => Err(format!("unsupported filter field in {filter:?}")),
    }
}

fn start_index(events: &[StoredEvent], start: &StartFrom) -> usize {
    let first =
        |pred: &dyn Fn(&StoredEvent) -> bool| events.iter().position(pred).unwrap_or(events.len());
    match *start {
        StartFrom::Latest => events.len(),
        StartFrom::Sequence { value, inclusive } => first(&|e| {
            if inclusive {
                e.seq >= value
            } else {
                e.seq > value
            }
        }),
        StartFrom::Offset { value, inclusive } => first(&|e| {
            if inclusive {
                e.offset >= value
            } else {
                e.offset > value
            }
        }),
        StartFrom::EnqueuedTime { ms, inclusive } => first(&|e| {
            if inclusive {
                e.enqueued_ms >= ms
            } else {
                e.enqueued_ms > ms
            }
        }),
    }
}

/// Answers a client's detach of a link we send on, echoing its `closed` flag.
async fn answer_detach(sender: Sender, err: fe2o3_amqp::link::DetachError) {
    use fe2o3_amqp::link::DetachError;
    let closed = matches!(
        err,
        DetachError::ClosedByRemote | DetachError::RemoteClosedWithError(_)
    );
    let answer = async move {
        if closed {
            let _ = sender.close().await;
        } else {
            let _ = sender.detach().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}

async fn close_sender_with(sender: Sender, condition: definitions::ErrorCondition, msg: String) {
    let err = definitions::Error::new(condition, Some(msg), None);
    let _ = tokio::time::timeout(Duration::from_secs(2), sender.close_with_error(err)).await;
}

/// Removes a receiver from the owner registry when its link task ends (or is aborted).
struct OwnerGuard {
    state: Arc<State>,
    key: (String, usize),
    id: u64,
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        let mut owners = self.state.owners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = owners.get_mut(&self.key) {
            list.retain(|r| r.id != self.id);
            if list.is_empty() {
                owners.remove(&self.key);
            }
        }
    }
}

async fn run_consumer_link(
    mut sender: Sender,
    source: String,
    filter: Option<String>,
    epoch: Option<i64>,
    state: Arc<State>,
) {
    let segs = path_segments(&source);
    let (group, pidx) = match segs.as_slice() {
        [hub, cg, group, p, id]
            if hub.eq_ignore_ascii_case(&state.hub)
                && cg.eq_ignore_ascii_case("ConsumerGroups")
                && p.eq_ignore_ascii_case("Partitions") =>
        {
            match state.partition_index(id) {
                Some(i) => (group.to_ascii_lowercase(), i),
                None => {
                    let msg = format!("partition {id:?} not found");
                    return close_sender_with(sender, AmqpError::NotFound.into(), msg).await;
                }
            }
        }
        _ => {
            let msg = format!("entity {source:?} not found");
            return close_sender_with(sender, AmqpError::NotFound.into(), msg).await;
        }
    };
    let start = match filter.as_deref().map(parse_filter) {
        None => StartFrom::Latest,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            return close_sender_with(sender, AmqpError::InvalidField.into(), e).await;
        }
    };

    let revoked = state
        .revoked
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if state.reject_tokens.load(Ordering::SeqCst) {
        let msg = "the token is expired or revoked".to_string();
        return close_sender_with(sender, AmqpError::UnauthorizedAccess.into(), msg).await;
    }
    // Owner-level epochs.
    let id = state.next_id();
    let kick = CancellationToken::new();
    let refused = {
        let mut owners = state.owners.lock().unwrap_or_else(|e| e.into_inner());
        let list = owners.entry((group.clone(), pidx)).or_default();
        let max_epoch = list.iter().filter_map(|r| r.epoch).max();
        let refuse = match (epoch, max_epoch) {
            (Some(e), Some(m)) => e < m,
            (None, Some(_)) => true,
            _ => false,
        };
        if refuse {
            Some(format!(
                "a receiver with a higher epoch ({}) is active on consumer group {group} partition {pidx}; epoch {:?} refused",
                max_epoch.unwrap_or_default(),
                epoch
            ))
        } else {
            if let Some(e) = epoch {
                for r in list.iter() {
                    if r.epoch.is_none_or(|old| old <= e) {
                        r.kick.cancel();
                    }
                }
                list.retain(|r| !r.kick.is_cancelled());
            }
            list.push(ReceiverReg {
                id,
                epoch,
                kick: kick.clone(),
            });
            None
        }
    };
    if let Some(msg) = refused {
        return close_sender_with(sender, LinkError::Stolen.into(), msg).await;
    }
    let _guard = OwnerGuard {
        state: state.clone(),
        key: (group.clone(), pidx),
        id,
    };

    let part = &state.partitions[pidx];
    let mut len_rx = part.len_tx.subscribe();
    let mut cursor = start_index(&part.lock().events, &start);
    trace!("consumer {id} on {group}/{pidx} epoch={epoch:?} starts at index {cursor} ({start:?})");
    loop {
        if state.frozen.load(Ordering::SeqCst) {
            // Silent while frozen; the client may still detach.
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                e = sender.on_detach() => {
                    answer_detach(sender, e).await;
                    return;
                }
                _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
            }
        }
        len_rx.borrow_and_update();
        let next = part.lock().events.get(cursor).cloned();
        match next {
            None => {
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = revoked.cancelled() => {
                        let msg = "the token is expired or revoked".to_string();
                        return close_sender_with(sender, AmqpError::UnauthorizedAccess.into(), msg).await;
                    }
                    _ = kick.cancelled() => {
                        let msg = format!("receiver displaced by a receiver with a higher or equal epoch on consumer group {group} partition {pidx}");
                        return close_sender_with(sender, LinkError::Stolen.into(), msg).await;
                    }
                    _ = tokio::time::sleep(Duration::from_millis(50)), if state.frozen.load(Ordering::SeqCst) => {}
                    e = sender.on_detach() => {
                        answer_detach(sender, e).await;
                        return;
                    }
                    changed = len_rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
            Some(ev) => {
                let Some(msg) = build_delivery(&ev) else {
                    eprintln!(
                        "eventhubs-emulator: skipping undecodable event {} in partition {pidx}",
                        ev.seq
                    );
                    cursor += 1;
                    continue;
                };
                let sendable = Sendable::builder().message(msg).build();
                tokio::select! {
                    biased;
                    _ = state.shutdown.cancelled() => return,
                    _ = revoked.cancelled() => {
                        let msg = "the token is expired or revoked".to_string();
                        return close_sender_with(sender, AmqpError::UnauthorizedAccess.into(), msg).await;
                    }
                    _ = kick.cancelled() => {
                        let msg = format!("receiver displaced by a receiver with a higher or equal epoch on consumer group {group} partition {pidx}");
                        return close_sender_with(sender, LinkError::Stolen.into(), msg).await;
                    }
                    // Waits for link credit; cancel-safe. The disposition is not awaited.
                    sent = tokio::time::timeout(Duration::from_millis(250), sender.send_batchable(sendable)) => {
                        match sent {
                            Ok(Ok(_delivery)) => {
                                trace!("consumer {id} sent seq {}", ev.seq);
                                cursor += 1;
                            }
                            Ok(Err(_)) => {
                                let _ = tokio::time::timeout(Duration::from_secs(2), sender.close()).await;
                                return;
                            }
                            Err(_) => {
                                // No credit for a while: check whether the client went away.
                                tokio::select! {
                                    e = sender.on_detach() => {
                                        answer_detach(sender, e).await;
                                        return;
                                    }
                                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn parses_sdk_filters() {
        assert_eq!(
            parse_filter("amqp.annotation.x-opt-offset > '-1'"),
            Ok(StartFrom::Offset {
                value: -1,
                inclusive: false
            })
        );
        assert_eq!(
            parse_filter("amqp.annotation.x-opt-offset > '@latest'"),
            Ok(StartFrom::Latest)
        );
        assert_eq!(
            parse_filter("amqp.annotation.x-opt-sequence-number >='41'"),
            Ok(StartFrom::Sequence {
                value: 41,
                inclusive: true
            })
        );
        assert_eq!(
            parse_filter("amqp.annotation.x-opt-enqueued-time >'1700000000000'"),
            Ok(StartFrom::EnqueuedTime {
                ms: 1_700_000_000_000,
                inclusive: false
            })
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            path_segments(
                "amqps://ns.servicebus.windows.net/hub/ConsumerGroups/$Default/Partitions/3"
            ),
            vec!["hub", "ConsumerGroups", "$Default", "Partitions", "3"]
        );
        assert_eq!(path_segments("hub"), vec!["hub"]);
        assert_eq!(path_segments("$cbs"), vec!["$cbs"]);
    }
}
