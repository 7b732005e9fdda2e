//! Shared test support: `credential` (the fake Entra ID credential), `fixtures` (test alerts,
//! sink configurations, an in-test HTTP receiver), `process` (child processes and HTTP
//! polling), `service` (the local Event Hubs server and `hubwatch run` children).
//! `azurite.rs` (Azurite for the blob store) and `checkpoint_conformance.rs` (the suite both
//! checkpoint stores run) are included by path where needed.
#![allow(dead_code)]

pub mod credential;
pub mod fixtures;
pub mod process;
pub mod service;
