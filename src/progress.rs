//! Per-partition progress: which events are fully delivered, and when to checkpoint.
//!
//! Events enter in order with their [`Pending`] deliveries. The newest event of the delivered
//! prefix is the checkpoint candidate: an event is never checkpointed while an earlier one still
//! waits for a sink, so a crash replays from the oldest undelivered event.

use crate::ack::Pending;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events of one partition between intake and checkpoint.
pub(crate) struct Progress<E> {
    inflight: VecDeque<(E, Arc<Pending>)>,
    ready: Option<E>,
    ready_count: u64,
    last_checkpoint: Instant,
    every_events: u64,
    every: Duration,
}

impl<E> Progress<E> {
    pub(crate) fn new(every_events: u64, every: Duration) -> Self {
        Progress {
            inflight: VecDeque::new(),
            ready: None,
            ready_count: 0,
            last_checkpoint: Instant::now(),
            every_events: every_events.max(1),
            every,
        }
    }

    /// Records an event taken in, in partition order.
    pub(crate) fn push(&mut self, event: E, pending: Arc<Pending>) {
        self.inflight.push_back((event, pending));
    }

    /// Events taken in but not yet fully delivered.
    pub(crate) fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    fn advance(&mut self) {
        while self.inflight.front().is_some_and(|(_, p)| p.is_done()) {
            if let Some((e, _)) = self.inflight.pop_front() {
                self.ready = Some(e);
                self.ready_count += 1;
            }
        }
    }

    /// The event to checkpoint now, if the interval (events or time) has come, or `force`.
    pub(crate) fn due(&mut self, force: bool) -> Option<E> {
        self.advance();
        let time_due = self.last_checkpoint.elapsed() >= self.every;
        if self.ready.is_some() && (force || time_due || self.ready_count >= self.every_events) {
            self.ready_count = 0;
            self.last_checkpoint = Instant::now();
            return self.ready.take();
        }
        None
    }

    /// Puts back a candidate whose checkpoint write failed, unless a newer one is ready.
    pub(crate) fn restore(&mut self, event: E) {
        if self.ready.is_none() {
            self.ready = Some(event);
        }
    }

    /// Waits until every in-flight event is delivered, or `deadline` passes.
    pub(crate) async fn drain(&mut self, deadline: tokio::time::Instant) {
        while let Some((_, p)) = self.inflight.iter().find(|(_, p)| !p.is_done()) {
            let p = p.clone();
            if tokio::time::timeout_at(deadline, p.wait()).await.is_err() {
                break;
            }
        }
        self.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_only_the_delivered_prefix() {
        let mut p = Progress::new(1, Duration::from_secs(3600));
        let (a, b, c) = (Pending::new(1), Pending::new(1), Pending::new(0));
        let (ack_a, ack_b) = (a.ack(), b.ack());
        p.push(1, a);
        p.push(2, b);
        p.push(3, c);
        assert_eq!(p.due(false), None);
        ack_b.done();
        assert_eq!(p.due(false), None, "event 1 still pending");
        ack_a.done();
        assert_eq!(p.due(false), Some(3));
        assert_eq!(p.in_flight(), 0);
    }
}
