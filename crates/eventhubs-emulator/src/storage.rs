//! Storage: the events of a partition (in memory, and appended durably to one file per
//! partition with a data directory), their on-disk record format and its reload.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct StoredEvent {
    pub(super) seq: i64,
    pub(super) offset: i64,
    pub(super) enqueued_ms: i64,
    pub(super) partition_key: Option<String>,
    /// The original AMQP message as encoded by the producer.
    pub(super) raw: Arc<Vec<u8>>,
    pub(super) body: Vec<u8>,
}

pub(super) struct PartitionData {
    pub(super) events: Vec<StoredEvent>,
    pub(super) next_offset: i64,
    pub(super) file: Option<File>,
}

pub(super) struct Partition {
    pub(super) data: Mutex<PartitionData>,
    /// Number of stored events; receivers wait on changes.
    pub(super) len_tx: watch::Sender<usize>,
}

impl Partition {
    pub(super) fn lock(&self) -> MutexGuard<'_, PartitionData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct NewEvent {
    pub(super) partition_key: Option<String>,
    pub(super) raw: Vec<u8>,
    pub(super) body: Vec<u8>,
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(super) fn encode_record(e: &StoredEvent) -> Vec<u8> {
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

pub(super) fn decode_record(payload: &[u8]) -> Option<StoredEvent> {
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
pub(super) fn load_partition_file(path: &Path) -> io::Result<(File, Vec<StoredEvent>, i64)> {
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
