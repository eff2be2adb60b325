//! [`Barrier`]: asyncio's `asyncio.Barrier` (Python 3.11+), where `parties` tasks
//! wait for each other.
//!
//! The state machine is asyncio's (`_BarrierState` in CPython's `locks.py`), with
//! its count of the tasks *inside* the barrier: arrived and not yet gone, whether
//! still waiting for the round to fill or released and not yet run.
//!
//! ```text
//!            the parties-th arrival: released tasks leave as they run
//!   Filling ─────────────────────────────────────────────────────────▶ Draining
//!     ▲  ▲                                                               │
//!     │  └──────────────── the last task inside has gone ───────────────┤
//!     │                                                                  │ reset()
//!     │  reset() with nobody inside       reset() with tasks inside      ▼
//!     ├──────────────────────────── Broken ──────────────────────────▶ Resetting
//!     │                               ▲                                  │
//!     └── the last task inside gone ──┼──────────────────────────────────┘
//!                               abort(), from any state
//! ```
//!
//! * A task arriving while the barrier drains or resets waits outside (the
//!   `blocked` list) until it is `Filling` again, then enters; one arriving while it
//!   is broken gets [`BrokenBarrierError`] at once.
//! * A task inside waits (the `inside` list) while the barrier fills. When it runs
//!   after the barrier left `Filling`, it looks at the state *then*: `Draining`
//!   means it passed; `Resetting` or `Broken` means a `reset()` or `abort()` came
//!   first, even if that was after the round completed, and it gets
//!   [`BrokenBarrierError`] (asyncio's tasks re-check the state when they
//!   reacquire the barrier's condition, with the same result).
//! * Every task leaving the inside (passed, broken, or dropped) lowers the count;
//!   the last one ends the drain or the reset.
//!
//! asyncio builds this on a `Condition` whose `notify_all` wakes every task at each
//! change; here the two lists are [`WaitList`]s, so each change wakes only the
//! tasks it concerns, and a dropped waiter leaves its list in O(1).
//!
//! Indices are handed out at the trip in arrival order, `0` for the oldest waiter and
//! `parties - 1` for the task that completed the barrier, so they are distinct even
//! when a waiter was cancelled in between (asyncio computes the index at arrival and
//! can then repeat one). Without cancellations they are asyncio's.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::{BrokenBarrierError, WaitList, WaiterKey};

type Outcome = Result<usize, BrokenBarrierError>;

/// asyncio's `_BarrierState`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Tasks arrive and wait for the round to fill.
    Filling,
    /// The round completed; the released tasks leave as they run.
    Draining,
    /// `reset()` with tasks inside: they leave with an error as they run.
    Resetting,
    /// `abort()`: every wait fails until `reset()`.
    Broken,
}

/// A barrier for `parties` tasks, asyncio's `asyncio.Barrier`: each
/// [`wait`](Barrier::wait) blocks until `parties` tasks are waiting, then all of them
/// pass together and the barrier is ready for the next round (it is cyclic).
///
/// As in asyncio, a round *drains* before the next one fills: the released tasks
/// leave the barrier as each of them runs, and a task that calls `wait` meanwhile
/// waits for the drain to end before it counts for the next round.
///
/// [`abort`](Barrier::abort) breaks the barrier: waiting tasks, released tasks that
/// have not run yet, and every later `wait` get [`BrokenBarrierError`] until
/// [`reset`](Barrier::reset). `reset` sends the tasks inside away with
/// [`BrokenBarrierError`] (those released and not yet run too) and starts afresh
/// once they are gone. Both are plain methods here (asyncio's are coroutines,
/// because they take the barrier's internal lock; this barrier has none).
///
/// A cheap cloneable handle (an `Rc`), like every primitive in [`sync`](crate::sync).
///
/// ```
/// use ringloop::sync::Barrier;
/// ringloop::run(async {
///     let barrier = Barrier::new(3);
///     let tasks = (0..3).map(|_| {
///         let barrier = barrier.clone();
///         ringloop::spawn(async move { barrier.wait().await })
///     });
///     let mut indices: Vec<usize> = ringloop::gather_all(tasks)
///         .await
///         .into_iter()
///         .map(|r| r.unwrap().unwrap())
///         .collect();
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]);
/// });
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Rc<Inner>,
}

