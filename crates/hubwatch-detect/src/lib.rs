//! hubwatch's detection core: everything between an Event Hubs body and an alert, with no I/O.
//!
//! Data flows one way: [`decode`] splits a body into records, [`prefilter`] proves most records
//! cannot match, [`detect`] runs the [`rules`] (Panther-exact, see [`record`] for the field
//! lookup), [`dedup`] turns matches into [`alert`]s, and what cannot be evaluated becomes a
//! [`dead_letter`] entry. Every alert also says who acted ([`actor`]) and names its
//! Sentinel-style [`entities`]. The service crate owns sources, sinks and checkpoints.

pub mod actor;
pub mod alert;
pub mod dead_letter;
pub mod decode;
pub mod dedup;
pub mod detect;
pub mod entities;
#[cfg(test)]
mod json_strategies;
pub mod prefilter;
pub mod record;
pub mod rules;
