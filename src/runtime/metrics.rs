//! The runtime's counters ([`Counters`], kept by `Core` on the loop's thread in
//! plain cells) and their snapshot [`RuntimeMetrics`]; the slow-poll warning.
//!
//! What each counter costs is in the public module's docs (`src/metrics.rs`).

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::driver::metrics::DriverMetrics;
use crate::task::{RawTask, TaskId};

/// The counters of one runtime; owner thread only.
#[derive(Default)]
pub(crate) struct Counters {
    spawned: Cell<u64>,
    polls: Cell<u64>,
    turns: Cell<u64>,
    remote_wakes: Cell<u64>,
    remote_calls: Cell<u64>,
    parks: Cell<u64>,
    parked: Cell<Duration>,
    /// Time inside `block_on`, over the calls that returned.
    ran: Cell<Duration>,
    /// When the running `block_on` started.
    entered: Cell<Option<Instant>>,
    slow_polls: Cell<u64>,
}

#[inline]
fn add(cell: &Cell<u64>, n: u64) {
    cell.set(cell.get().wrapping_add(n));
}

impl Counters {
    #[inline]
    pub(crate) fn spawned(&self) {
        add(&self.spawned, 1);
    }

    /// `n` tasks (or the main future) were polled.
    #[inline]
    pub(crate) fn polled(&self, n: usize) {
        add(&self.polls, n as u64);
    }

    #[inline]
    pub(crate) fn turned(&self) {
        add(&self.turns, 1);
    }

    #[inline]
    pub(crate) fn remote_wake(&self) {
        add(&self.remote_wakes, 1);
    }

    #[inline]
    pub(crate) fn remote_call(&self) {
        add(&self.remote_calls, 1);
    }

    /// The loop waited in the driver from `from` to `to`.
    pub(crate) fn parked(&self, from: Instant, to: Instant) {
        add(&self.parks, 1);
        self.parked
            .set(self.parked.get() + to.saturating_duration_since(from));
    }

    pub(crate) fn slow_poll(&self) {
        add(&self.slow_polls, 1);
    }

    /// `block_on` starts.
    pub(crate) fn enter(&self) {
        self.entered.set(Some(Instant::now()));
    }

    /// `block_on` returns (or unwinds).
    pub(crate) fn leave(&self) {
        if let Some(entered) = self.entered.take() {
            self.ran.set(self.ran.get() + entered.elapsed());
        }
    }

    /// Time spent inside `block_on` so far, the running call included.
    fn running(&self) -> Duration {
        let current = self.entered.get().map_or(Duration::ZERO, |t| t.elapsed());
        self.ran.get() + current
    }
}

/// What [`Core::metrics`](super::Core) adds from its own state to the counters.
pub(crate) struct Gauges {
    pub(crate) tasks_alive: usize,
    pub(crate) ready_queue_depth: usize,
    pub(crate) timers_pending: usize,
    pub(crate) callbacks_pending: usize,
    pub(crate) slow_poll_threshold: Option<Duration>,
}

