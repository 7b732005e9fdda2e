//! Sources: where Event Hubs bodies come from (an Event Hub, files, standard input).

pub mod lines;
