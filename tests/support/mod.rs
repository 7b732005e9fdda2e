//! Shared test support: `fixtures` (test alerts, sink configurations, an in-test HTTP
//! receiver), `process` (child processes and HTTP polling), `service` (the local Event Hubs
//! server and `hubwatch run` children). `azurite.rs` is included by path where needed.
#![allow(dead_code)]

pub mod fixtures;
pub mod process;
pub mod service;
