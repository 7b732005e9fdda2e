//! AMQP message helpers: encoding, bodies, annotations, and the message a consumer receives.

use super::*;

pub(super) fn encode_message(msg: &Message<Body<Value>>) -> Option<Vec<u8>> {
    serde_amqp::to_vec(&Serializable(msg.clone())).ok()
}

pub(super) fn decode_message(bytes: &[u8]) -> Option<Message<Body<Value>>> {
    serde_amqp::from_slice::<Deserializable<Message<Body<Value>>>>(bytes)
        .ok()
        .map(|d| d.0)
}

pub(super) fn body_bytes(body: &Body<Value>) -> Vec<u8> {
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

pub(super) fn annotation_string(msg: &Message<Body<Value>>, key: &str) -> Option<String> {
    let ann = msg.message_annotations.as_ref()?;
    ann.0.iter().find_map(|(k, v)| match (k, v) {
        (OwnedKey::Symbol(s), Value::String(v)) if s.0 == key => Some(v.clone()),
        _ => None,
    })
}

pub(super) fn app_prop_string(msg: &Message<Body<Value>>, key: &str) -> Option<String> {
    match msg.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::String(s) => Some(s.clone()),
        SimpleValue::Symbol(s) => Some(s.0.clone()),
        _ => None,
    }
}

pub(super) fn build_delivery(ev: &StoredEvent) -> Option<Message<Body<Value>>> {
    delivered_message(
        &ev.raw,
        ev.seq,
        ev.offset,
        ev.enqueued_ms,
        ev.partition_key.as_deref(),
        &ev.body,
    )
}

/// The message a consumer receives for a stored event: the producer's message with the
/// service's annotations (sequence number, offset, enqueued time, partition key).
fn delivered_message(
    raw: &[u8],
    seq: i64,
    offset: i64,
    enqueued_ms: i64,
    partition_key: Option<&str>,
    body: &[u8],
) -> Option<Message<Body<Value>>> {
    let mut msg = decode_message(raw)?;
    msg.delivery_annotations = None;
    let mut ann = msg
        .message_annotations
        .take()
        .map(|a| a.0)
        .unwrap_or_default();
    let key = |s: &str| OwnedKey::Symbol(Symbol::from(s));
    ann.insert(key("x-opt-sequence-number"), Value::Long(seq));
    ann.insert(key("x-opt-offset"), Value::String(offset.to_string()));
    ann.insert(
        key("x-opt-enqueued-time"),
        Value::Timestamp(Timestamp::from_milliseconds(enqueued_ms)),
    );
    match partition_key {
        Some(pk) => {
            ann.insert(key("x-opt-partition-key"), Value::String(pk.to_string()));
        }
        None => {
            ann.swap_remove(&key("x-opt-partition-key"));
        }
    }
    msg.message_annotations = Some(MessageAnnotations(ann));
    // One Data section with the body, as the service delivers it.
    if !matches!(msg.body, Body::Data(_)) {
        msg.body = Body::Data(vec![Data(Binary::from(body.to_vec()))].into());
    }
    Some(msg)
}

/// What the annotations the service adds can cost at most, besides the partition key.
const ANNOTATIONS_MAX: usize = 256;

/// The encoded size of the message a consumer would receive for an event (with the largest
/// sequence number and offset), when it could exceed `limit`; `None` when it surely fits.
/// Event Hubs enforces its size limit at ingress, on what it will have to deliver.
pub(super) fn delivered_size_over(
    raw: &[u8],
    partition_key: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Option<usize> {
    let bound = raw.len() + body.len() + partition_key.map_or(0, str::len) + ANNOTATIONS_MAX;
    if bound <= limit {
        return None;
    }
    let msg = delivered_message(raw, i64::MAX, i64::MAX, now_ms(), partition_key, body)?;
    let size = encode_message(&msg)?.len();
    (size > limit).then_some(size)
}
