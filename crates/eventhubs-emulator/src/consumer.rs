//! Consumer links: start filters, owner-level epochs and the delivery loop.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum StartFrom {
    Sequence { value: i64, inclusive: bool },
    Offset { value: i64, inclusive: bool },
    Latest,
    EnqueuedTime { ms: i64, inclusive: bool },
}

/// Parses `amqp.annotation.x-opt-offset > '-1'` and friends.
pub(super) fn parse_filter(filter: &str) -> Result<StartFrom, String> {
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

pub(super) fn start_index(events: &[StoredEvent], start: &StartFrom) -> usize {
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
pub(super) async fn answer_detach(sender: Sender, err: fe2o3_amqp::link::DetachError) {
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

pub(super) async fn close_sender_with(
    sender: Sender,
    condition: definitions::ErrorCondition,
    msg: String,
) {
    let err = definitions::Error::new(condition, Some(msg), None);
    let _ = tokio::time::timeout(Duration::from_secs(2), sender.close_with_error(err)).await;
}

/// Removes a receiver from the owner registry when its link task ends (or is aborted).
pub(super) struct OwnerGuard {
    pub(super) state: Arc<State>,
    pub(super) key: (String, usize),
    pub(super) id: u64,
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

pub(super) async fn run_consumer_link(
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
                // Never send what the link cannot carry: fe2o3 would split the message into
                // transfers the client cannot reassemble ("Field is inconsistent in multi-frame
                // delivery"). Ingress refuses such events; one stored anyway is refused here.
                if let Some(limit) = sender.max_message_size() {
                    let key = ev.partition_key.as_deref();
                    if let Some(size) = delivered_size_over(&ev.raw, key, &ev.body, limit as usize)
                    {
                        let msg = format!(
                            "event {} of partition {pidx} ({size} bytes as delivered) exceeds the link's maximum message size ({limit} bytes)",
                            ev.seq
                        );
                        eprintln!("eventhubs-emulator: consumer {id}: {msg}");
                        return close_sender_with(
                            sender,
                            LinkError::MessageSizeExceeded.into(),
                            msg,
                        )
                        .await;
                    }
                }
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
