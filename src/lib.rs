//! hubwatch: detection rules over Azure Activity Log and Key Vault logs streamed through Event Hubs.
//!
//! Data flows one way: a source yields Event Hubs bodies, [`decode`] splits them into records,
//! [`detect`] runs the [`rules`], [`dedup`] turns matches into [`alert`]s, sinks deliver them and
//! the checkpoint advances only past what the sinks acknowledged.

#![warn(unreachable_pub)]

pub use cli::main;
pub use hubwatch_detect::{
    actor, alert, decode, dedup, detect, entities, prefilter, record, rules,
};

pub mod ack;
mod admin;
pub mod azure;
pub mod backfill;
pub mod checkpoint;
mod cli;
pub mod config;
pub mod context;
pub mod dead_letter;
mod durable;
pub mod health;
mod memory;
mod pipeline;
mod progress;
pub mod redrive;
mod replay;
mod retry;
mod service;
pub mod sink;
mod source;
mod startup;
mod telemetry;
#[cfg(test)]
mod test_support;
