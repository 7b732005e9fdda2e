//! Sources: where Event Hubs bodies come from (an Event Hub, files, standard input).

mod claim;
pub mod config;
pub mod eventhubs;
pub mod file;
pub mod identity;
mod lag;
pub mod lines;
mod partition;
mod poison;
pub mod positions;
