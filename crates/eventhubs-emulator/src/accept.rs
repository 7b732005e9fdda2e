//! Accept and dispatch: the listener's accept loop, one task per connection and session, and
//! the routing of each attached link by its address (`$cbs` / `$management` request and reply
//! links, producers, consumers).

use super::*;

pub(super) async fn accept_loop(listener: TcpListener, state: Arc<State>) {
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

pub(super) type ReplyLinks = Arc<Mutex<Vec<ReplyLink>>>;

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
pub(super) fn path_segments(address: &str) -> Vec<String> {
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
