//! `ringloop::sync`: Lock, Event, Condition, Semaphore/BoundedSemaphore, Barrier and
//! Promise, one module each (in `tests/sync/`), each test once, on one driver
//! (`any_driver_test!`: the primitives never reach the driver's I/O).
//!
//! Besides each method's behaviour, the tests drop futures at every await point:
//! targeted tests for the delicate states (handed a lock, a permit or a notification,
//! then dropped before being polled again), and seeded randomized cancel schedules
//! where tasks loop over a primitive while some of their waits are abandoned after a
//! random number of loop turns and some tasks are cancelled outright. Every schedule
//! must end (bounded by `wait_for`), with the invariants checked throughout and the
//! primitive back in its initial state. A failing assertion prints its seed.

mod support;

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use support::Rng;

#[path = "sync/barrier.rs"]
mod barrier;
#[path = "sync/barrier_asyncio.rs"]
mod barrier_asyncio;
#[path = "sync/condition.rs"]
mod condition;
#[path = "sync/event.rs"]
mod event;
#[path = "sync/lock.rs"]
mod lock;
#[path = "sync/locks_asyncio.rs"]
mod locks_asyncio;
#[path = "sync/promise.rs"]
mod promise;
#[path = "sync/semaphore.rs"]
mod semaphore;
#[path = "sync/semaphore_asyncio.rs"]
mod semaphore_asyncio;

/// Seeds per randomized schedule.
const SEEDS: u64 = 200;

/// How long a whole randomized schedule may take before it counts as hung.
const SCHEDULE_LIMIT: Duration = Duration::from_secs(10);

thread_local! {
    /// Futures [`give_up_after`] dropped although they had been woken since their
    /// last poll (handed a lock, a permit, a notification...): the delicate state the
    /// randomized schedules must reach. Per test thread.
    static DROPPED_AFTER_WAKE: Cell<u64> = const { Cell::new(0) };
}

/// How many futures [`give_up_after`] has dropped after a wake, on this thread.
fn dropped_after_wake() -> u64 {
    DROPPED_AFTER_WAKE.with(Cell::get)
}

/// A waker that records that it was woken, then wakes the task.
struct WakeFlag {
    woken: AtomicBool,
    task: Waker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Relaxed);
        self.task.wake_by_ref();
    }
}

/// Polls `future` for at most `turns` loop turns. If it has not completed by then,
/// drops it *without polling it again* (so a notification it received since its
/// last poll is abandoned; [`dropped_after_wake`] counts those) and returns `None`.
/// With `turns == 0` it is dropped before its first poll.
async fn give_up_after<F: Future>(turns: u64, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut left = turns;
    let mut flag: Option<Arc<WakeFlag>> = None;
    poll_fn(move |cx| {
        if left == 0 {
            if flag
                .as_ref()
                .is_some_and(|f| f.woken.load(Ordering::Relaxed))
            {
                DROPPED_AFTER_WAKE.with(|n| n.set(n.get() + 1));
            }
            return Poll::Ready(None);
        }
        left -= 1;
        let f = flag.insert(Arc::new(WakeFlag {
            woken: AtomicBool::new(false),
            task: cx.waker().clone(),
        }));
        let waker = Waker::from(f.clone());
        if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return Poll::Ready(Some(output));
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Awaits `future`, or (sometimes) abandons it after a random number of turns, or
/// (rarely) after a random real-time timeout of under 300 µs. `None`: abandoned.
async fn maybe_abandon<F: Future>(rng: &mut Rng, future: F) -> Option<F::Output> {
    match rng.below(100) {
        0..=24 => give_up_after(rng.below(5), future).await,
        25..=29 => {
            let limit = Duration::from_micros(rng.below(300));
            ringloop::wait_for(limit, future).await.ok()
        }
        _ => Some(future.await),
    }
}

/// Yields between 0 and `max - 1` times.
async fn yield_some(rng: &mut Rng, max: u64) {
    for _ in 0..rng.below(max) {
        ringloop::yield_now().await;
    }
}

/// Counts the holders of something while alive (so a cancelled holder is counted
/// out), and records the most seen at once.
struct Holder {
    count: std::rc::Rc<Cell<usize>>,
}

impl Holder {
    fn enter(count: &std::rc::Rc<Cell<usize>>) -> Holder {
        count.set(count.get() + 1);
        Holder {
            count: count.clone(),
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.count.set(self.count.get() - 1);
    }
}

/// Cancels a random subset of `handles` (each with `percent` chance), at random
/// moments (a few loop turns apart); returns which were cancelled.
async fn cancel_some<T>(
    rng: &mut Rng,
    handles: &[ringloop::JoinHandle<T>],
    percent: u64,
) -> Vec<bool> {
    let mut cancelled = Vec::with_capacity(handles.len());
    for handle in handles {
        let cancel = rng.chance(percent);
        if cancel {
            yield_some(rng, 12).await;
            handle.cancel();
        }
        cancelled.push(cancel);
    }
    cancelled
}

/// The end of a randomized schedule: cancels some of `handles` (seeded by `seed`),
/// then checks that none hung, that every task not cancelled completed its `rounds`,
/// and that every failure is a cancellation we asked for.
async fn cancel_and_check_rounds(
    seed: u64,
    handles: Vec<ringloop::JoinHandle<usize>>,
    rounds: usize,
) {
    let mut rng = Rng::new(seed);
    let cancelled = cancel_some(&mut rng, &handles, 30).await;
    let results = ringloop::wait_for(SCHEDULE_LIMIT, ringloop::gather_all(handles))
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: a task hung"));
    for (i, (result, cancelled)) in results.iter().zip(cancelled).enumerate() {
        match result {
            Ok(done) => assert_eq!(*done, rounds, "seed {seed}: task {i}"),
            Err(e) => assert!(
                cancelled && e.is_cancelled(),
                "seed {seed}: task {i} failed: {e}"
            ),
        }
    }
}
