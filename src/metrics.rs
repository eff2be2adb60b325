//! Runtime metrics, for people who run ringloop in production: how many tasks,
//! how busy the loop is, what the driver has in flight and how well it batches.
//!
//! A snapshot, [`RuntimeMetrics`], comes from [`Runtime::metrics`](crate::Runtime::metrics),
//! from [`current`] inside a task, and for each shard of a sharded program from
//! [`shard::metrics`](crate::shard::metrics) and [`shard::all_metrics`](crate::shard::all_metrics).
//! The counters are always on: they are plain integers in cells on the loop's
//! own thread (no atomics, no locks), updated where the loop already is. A
//! snapshot reads them, the ready queue's and the timer heap's lengths, and the
//! kernel's overflow counter; it allocates nothing.
//!
//! ```
//! use std::time::Duration;
//! ringloop::run(async {
//!     let sleeper = ringloop::spawn(ringloop::sleep(Duration::from_secs(3600)));
//!     ringloop::sleep(Duration::from_millis(1)).await;
//!     let m = ringloop::metrics::current();
//!     assert_eq!(m.tasks_alive, 1);
//!     assert_eq!(m.timers_pending, 1);
//!     sleeper.cancel();
//!     assert!(sleeper.await.is_err()); // cancelled
//!     let m = ringloop::metrics::current();
//!     assert_eq!(m.tasks_alive, 0);
//!     assert!(m.parked > Duration::ZERO);
//! });
//! ```
//!
//! # What each counter costs
//!
//! Measured against the commit before them with `benches/scheduler.rs` (see the
//! README's "Metrics" section): no change beyond the noise of a shared machine
//! (medians within 0.94–1.02 of before); in instructions, +0.1% to +1.4% on the
//! scheduler's micro-benchmarks. Where each one is kept, and what it costs where
//! it is kept:
//!
//! | counter | kept by | cost |
//! | --- | --- | --- |
//! | `tasks_spawned` | runtime, at `spawn` | one cell increment per spawn |
//! | `tasks_alive` | runtime | none: the task registry's length, at the snapshot |
//! | `polls` | runtime, per loop turn | one addition per turn (the number of tasks the turn ran), one per poll of the main future |
//! | `turns` | runtime | one increment per turn |
//! | `ready_queue_depth` | runtime | none: the queue's length, at the snapshot |
//! | `busy`, `parked`, `parks` | runtime, around the driver's wait | two clock reads per wait, where the loop sleeps anyway (the first is the loop clock when a timer set the wait); none in a turn that does not wait; one per `block_on` call |
//! | `timers_pending`, `callbacks_pending` | time | none: the heap's and queue's lengths, at the snapshot |
//! | `remote_wakes`, `remote_calls` | runtime, where the loop takes them from its inbox | one increment per wake or call taken |
//! | `slow_polls` | runtime | with the warning off, none: no poll is timed (one branch per turn picks the loop); on, two clock reads per poll |
//! | `driver.ops_in_flight`, `ops_started` | driver, in the op's future | three cell updates per op |
//! | `driver.enters`, `sqes_submitted` | io_uring driver | one addition each per `io_uring_enter` |
//! | `driver.cq_overflow` | the kernel | none: the ring's overflow counter, read at the snapshot |
//! | `driver.buffer_exhaustion` | io_uring driver | one increment per `ENOBUFS` completion (a rare path) |
//! | `driver.epoll_waits` | epoll driver | one increment per `epoll_wait` |
//! | `driver.eventfd_wakes_received`, `msg_ring_wakes_received` | driver, where the wake's completion or event is handled | one increment per wake of a parked loop |
//!
//! # On epoll
//!
//! The epoll driver has no submission queue, no completion queue and no
//! provided buffers: [`DriverMetrics::enters`], `sqes_submitted`, `cq_overflow`
//! and `buffer_exhaustion` are `None` there, and [`DriverMetrics::epoll_waits`]
//! counts its waits instead. Ops in flight are counted alike on both drivers: an
//! op on epoll is in flight from its first poll until its system call succeeds
//! (or its future is dropped), waiting for readiness meanwhile. File-system ops
//! that go to the blocking pool (on epoll, and on io_uring where the kernel lacks
//! the opcode, as under the 5.10 mask: `openat`, `statx`, `fsync`, `ftruncate`,
//! ...) are not ops of the driver and are not counted.
//!
//! # Slow polls and tracing
//!
//! [`Builder::slow_poll_threshold`](crate::Builder::slow_poll_threshold) (off by
//! default; [`Builder::warn_slow_polls`](crate::Builder::warn_slow_polls) for
//! 100 ms, or `RINGLOOP_SLOW_POLL_MS`) reports each poll of a task that takes
//! longer, with the task's name and id, as asyncio's debug mode does.
//!
//! With the `tracing` feature, each task has a span (`task`, with fields
//! `task.name` and `task.id`) made at its first poll and entered around each
//! poll, and slow polls are `tracing` warnings instead of lines on standard
//! error. Without the feature none of it is compiled.

pub use crate::driver::metrics::{DriverMetrics, OpCode};
pub use crate::runtime::metrics::RuntimeMetrics;
pub use crate::runtime::DEFAULT_SLOW_POLL_THRESHOLD;

/// A snapshot of the counters of the runtime running on this thread.
///
/// # Panics
///
/// Outside a ringloop runtime.
///
/// ```
/// ringloop::run(async {
///     let m = ringloop::metrics::current();
///     assert_eq!(m.tasks_spawned, 0);
/// });
/// ```
#[track_caller]
pub fn current() -> RuntimeMetrics {
    match crate::runtime::context::with_core(|core| core.metrics()) {
        Some(metrics) => metrics,
        None => panic!("ringloop::metrics::current called outside of a ringloop runtime"),
    }
}

/// A snapshot of the counters of the runtime running on this thread; `None`
/// outside a runtime.
pub fn try_current() -> Option<RuntimeMetrics> {
    crate::runtime::context::with_core(|core| core.metrics())
}
