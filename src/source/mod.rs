//! Sources: where Event Hubs bodies come from (an Event Hub, files, standard input).

pub mod eventhubs;
pub mod file;
pub mod lines;
pub mod positions;
