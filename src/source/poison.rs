//! The poison-event policy: an event that can never be received (the link cannot carry or
//! decode it) must not wedge its partition forever.
//!
//! Only failures that name the event at the receiver's position count: the AMQP stack could
//! not take the delivery apart (`Field is inconsistent in multi-frame delivery`, a message
//! decode error) or the service refused to send it (`amqp:link:message-size-exceeded`,
//! `amqp:decode-error`). Connection, credential and ownership failures never count, and an
//! event that arrives resets the count. After `source.poison_after_failures` failures in a row
//! at the same position, the partition worker dead-letters the next event's position and
//! checkpoints past it (see `PartitionWorker::poison_failure`).

use super::partition::PartitionContext;
use crate::alert::Origin;
use crate::dead_letter::{DeadLetter, EntryKind};
use azure_core_amqp::error::{AmqpErrorCondition, AmqpErrorKind};
use azure_core_amqp::AmqpError;
use azure_messaging_eventhubs::error::{ErrorKind, EventHubsError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Failed receives per partition, kept across claims and reconnections.
#[derive(Clone)]
pub(super) struct PoisonPolicy {
    after: u32,
    suspects: Arc<Mutex<HashMap<String, Suspect>>>,
}

/// Failures in a row after the event at `position` (the last one received).
struct Suspect {
    position: i64,
    failures: u32,
}

impl PoisonPolicy {
    /// `None` when `after_failures` is 0 (the policy is off).
    pub(super) fn new(after_failures: u32) -> Option<Self> {
        (after_failures > 0).then(|| PoisonPolicy {
            after: after_failures,
            suspects: Arc::default(),
        })
    }

    pub(super) fn after(&self) -> u32 {
        self.after
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Suspect>) -> R) -> R {
        f(&mut self.suspects.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// An event arrived: a failure before it was not about it.
    pub(super) fn received(&self, partition: &str, sequence_number: i64) {
        self.with(|s| {
            if s.get(partition)
                .is_some_and(|x| sequence_number > x.position)
            {
                s.remove(partition);
            }
        });
    }

    /// Counts a failure after the event at `position`; returns the failures in a row there.
    pub(super) fn failed(&self, partition: &str, position: i64) -> u32 {
        self.with(|s| {
            let suspect = s.entry(partition.to_string()).or_insert(Suspect {
                position,
                failures: 0,
            });
            if suspect.position != position {
                *suspect = Suspect {
                    position,
                    failures: 0,
                };
            }
            suspect.failures += 1;
            suspect.failures
        })
    }

    /// The partition was checkpointed past its poison event.
    pub(super) fn skipped(&self, partition: &str) {
        self.with(|s| s.remove(partition));
    }
}

/// Whether a receive failure is about the event at the receiver's position rather than the
/// connection, the credentials or the partition's ownership.
pub(super) fn names_the_event(e: &EventHubsError) -> bool {
    if matches!(e.kind, ErrorKind::ConsumerDisconnected(_)) {
        return false;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    // Bounded: the SDK wraps errors a few levels deep.
    for _ in 0..16 {
        let Some(c) = cause else { break };
        if let Some(amqp) = c.downcast_ref::<AmqpError>() {
            match amqp.kind() {
                // fe2o3 could not take a delivery apart (not an attach failure, which also
                // arrives as a transport implementation error).
                AmqpErrorKind::TransportImplementationError(inner) => {
                    use fe2o3_amqp::link::RecvError;
                    return matches!(
                        (**inner).downcast_ref::<RecvError>(),
                        Some(
                            RecvError::InconsistentFieldInMultiFrameDelivery
                                | RecvError::MessageDecode(_)
                                | RecvError::DeliveryIdIsNone
                                | RecvError::DeliveryTagIsNone
                        )
                    );
                }
                AmqpErrorKind::AmqpDescribedError(d) => {
                    return matches!(
                        d.condition,
                        AmqpErrorCondition::LinkPayloadSizeExceeded
                            | AmqpErrorCondition::DecodeError
                    )
                }
                _ => {}
            }
        }
        cause = c.source();
    }
    false
}

/// The dead-letter entry of a poison event: its position and what is known of it.
pub(super) fn dead_letter(
    ctx: &PartitionContext,
    partition: &str,
    sequence_number: i64,
    failures: u32,
    error: &str,
) -> DeadLetter {
    let source = Origin::EventHubs {
        namespace: ctx.namespace.clone(),
        eventhub: ctx.eventhub.clone(),
        consumer_group: ctx.consumer_group.clone(),
        partition: partition.to_string(),
        sequence_number,
        offset: None,
        enqueued_time: None,
        record_index: None,
    };
    let last = ctx
        .lag
        .enqueued(partition)
        .map_or_else(|| "unknown".to_string(), |n| n.to_string());
    let reason = format!(
        "event {sequence_number} of partition {partition} could not be received {failures} times in a row ({error}); the partition was checkpointed past it, its body is not known (the hub's last sequence number then: {last})"
    );
    DeadLetter::raw(EntryKind::Event, reason, Some(source), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_per_position_and_reset_on_progress() {
        let p = PoisonPolicy::new(3).unwrap_or_else(|| unreachable!());
        assert_eq!(p.failed("0", 41), 1);
        assert_eq!(p.failed("0", 41), 2);
        // Re-delivered events up to the position are no progress.
        p.received("0", 41);
        assert_eq!(p.failed("0", 41), 3);
        assert_eq!(p.failed("1", 41), 1, "partitions count apart");
        // A different position starts again.
        assert_eq!(p.failed("0", 50), 1);
        p.received("0", 51);
        assert_eq!(p.failed("0", 50), 1);
        p.skipped("0");
        assert_eq!(p.failed("0", 51), 1);
        assert!(PoisonPolicy::new(0).is_none());
    }

    #[test]
    fn only_failures_of_the_event_count() {
        // The conversion the SDK's receiver applies.
        let transfer =
            AmqpError::from(fe2o3_amqp::link::RecvError::InconsistentFieldInMultiFrameDelivery);
        let attach = AmqpError::from(AmqpErrorKind::TransportImplementationError(Box::new(
            std::io::Error::other("Source field is None"),
        )));
        let size = AmqpError::from(AmqpErrorKind::AmqpDescribedError(
            azure_core_amqp::AmqpDescribedError::new(
                AmqpErrorCondition::LinkPayloadSizeExceeded,
                None,
                Default::default(),
            ),
        ));
        let unauthorized = AmqpError::from(AmqpErrorKind::AmqpDescribedError(
            azure_core_amqp::AmqpDescribedError::new(
                AmqpErrorCondition::UnauthorizedAccess,
                None,
                Default::default(),
            ),
        ));
        let dropped = AmqpError::from(AmqpErrorKind::ConnectionDropped(Box::new(
            std::io::Error::other("Session has dropped"),
        )));
        let wrapped = |e: AmqpError| {
            EventHubsError::from(ErrorKind::AmqpError(AmqpError::from(
                azure_core::Error::with_error(azure_core::error::ErrorKind::Other, e, "AMQP"),
            )))
        };
        assert!(names_the_event(&wrapped(transfer)));
        assert!(!names_the_event(&wrapped(attach)));
        assert!(names_the_event(&wrapped(size)));
        assert!(!names_the_event(&wrapped(unauthorized)));
        assert!(!names_the_event(&wrapped(dropped)));
        assert!(!names_the_event(&EventHubsError::from(
            ErrorKind::ConsumerDisconnected(None)
        )));
    }
}
