//! Sources: where Event Hubs bodies come from (an Event Hub, files, standard input).
//!
//! Every source keeps one contract: it is built from the configuration, then run once with a
//! [`SourceContext`] ([`Input::run`]), and each partition or file it reads goes through the
//! shared delivery loop (`delivery.rs`).

mod claim;
pub(crate) mod config;
mod context;
mod delivery;
pub(crate) mod eventhubs;
pub(crate) mod file;
pub(crate) mod identity;
mod lag;
pub(crate) mod lines;
mod partition;
mod poison;
pub(crate) mod positions;

pub(crate) use context::{DeliverySettings, SourceContext};

/// The source `hubwatch run` reads.
pub(crate) enum Input {
    /// Files or standard input ([`file::FileSource`]).
    File(file::FileSource),
    /// Boxed: the Event Hubs source is several times the size of the file source.
    EventHubs(Box<eventhubs::EventHubsSource>),
}

/// A source stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    File(#[from] file::FileSourceError),
    #[error(transparent)]
    EventHubs(#[from] eventhubs::EventHubsSourceError),
}

impl Input {
    /// Runs the source until its input ends (files that are not followed) or `ctx.shutdown`
    /// fires; it has drained and written its final checkpoints when this returns, and every
    /// task it started is under `ctx.tasks`.
    pub(crate) async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        match self {
            Input::File(s) => Ok(s.run(ctx).await?),
            Input::EventHubs(s) => Ok((*s).run(ctx).await?),
        }
    }
}
