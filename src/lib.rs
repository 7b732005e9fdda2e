//! hubwatch: detection rules over Azure Activity Log and Key Vault logs streamed through Event Hubs.
//!
//! Data flows one way: a source yields Event Hubs bodies, [`decode`] splits them into records,
//! [`detect`] runs the [`rules`], [`dedup`] turns matches into [`alert`]s, sinks deliver them and
//! the checkpoint advances only past what the sinks acknowledged.

pub use hubwatch_detect::{
    actor, alert, decode, dedup, detect, entities, prefilter, record, rules,
};

pub mod ack;
pub mod azure;
pub mod backfill;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod context;
pub mod dead_letter;
pub mod durable;
pub mod health;
pub mod http;
pub mod memory;
pub mod pipeline;
pub mod progress;
pub mod redrive;
pub mod replay;
pub mod retry;
pub mod service;
pub mod sink;
pub mod source;
pub mod startup;
pub mod telemetry;
#[cfg(test)]
mod test_support;