struct Inner {
    parties: usize,
    state: Cell<State>,
    /// Tasks inside: waiting for the round to fill, or released (by a trip, a reset
    /// or an abort) and not yet gone. asyncio's `_count`.
    count: Cell<usize>,
    /// Tasks inside, waiting for the round to fill: notified with their index when
    /// it does, with `None` at a reset or an abort.
    inside: RefCell<WaitList<Option<usize>>>,
    /// Tasks that arrived while the barrier was draining or resetting, waiting for
    /// it to fill again (or break).
    blocked: RefCell<WaitList>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// `parties == 0` is treated as 1 (every `wait` passes at once), as
    /// `std::sync::Barrier` and tokio's barrier do; asyncio raises `ValueError`.
    ///
    /// ```
    /// assert_eq!(ringloop::sync::Barrier::new(4).parties(), 4);
    /// ```
    pub fn new(parties: usize) -> Barrier {
        Barrier {
            inner: Rc::new(Inner {
                parties: parties.max(1),
                state: Cell::new(State::Filling),
                count: Cell::new(0),
                inside: RefCell::default(),
                blocked: RefCell::default(),
            }),
        }
    }

    /// Waits until `parties` tasks are waiting, and returns this task's arrival
    /// index in its round: `0` for the first to arrive, `parties - 1` for the task
    /// whose arrival completed the round (asyncio's `await barrier.wait()`). Called
    /// while the previous round is still draining, it first waits for the drain to
    /// end.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is broken ([`abort`](Barrier::abort)),
    /// or is broken or [`reset`](Barrier::reset) while this task is inside: waiting
    /// for the round, or released by it and not yet run (as in asyncio).
    ///
    /// Cancel-safe: a waiter dropped before its round completes leaves it, and the
    /// round needs one more arrival (as asyncio's barrier decrements its count). A
    /// waiter dropped after its round completed leaves the drain; the others are not
    /// affected.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let barrier = ringloop::sync::Barrier::new(1);
    ///     assert_eq!(barrier.wait().await, Ok(0));
    /// });
    /// ```
    pub fn wait(&self) -> BarrierWait {
        BarrierWait {
            barrier: self.clone(),
            phase: Phase::Arriving(None),
        }
    }

    /// Sends every task inside away with [`BrokenBarrierError`] (those waiting, and
    /// those released by a round that have not run yet) and returns the barrier to
    /// its empty, unbroken state once they are gone (asyncio's `reset()`; also how a
    /// broken barrier is repaired). Tasks that call `wait` meanwhile wait for that.
    ///
    /// ```
    /// use ringloop::sync::{Barrier, BrokenBarrierError};
    /// ringloop::run(async {
    ///     let barrier = Barrier::new(2);
    ///     let waiter = ringloop::spawn({
    ///         let barrier = barrier.clone();
    ///         async move { barrier.wait().await }
    ///     });
    ///     ringloop::yield_now().await;
    ///     assert_eq!(barrier.n_waiting(), 1);
    ///     barrier.reset();
    ///     assert_eq!(waiter.await, Ok(Err(BrokenBarrierError)));
    ///     assert_eq!((barrier.n_waiting(), barrier.broken()), (0, false));
    /// });
    /// ```
    pub fn reset(&self) {
        let inner = &self.inner;
        inner.state.set(if inner.count.get() > 0 {
            State::Resetting
        } else {
            State::Filling
        });
        inner.notify_all(|_| None);
    }

    /// Breaks the barrier: every task inside (waiting, or released by a round and
    /// not yet run) and every later [`wait`](Barrier::wait) gets
    /// [`BrokenBarrierError`] until [`reset`](Barrier::reset) (asyncio's `abort()`).
    ///
    /// ```
    /// let barrier = ringloop::sync::Barrier::new(2);
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// ```
    pub fn abort(&self) {
        self.inner.state.set(State::Broken);
        self.inner.notify_all(|_| None);
    }

    /// How many tasks must call [`wait`](Barrier::wait) to pass (asyncio's
    /// `parties`).
    ///
    /// ```
    /// assert_eq!(ringloop::sync::Barrier::new(2).parties(), 2);
    /// ```
    pub fn parties(&self) -> usize {
        self.inner.parties
    }

    /// How many tasks are waiting in the round being filled (asyncio's
    /// `n_waiting`): `0` while the barrier drains, resets or is broken.
    ///
    /// ```
    /// assert_eq!(ringloop::sync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        match self.inner.state.get() {
            State::Filling => self.inner.count.get(),
            _ => 0,
        }
    }

    /// Whether the barrier is broken (asyncio's `broken`).
    ///
    /// ```
    /// assert!(!ringloop::sync::Barrier::new(2).broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.inner.state.get() == State::Broken
    }
}

