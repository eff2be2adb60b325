//! [`Barrier`]: asyncio's `asyncio.Barrier` (Python 3.11+), where `parties` tasks
//! wait for each other.
//!
//! ```text
//!            wait(): joins the list            the parties-th wait(): every listed
//!   Filling ◀──────────────────────────┐       waiter is notified Ok(index) in
//!     │  ▲   (a dropped waiter leaves:  │       arrival order; the barrier is
//!     │  │    the count goes down)      │       Filling again, empty, at once
//!     │  └──────────────────────────────┘
//!     │ abort(): waiters notified Err                reset(): waiters notified Err,
//!     ▼                                              then Filling
//!   Broken ── wait() is Err at once ── reset() ──▶ Filling
//! ```
//!
//! The waiting tasks are a [`WaitList`] whose notification is each waiter's outcome:
//! `Ok(index)` or `Err(BrokenBarrierError)`. Deciding every outcome in the step that
//! trips (or resets, or aborts) the barrier is where this differs from asyncio, which
//! builds the barrier on a `Condition`: there, released tasks must each reacquire the
//! condition's lock before `wait()` returns, the barrier is `draining` until they all
//! have, and new arrivals wait for the drain. Here the drain is instantaneous: the
//! released tasks have passed (their results are in their notifications), so the
//! next cycle can fill at once, and a `reset()` or `abort()` right after a trip
//! cannot break the cycle that already passed (in asyncio it can, for the released
//! tasks that have not run yet).
//!
//! Indices are handed out at the trip in arrival order, `0` for the oldest waiter and
//! `parties - 1` for the task that completed the barrier, so they are distinct even
//! when a waiter was cancelled in between (asyncio computes the index at arrival and
//! can then repeat one).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::{BrokenBarrierError, WaitList, WaiterKey};

type Outcome = Result<usize, BrokenBarrierError>;

/// A barrier for `parties` tasks, asyncio's `asyncio.Barrier`: each
/// [`wait`](Barrier::wait) blocks until `parties` tasks are waiting, then all of them
/// pass together and the barrier is ready for the next round (it is cyclic).
///
/// [`abort`](Barrier::abort) breaks the barrier: waiting tasks and every later `wait`
/// get [`BrokenBarrierError`] until [`reset`](Barrier::reset). `reset` sends the
/// waiting tasks away with [`BrokenBarrierError`] and starts afresh. Both are plain
/// methods here (asyncio's are coroutines, because they take the barrier's internal
/// lock; this barrier has none).
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
    broken: Cell<bool>,
    /// The tasks waiting for this round to fill; notified with their outcome.
    waiters: RefCell<WaitList<Outcome>>,
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
                broken: Cell::new(false),
                waiters: RefCell::default(),
            }),
        }
    }

    /// Waits until `parties` tasks are waiting, and returns this task's arrival
    /// index in its round: `0` for the first to arrive, `parties - 1` for the task
    /// whose arrival completed the round (asyncio's `await barrier.wait()`).
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is broken ([`abort`](Barrier::abort)),
    /// or is broken or [`reset`](Barrier::reset) while this task waits.
    ///
    /// Cancel-safe: a waiter dropped before its round completes leaves it, and the
    /// round needs one more arrival (as asyncio's barrier decrements its count). A
    /// waiter dropped after its round completed had passed; the others are not
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
            waiter: None,
            done: false,
        }
    }

    /// Sends every waiting task away with [`BrokenBarrierError`] and returns the
    /// barrier to its empty, unbroken state (asyncio's `reset()`; also how a broken
    /// barrier is repaired).
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
        self.inner.broken.set(false);
        self.inner.release_all(|_| Err(BrokenBarrierError));
    }

    /// Breaks the barrier: every waiting task and every later
    /// [`wait`](Barrier::wait) gets [`BrokenBarrierError`] until
    /// [`reset`](Barrier::reset) (asyncio's `abort()`).
    ///
    /// ```
    /// let barrier = ringloop::sync::Barrier::new(2);
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// ```
    pub fn abort(&self) {
        self.inner.broken.set(true);
        self.inner.release_all(|_| Err(BrokenBarrierError));
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

    /// How many tasks are waiting in the current round (asyncio's `n_waiting`).
    ///
    /// ```
    /// assert_eq!(ringloop::sync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.inner.waiters.borrow().len()
    }

    /// Whether the barrier is broken (asyncio's `broken`).
    ///
    /// ```
    /// assert!(!ringloop::sync::Barrier::new(2).broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.inner.broken.get()
    }
}

impl Inner {
    /// Notifies every waiter, in arrival order, with `outcome(position)`; wakes them
    /// once the list is no longer borrowed.
    fn release_all(&self, outcome: impl Fn(usize) -> Outcome) {
        let wakers = {
            let mut waiters = self.waiters.borrow_mut();
            if waiters.is_empty() {
                return;
            }
            let mut wakers: Vec<Waker> = Vec::with_capacity(waiters.len());
            for position in 0.. {
                match waiters.notify_one(outcome(position)) {
                    Ok(waker) => wakers.extend(waker),
                    Err(_) => break,
                }
            }
            wakers
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Barrier");
        s.field("parties", &self.parties())
            .field("broken", &self.broken());
        if let Ok(waiters) = self.inner.waiters.try_borrow() {
            s.field("n_waiting", &waiters.len());
        }
        s.finish()
    }
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
    waiter: Option<WaiterKey>,
    done: bool,
}

impl Future for BarrierWait {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let this = self.get_mut();
        assert!(!this.done, "a BarrierWait was polled after it completed");
        let inner = &this.barrier.inner;
        if let Some(key) = this.waiter {
            let poll = inner.waiters.borrow_mut().poll(key, cx);
            if poll.is_ready() {
                this.waiter = None;
                this.done = true;
            }
            return poll;
        }
        this.done = true;
        if inner.broken.get() {
            return Poll::Ready(Err(BrokenBarrierError));
        }
        let arrived = inner.waiters.borrow().len();
        if arrived + 1 < inner.parties {
            let key = inner
                .waiters
                .borrow_mut()
                .push_back(Some(cx.waker().clone()));
            this.waiter = Some(key);
            this.done = false;
            return Poll::Pending;
        }
        // This arrival completes the round.
        inner.release_all(Ok);
        Poll::Ready(Ok(inner.parties - 1))
    }
}

impl Drop for BarrierWait {
    fn drop(&mut self) {
        if let Some(key) = self.waiter {
            // Left before the round completed: the round needs one more arrival. Left
            // after: it had passed, and the others have their outcomes already.
            let _ = self.barrier.inner.waiters.borrow_mut().remove(key);
        }
    }
}

impl fmt::Debug for BarrierWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
