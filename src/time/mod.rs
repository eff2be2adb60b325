//! Time: sleeping, periodic ticks, timeouts, and callbacks at a time, on the
//! runtime's timer heap (`heap.rs`).
//!
//! The loop parks until the earliest deadline (ARCHITECTURE.md, decision 6); there is no
//! timer thread and no timer file descriptor.

mod callbacks;
pub(crate) mod heap;
mod interval;
mod sleep;
mod timeout;
mod timers;

use std::task::Waker;
use std::time::Instant;

pub(crate) use callbacks::Callback;
pub use callbacks::{call_at, call_later, call_soon, CallbackHandle};
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, wait_for, TimeoutError};
pub(crate) use timers::Timers;

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    Wake(Waker),
    Call(Box<dyn FnOnce()>),
}

/// The loop's clock, like asyncio's `loop.time()`: the time the loop last looked,
/// refreshed at every turn, so a callback or a task step sees one consistent "now".
/// Outside a runtime, `Instant::now()`.
///
/// ```
/// ringloop::run(async {
///     let before = ringloop::time::now();
///     ringloop::sleep(std::time::Duration::from_millis(5)).await;
///     assert!(ringloop::time::now() >= before + std::time::Duration::from_millis(5));
/// });
/// ```
pub fn now() -> Instant {
    Timers::with_current(|timers| timers.now()).unwrap_or_else(Instant::now)
}
