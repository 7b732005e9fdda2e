//! Sources: where Event Hubs bodies come from (an Event Hub, files, standard input).

pub mod eventhubs;
pub mod file;
mod lag;
pub mod lines;
mod partition;
mod poison;
pub mod positions;
