//! Delivery tracking: an event is done when every sink has handled every alert it raised.
//!
//! The pipeline creates one [`Pending`] per event with a count of (alert, sink) deliveries and
//! hands each sink an [`Ack`]. A sink calls [`Ack::done`] once the destination accepted the alert
//! or it was written to the dead-letter file. An `Ack` dropped without `done` (a crash, a failed
//! dead-letter write) leaves the event pending, so its checkpoint never advances past it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// The outstanding deliveries of one event.
#[derive(Debug)]
pub struct Pending {
    remaining: AtomicUsize,
    notify: Notify,
}

impl Pending {
    /// An event with `deliveries` outstanding deliveries (0: already done).
    pub fn new(deliveries: usize) -> Arc<Pending> {
        Arc::new(Pending {
            remaining: AtomicUsize::new(deliveries),
            notify: Notify::new(),
        })
    }

    pub fn is_done(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// Waits until every delivery is acknowledged.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }

    /// One acknowledgement handle per delivery.
    pub fn ack(self: &Arc<Self>) -> Ack {
        Ack {
            pending: Some(self.clone()),
        }
    }
}

/// The right to mark one delivery handled.
#[derive(Debug)]
pub struct Ack {
    pending: Option<Arc<Pending>>,
}

impl Ack {
    /// An acknowledgement that tracks nothing (for `redrive` and tests).
    pub fn none() -> Ack {
        Ack { pending: None }
    }

    /// The destination accepted the alert, or it is durably dead-lettered.
    pub fn done(mut self) {
        if let Some(p) = self.pending.take() {
            if p.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                p.notify.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn done_when_all_acked() {
        let p = Pending::new(2);
        let (a, b) = (p.ack(), p.ack());
        a.done();
        assert!(!p.is_done());
        drop(b); // dropped, not done: still pending
        assert!(!p.is_done());
        let p = Pending::new(1);
        let a = p.ack();
        let waiter = tokio::spawn({
            let p = p.clone();
            async move { p.wait().await }
        });
        a.done();
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .is_ok()
        );
    }
}
