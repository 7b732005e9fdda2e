//! Readiness: what `/readyz` reports. Ready means start-up reached its dependencies, the source
//! is connected, every sink is accepting, and the dead-letter and checkpoint files can be
//! written.

use crate::sink::worker::SinkHealth;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A partition receive failure keeps `/readyz` at 503 for this long after the last one (or
/// until an event is received again): an error that repeats at every reclaim, such as revoked
/// credentials, keeps the service unready, while a single blip on an idle hub clears itself.
pub const SOURCE_FAILURE_WINDOW: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
pub struct Health {
    source_connected: AtomicBool,
    dead_letter_ok: AtomicBool,
    checkpoint_ok: AtomicBool,
    /// The last partition receive failure: when, and a short reason.
    source_failure: Mutex<Option<(Instant, String)>>,
    /// A start-up dependency not reached yet, and why (see `crate::startup`).
    starting: Mutex<Option<String>>,
    sinks: Mutex<Vec<(String, Arc<SinkHealth>)>>,
    /// Why the context store is failing (`None`: working, or not configured).
    context_failure: Mutex<Option<String>>,
}

/// Why the service is not ready, for the `/readyz` body.
pub type NotReady = Vec<String>;

impl Health {
    pub fn new() -> Arc<Health> {
        Arc::new(Health {
            source_connected: AtomicBool::new(false),
            dead_letter_ok: AtomicBool::new(true),
            checkpoint_ok: AtomicBool::new(true),
            source_failure: Mutex::new(None),
            starting: Mutex::new(None),
            sinks: Mutex::new(Vec::new()),
            context_failure: Mutex::new(None),
        })
    }

    pub fn add_sink(&self, name: &str, health: Arc<SinkHealth>) {
        crate::telemetry::metrics::register_sink_metrics(name);
        self.sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), health));
    }

    pub fn set_source_connected(&self, v: bool) {
        self.source_connected.store(v, Ordering::Relaxed);
    }

    pub fn set_dead_letter_ok(&self, v: bool) {
        self.dead_letter_ok.store(v, Ordering::Relaxed);
    }

    pub fn set_checkpoint_ok(&self, v: bool) {
        self.checkpoint_ok.store(v, Ordering::Relaxed);
    }

    /// A start-up dependency is not reached yet (`Some(why)`), or no longer holds start-up
    /// back (`None`).
    pub fn set_starting(&self, why: Option<String>) {
        *self.starting.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }

    /// Records a partition receive failure; true when the source was not failing before (so
    /// the caller logs the first failure loudly and repeats quietly).
    pub fn set_source_failure(&self, why: &str) -> bool {
        let mut f = self
            .source_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let new = f
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= SOURCE_FAILURE_WINDOW);
        *f = Some((Instant::now(), why.to_string()));
        new
    }

    /// An event was received: the source works. True when it was failing.
    pub fn clear_source_failure(&self) -> bool {
        let mut f = self
            .source_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f.take().is_some()
    }

    /// Records the context store failing (`Some(reason)`) or working (`None`); true when that
    /// changed whether it is failing.
    pub fn set_context_failure(&self, why: Option<String>) -> bool {
        let mut f = self
            .context_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let changed = f.is_some() != why.is_some();
        *f = why;
        metrics::gauge!("hubwatch_context_up").set(if f.is_some() { 0.0 } else { 1.0 });
        changed
    }

    /// The context store is known to be failing.
    pub fn context_failing(&self) -> bool {
        self.context_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// `Ok` when ready, else the reasons.
    pub fn readiness(&self) -> Result<(), NotReady> {
        let mut why = Vec::new();
        if let Some(s) = self
            .starting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            why.push(format!("starting: {s}"));
        }
        if !self.source_connected.load(Ordering::Relaxed) {
            why.push("source not connected".to_string());
        }
        if let Some((at, reason)) = self
            .source_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if at.elapsed() < SOURCE_FAILURE_WINDOW {
                why.push(format!("source failing: {reason}"));
            }
        }
        if !self.dead_letter_ok.load(Ordering::Relaxed) {
            why.push("dead-letter file not writable".to_string());
        }
        if !self.checkpoint_ok.load(Ordering::Relaxed) {
            why.push("checkpoint store failing".to_string());
        }
        if let Some(reason) = self
            .context_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            why.push(format!("context store failing: {reason}"));
        }
        for (name, h) in self.sinks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if !h.is_accepting() {
                why.push(format!("sink {name} not accepting"));
            }
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_receive_failure_makes_the_service_unready_until_an_event_arrives() {
        let h = Health::new();
        h.set_source_connected(true);
        assert_eq!(h.readiness(), Ok(()));
        // The first failure is new (logged loudly), its repeats are not.
        assert!(h.set_source_failure("credentials refused (amqp:unauthorized-access)"));
        assert!(!h.set_source_failure("credentials refused (amqp:unauthorized-access)"));
        assert_eq!(
            h.readiness(),
            Err(vec![
                "source failing: credentials refused (amqp:unauthorized-access)".to_string()
            ])
        );
        assert!(h.clear_source_failure());
        assert!(!h.clear_source_failure());
        assert_eq!(h.readiness(), Ok(()));
    }
}