/// A snapshot of one runtime's counters: what [`Runtime::metrics`](crate::Runtime::metrics),
/// [`metrics::current`](crate::metrics::current) and
/// [`shard::metrics`](crate::shard::metrics) return. See [`crate::metrics`] for
/// what each one costs.
///
/// Counters (`tasks_spawned`, `polls`, ...) count from the runtime's creation;
/// gauges (`tasks_alive`, `ready_queue_depth`, ...) are the values at the
/// snapshot. Take two snapshots and subtract for rates.
///
/// ```
/// use std::time::Duration;
/// let rt = ringloop::Runtime::new().unwrap();
/// rt.block_on(async {
///     let tasks: Vec<_> = (0..3).map(|i| ringloop::spawn(async move { i })).collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     ringloop::sleep(Duration::from_millis(1)).await;
/// });
/// let m = rt.metrics();
/// assert_eq!(m.tasks_spawned, 3);
/// assert_eq!(m.tasks_alive, 0);
/// assert!(m.polls >= 3);
/// assert!(m.parks >= 1);
/// println!("{m:#?}");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Tasks spawned on this runtime (the future given to `block_on` is not one).
    pub tasks_spawned: u64,
    /// Spawned tasks that have not completed.
    pub tasks_alive: usize,
    /// Task polls: each run of a spawned task (a poll, or the drop of a cancelled
    /// future) and each poll of the main future.
    pub polls: u64,
    /// Loop turns (each runs up to 61 ready tasks, then the callbacks, then the
    /// driver).
    pub turns: u64,
    /// Tasks waiting to be polled: ready, or woken by their own poll and waiting
    /// for the next turn.
    pub ready_queue_depth: usize,
    /// Time inside `block_on` not in [`parked`](Self::parked): running tasks,
    /// callbacks, timers, and the driver's submissions and reaps in turns that do
    /// not wait.
    pub busy: Duration,
    /// Time of the driver turns in which the loop waited for a completion, an
    /// event, a timer or a wake (the `io_uring_enter` or `epoll_wait` that
    /// sleeps), measured around the whole turn: the submissions (on io_uring, sends
    /// the kernel completes inline) and reaps of such a turn count here, so on a
    /// loop that often parks `busy` reads a little low.
    pub parked: Duration,
    /// How many times the loop waited in the driver (turns with nothing ready and
    /// no wake from another thread already pending).
    pub parks: u64,
    /// Timers registered and not fired or cancelled: sleeps, timeouts,
    /// `call_later`/`call_at` callbacks.
    pub timers_pending: usize,
    /// `call_soon` callbacks queued for the next turn.
    pub callbacks_pending: usize,
    /// Tasks woken from another thread (or from outside the runtime): wakes that
    /// arrived through the remote queue, counted on the loop's thread when it
    /// takes them. How the parked loop was interrupted is in the driver's
    /// [`eventfd_wakes_received`](DriverMetrics::eventfd_wakes_received) and
    /// [`msg_ring_wakes_received`](DriverMetrics::msg_ring_wakes_received).
    pub remote_wakes: u64,
    /// Calls from other threads run on this loop
    /// ([`LoopHandle`](crate::LoopHandle): `call_soon_threadsafe`,
    /// `run_coroutine_threadsafe`, `shard::submit_to`).
    pub remote_calls: u64,
    /// Polls that took longer than [`slow_poll_threshold`](Self::slow_poll_threshold)
    /// (0 while it is off).
    pub slow_polls: u64,
    /// The slow-poll threshold ([`Builder::slow_poll_threshold`](crate::Builder::slow_poll_threshold)),
    /// `None` when the warning is off.
    pub slow_poll_threshold: Option<Duration>,
    /// The driver's counters.
    pub driver: DriverMetrics,
}

impl RuntimeMetrics {
    pub(crate) fn new(
        counters: &Counters,
        gauges: Gauges,
        driver: DriverMetrics,
    ) -> RuntimeMetrics {
        let running = counters.running();
        let parked = counters.parked.get();
        RuntimeMetrics {
            tasks_spawned: counters.spawned.get(),
            tasks_alive: gauges.tasks_alive,
            polls: counters.polls.get(),
            turns: counters.turns.get(),
            ready_queue_depth: gauges.ready_queue_depth,
            busy: running.saturating_sub(parked),
            parked,
            parks: counters.parks.get(),
            timers_pending: gauges.timers_pending,
            callbacks_pending: gauges.callbacks_pending,
            remote_wakes: counters.remote_wakes.get(),
            remote_calls: counters.remote_calls.get(),
            slow_polls: counters.slow_polls.get(),
            slow_poll_threshold: gauges.slow_poll_threshold,
            driver,
        }
    }

    /// The share of the time inside `block_on` that the loop was busy, between 0
    /// and 1 (`None` before the loop ran).
    pub fn busy_ratio(&self) -> Option<f64> {
        let total = self.busy + self.parked;
        (!total.is_zero()).then(|| self.busy.as_secs_f64() / total.as_secs_f64())
    }
}

/// Reports a poll that took `took`, over the threshold: one line on standard
/// error in asyncio's words, or a `tracing` warning with the `tracing` feature.
pub(crate) fn report_slow_poll(name: &str, id: TaskId, took: Duration) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        task.name = name,
        task.id = id.as_u64(),
        seconds = took.as_secs_f64(),
        "Executing <Task name={name:?} id={id}> took {:.3} seconds",
        took.as_secs_f64()
    );
    #[cfg(not(feature = "tracing"))]
    eprintln!(
        "ringloop: Executing <Task name={name:?} id={id}> took {:.3} seconds",
        took.as_secs_f64()
    );
}

/// Runs one step of `task`, timed; reports it if it took `threshold` or more.
/// Out of line: the loop that calls it stays as small as without the warning.
#[inline(never)]
pub(crate) fn run_timed(counters: &Counters, task: RawTask, threshold: Duration) -> bool {
    let start = Instant::now();
    let done = task.run();
    let took = start.elapsed();
    if took >= threshold {
        counters.slow_poll();
        report_slow_poll(&task.name(), task.id(), took);
    }
    done
}
