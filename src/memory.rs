//! Giving freed memory back to the system while the service runs.
//!
//! glibc's malloc keeps memory freed by other threads in per-thread arenas: after a backlog,
//! the prefetched bodies of every partition stay resident although nothing uses them (325 MB
//! at 32 partitions with 27 MB live, bench/README.md), and a container's memory limit counts
//! them. `malloc_trim` returns them; it costs a few milliseconds, so once every few seconds is
//! cheap. A replacement allocator (mimalloc, measured: 166 MB ten seconds after the same
//! backlog) kept more.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often freed memory is given back.
const EVERY: Duration = Duration::from_secs(5);

/// Gives freed memory back every [`EVERY`] until `cancel` fires.
pub(crate) async fn trim_until(cancel: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                // A blocking call of a few milliseconds: off the async workers.
                let _ = tokio::task::spawn_blocking(trim).await;
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks and shrinks glibc's own heaps; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
