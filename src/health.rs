//! Readiness: what `/readyz` reports. Ready means the source is connected, every sink is
//! accepting, and the dead-letter and checkpoint files can be written.

use crate::sink::worker::SinkHealth;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct Health {
    source_connected: AtomicBool,
    dead_letter_ok: AtomicBool,
    checkpoint_ok: AtomicBool,
    sinks: Mutex<Vec<(String, Arc<SinkHealth>)>>,
}

/// Why the service is not ready, for the `/readyz` body.
pub type NotReady = Vec<String>;

impl Health {
    pub fn new() -> Arc<Health> {
        Arc::new(Health {
            source_connected: AtomicBool::new(false),
            dead_letter_ok: AtomicBool::new(true),
            checkpoint_ok: AtomicBool::new(true),
            sinks: Mutex::new(Vec::new()),
        })
    }

    pub fn add_sink(&self, name: &str, health: Arc<SinkHealth>) {
        crate::http::register_sink_metrics(name);
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

    /// `Ok` when ready, else the reasons.
    pub fn readiness(&self) -> Result<(), NotReady> {
        let mut why = Vec::new();
        if !self.source_connected.load(Ordering::Relaxed) {
            why.push("source not connected".to_string());
        }
        if !self.dead_letter_ok.load(Ordering::Relaxed) {
            why.push("dead-letter file not writable".to_string());
        }
        if !self.checkpoint_ok.load(Ordering::Relaxed) {
            why.push("checkpoint store failing".to_string());
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
