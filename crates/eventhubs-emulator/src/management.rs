//! `$cbs` put-token and `$management` requests, and their reply links.

use super::*;

/// How long to wait before settling a delivery received from a client.
///
/// fe2o3-amqp 0.16 (the Rust SDK's AMQP stack) records an unsettled outgoing delivery only
/// after it has handed the transfer to its session; a disposition that arrives before that is
/// dropped and the client's `send` never completes. Against Azure the network round trip hides
/// this race, against a local server it hangs the client in most runs. Settling a little later
/// avoids it. Override with `EVENTHUBS_EMULATOR_SETTLE_DELAY_MS`.
pub(super) fn settle_delay() -> Duration {
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
pub(super) fn accept_later(receiver: &Receiver, info: fe2o3_amqp::link::delivery::DeliveryInfo) {
    let disposer = receiver.disposer();
    tokio::spawn(async move {
        tokio::time::sleep(settle_delay()).await;
        if let Err(e) = disposer.accept(info).await {
            trace!("late accept failed: {e}");
        }
    });
}

/// Registers a `$cbs`/`$management` reply link; it is unregistered when the guard drops.
pub(super) fn register_reply_link(
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

pub(super) type ReplyRx = tokio::sync::mpsc::UnboundedReceiver<Message<Body<Value>>>;

pub(super) struct ReplyGuard(ReplyLinks, u64);

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| r.id != self.1);
    }
}

pub(super) async fn run_reply_link(
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
pub(super) async fn find_reply_link(
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

pub(super) async fn run_request_link(
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

pub(super) fn management_reply(
    state: &State,
    request: &Message<Body<Value>>,
) -> (i32, String, Value) {
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
