//! The server state shared by every connection (partitions, link registries, fault switches)
//! and partition selection by key.

use super::*;

pub(super) struct ReceiverReg {
    pub(super) id: u64,
    pub(super) epoch: Option<i64>,
    pub(super) kick: CancellationToken,
}

pub(super) struct ReplyLink {
    pub(super) id: u64,
    /// The session the link lives in; replies prefer the request's session.
    pub(super) session_id: u64,
    /// Source address of the client's receiver (`$cbs`, `$management`).
    pub(super) node: String,
    /// Target address of the client's receiver (the client node used in `reply-to`).
    pub(super) client_addr: Option<String>,
    pub(super) name: String,
    pub(super) tx: tokio::sync::mpsc::UnboundedSender<Message<Body<Value>>>,
}

pub(super) struct State {
    pub(super) hub: String,
    pub(super) created_ms: i64,
    pub(super) partitions: Vec<Partition>,
    pub(super) round_robin: AtomicUsize,
    pub(super) owners: Mutex<HashMap<(String, usize), Vec<ReceiverReg>>>,
    pub(super) next_id: AtomicU64,
    pub(super) shutdown: CancellationToken,
    /// Credentials revoked: CBS put-token answers 401 and consumer links are refused.
    pub(super) reject_tokens: AtomicBool,
    /// Cancelled (and replaced) when tokens become rejected: open consumer links detach.
    pub(super) revoked: Mutex<CancellationToken>,
    /// Consumer links deliver nothing but stay attached, as over a half-open connection.
    pub(super) frozen: AtomicBool,
    /// `$management` READ requests for a partition's properties get no answer.
    pub(super) hold_partition_properties: AtomicBool,
    /// Sends are stored but never settled (a lost disposition, as on a half-open connection).
    pub(super) hold_settlements: AtomicBool,
    /// Events too large to deliver are stored anyway (each becomes a poison event).
    pub(super) accept_oversized: AtomicBool,
    /// AMQP connections opened so far.
    pub(super) connections_opened: AtomicU64,
}

impl State {
    pub(super) fn new(cfg: &EmulatorConfig) -> io::Result<State> {
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
            accept_oversized: AtomicBool::new(false),
            hold_partition_properties: AtomicBool::new(false),
            connections_opened: AtomicU64::new(0),
        })
    }

    pub(super) fn partition_index(&self, id: &str) -> Option<usize> {
        let i: usize = id.parse().ok()?;
        (i < self.partitions.len() && i.to_string() == id).then_some(i)
    }

    pub(super) fn partition(&self, id: &str) -> Option<&Partition> {
        self.partition_index(id).map(|i| &self.partitions[i])
    }

    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn pick_partition(&self, partition_key: Option<&str>) -> usize {
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
    pub(super) fn append(&self, partition: usize, events: Vec<NewEvent>) -> io::Result<()> {
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
pub(super) fn partition_key_hash(key: &str) -> i16 {
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