impl Inner {
    /// Notifies every task waiting inside, in arrival order, with
    /// `index(position)`, and every blocked task; wakes them once the lists are no
    /// longer borrowed.
    fn notify_all(&self, index: impl Fn(usize) -> Option<usize>) {
        let mut wakers: Vec<Waker> = Vec::new();
        {
            let mut inside = self.inside.borrow_mut();
            for position in 0.. {
                match inside.notify_one(index(position)) {
                    Ok(waker) => wakers.extend(waker),
                    Err(_) => break,
                }
            }
        }
        self.blocked.borrow_mut().notify_all((), &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// A task leaves the inside (asyncio's `finally: _count -= 1; _exit()`): the
    /// last one to go ends the drain or the reset, and lets the blocked tasks in.
    fn exit(&self) {
        let count = self.count.get() - 1;
        self.count.set(count);
        if count > 0 {
            return;
        }
        if matches!(self.state.get(), State::Draining | State::Resetting) {
            self.state.set(State::Filling);
        }
        let mut wakers = Vec::new();
        self.blocked.borrow_mut().notify_all((), &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("state", &self.inner.state.get())
            .field("n_waiting", &self.n_waiting())
            .finish()
    }
}

/// Where one [`BarrierWait`] stands.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Not inside yet: not polled (`None`), or waiting outside while the barrier
    /// drains or resets (its key in `blocked`).
    Arriving(Option<WaiterKey>),
    /// Inside, waiting for the round to fill (its key in `inside`).
    Inside(WaiterKey),
    /// Completed.
    Done,
}

/// The future of [`Barrier::wait`]: resolves to the arrival index, or
/// [`BrokenBarrierError`]. Cancel-safe (see [`Barrier::wait`]).
///
/// # Panics
///
/// If polled again after it completed, as an `async fn`'s future does (rather than
/// silently arriving at the next round).
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait {
    barrier: Barrier,
    phase: Phase,
}

impl Future for BarrierWait {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let this = self.get_mut();
        let inner = &this.barrier.inner;
        match this.phase {
            Phase::Done => panic!("a BarrierWait was polled after it completed"),
            Phase::Inside(key) => {
                let Poll::Ready(index) = inner.inside.borrow_mut().poll(key, cx) else {
                    return Poll::Pending;
                };
                this.phase = Phase::Done;
                // The state now, when this task runs, decides (a reset or an abort
                // after the round completed still breaks it, as in asyncio).
                let outcome = match (inner.state.get(), index) {
                    (State::Draining, Some(index)) => Ok(index),
                    _ => Err(BrokenBarrierError),
                };
                inner.exit();
                Poll::Ready(outcome)
            }
            Phase::Arriving(mut blocked) => {
                let state = inner.state.get();
                if matches!(state, State::Draining | State::Resetting) {
                    // Wait outside until the round in progress has drained.
                    inner.blocked.borrow_mut().park(&mut blocked, cx.waker());
                    this.phase = Phase::Arriving(blocked);
                    return Poll::Pending;
                }
                inner.blocked.borrow_mut().leave(&mut blocked);
                if state == State::Broken {
                    this.phase = Phase::Done;
                    return Poll::Ready(Err(BrokenBarrierError));
                }
                let index = inner.count.get();
                inner.count.set(index + 1);
                if index + 1 < inner.parties {
                    let key = inner
                        .inside
                        .borrow_mut()
                        .push_back(Some(cx.waker().clone()));
                    this.phase = Phase::Inside(key);
                    return Poll::Pending;
                }
                // This arrival completes the round: the others pass as they run.
                this.phase = Phase::Done;
                inner.state.set(State::Draining);
                inner.notify_all(Some);
                inner.exit();
                Poll::Ready(Ok(index))
            }
        }
    }
}

impl Drop for BarrierWait {
    fn drop(&mut self) {
        let inner = &self.barrier.inner;
        match self.phase {
            Phase::Arriving(Some(key)) => {
                // Every blocked task was woken at the change: nothing to pass on.
                let _ = inner.blocked.borrow_mut().remove(key);
            }
            Phase::Inside(key) => {
                // Before the round completed: it needs one more arrival. After: this
                // task leaves the drain (or the reset) as if it had run.
                let _ = inner.inside.borrow_mut().remove(key);
                inner.exit();
            }
            Phase::Arriving(None) | Phase::Done => {}
        }
    }
}

impl fmt::Debug for BarrierWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}
