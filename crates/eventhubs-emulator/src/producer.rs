//! Producer links: events sent by clients are stored in their partition.

use super::*;

pub(super) async fn close_receiver_with(
    receiver: Receiver,
    condition: definitions::ErrorCondition,
    msg: String,
) {
    let err = definitions::Error::new(condition, Some(msg), None);
    let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close_with_error(err)).await;
}

pub(super) async fn run_producer_link(mut receiver: Receiver, target: String, state: Arc<State>) {
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
                // With an (empty) info map: pyamqp reads every field of the error.
                let info = definitions::Fields::default();
                let err = definitions::Error::new(e.condition(), Some(e.to_string()), info);
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

/// Why a send was refused.
#[derive(Debug)]
pub(super) enum StoreError {
    /// The message a consumer would receive exceeds what a link carries.
    TooLarge {
        index: usize,
        size: usize,
    },
    Invalid(&'static str),
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::TooLarge { index, size } => write!(
                f,
                "The received message (event {index} of the delivery, size:{size} bytes as delivered) exceeds the limit ({MAX_MESSAGE_SIZE} bytes) currently allowed on the link."
            ),
            StoreError::Invalid(what) => f.write_str(what),
            StoreError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl StoreError {
    fn condition(&self) -> definitions::ErrorCondition {
        match self {
            StoreError::TooLarge { .. } => LinkError::MessageSizeExceeded.into(),
            StoreError::Invalid(_) => AmqpError::DecodeError.into(),
            StoreError::Io(_) => AmqpError::InternalError.into(),
        }
    }
}

pub(super) fn store_delivery(
    state: &State,
    fixed_partition: Option<usize>,
    is_batch: bool,
    message: &Message<Body<Value>>,
) -> Result<(), StoreError> {
    let envelope_key = annotation_string(message, "x-opt-partition-key");
    let mut events = Vec::new();
    match (&message.body, is_batch) {
        (Body::Data(sections), true) => {
            for section in sections.iter() {
                let inner = decode_message(&section.0)
                    .ok_or(StoreError::Invalid("undecodable batched message"))?;
                let key = annotation_string(&inner, "x-opt-partition-key").or(envelope_key.clone());
                events.push(NewEvent {
                    partition_key: key,
                    body: body_bytes(&inner.body),
                    raw: section.0.to_vec(),
                });
            }
        }
        _ => {
            let raw = encode_message(message).ok_or(StoreError::Invalid("unencodable message"))?;
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
    // Every event must be deliverable: a consumer link carries at most MAX_MESSAGE_SIZE.
    if !state.accept_oversized.load(Ordering::SeqCst) {
        for (index, ev) in events.iter().enumerate() {
            let limit = MAX_MESSAGE_SIZE as usize;
            let key = ev.partition_key.as_deref();
            if let Some(size) = delivered_size_over(&ev.raw, key, &ev.body, limit) {
                return Err(StoreError::TooLarge { index, size });
            }
        }
    }
    let partition = fixed_partition.unwrap_or_else(|| {
        let key = envelope_key.or_else(|| events[0].partition_key.clone());
        state.pick_partition(key.as_deref())
    });
    state.append(partition, events).map_err(StoreError::Io)
}
