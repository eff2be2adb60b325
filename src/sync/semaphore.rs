//! [`Semaphore`]: a counter of permits, asyncio's `asyncio.Semaphore`, fair by FIFO
//! hand-off; and its [`Permit`].
//!
//! ```text
//!   acquire():  nobody in line and permits > 0  →  permits -= 1, ready at once
//!               otherwise                       →  join the line (the wait list)
//!   release():  a task waits  →  the oldest waiter is handed the permit (notified)
//!               nobody waits  →  permits += 1
//!   a waiter leaves the line (takes its permit, or is dropped):
//!               while permits > 0 and a task waits: hand it a permit
//! ```
//!
//! As in [`Lock`](super::Lock), a released permit goes straight to the oldest
//! waiter, which owns it before it even runs. *In line* means waiting, or handed a
//! permit and not yet run: asyncio 3.13 keeps a woken waiter in its queue until it
//! runs, and its `locked()` and `acquire` count it. So while a woken waiter has not
//! run, a task that releases and at once acquires again queues behind it even if
//! its release went to the count (no waiter was left to hand it to), and
//! [`Semaphore::locked`] is `true`. The permits that piled up meanwhile are handed
//! on when the woken waiter takes its own (asyncio's `acquire` does this in its
//! `finally`), so they never sit in the count while tasks wait, once the line has
//! moved: *permits > 0 and a task waits ⇒ a woken waiter has not run yet*.
//!
//! A waiter dropped after it was handed a permit but before it ran gets the permit
//! back from [`WaitList::remove`] and gives it back, to the next waiter or to the
//! count, so a cancelled waiter never leaks a permit. Uncontended `acquire` and
//! release touch one `Cell` and an empty list: no allocation, no wake.
//!
//! [`BoundedSemaphore`] (`bounded_semaphore.rs`) shares this state and the same
//! [`Permit`]; it refuses a `release` that would raise the count above its initial
//! value.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[cfg(doc)]
use super::BoundedSemaphore;
use super::{WaitList, WaiterKey};

pub(super) struct Inner {
    pub(super) permits: Cell<usize>,
    /// The most permits the count may hold (`usize::MAX` when unbounded).
    pub(super) bound: usize,
    /// The line: tasks waiting for a permit, and tasks handed one (notified with
    /// the permit itself) that have not taken it yet.
    waiters: RefCell<WaitList<()>>,
}

impl Inner {
    pub(super) fn new(permits: usize, bound: usize) -> Rc<Inner> {
        Rc::new(Inner {
            permits: Cell::new(permits),
            bound,
            waiters: RefCell::default(),
        })
    }

    /// Gives one permit back: to the oldest waiter, or to the count. A count already
    /// at its bound stays there (the permit is dropped).
    pub(super) fn release(&self) {
        let waker = {
            let mut waiters = self.waiters.borrow_mut();
            match waiters.notify_one(()) {
                Ok(waker) => waker,
                Err(()) => {
                    let permits = self.permits.get();
                    if permits < self.bound {
                        self.permits.set(permits + 1);
                    }
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether an acquire would have to wait: no permit, or tasks in line (waiting,
    /// or handed a permit and not yet run), asyncio 3.13's `locked()`.
    pub(super) fn locked(&self) -> bool {
        if self.permits.get() == 0 {
            return true;
        }
        let waiters = self.waiters.borrow();
        !waiters.is_empty() || waiters.notified_pending() > 0
    }

    /// Takes a permit from the count, if nobody is in line.
    fn take_now(&self) -> bool {
        if self.locked() {
            return false;
        }
        self.permits.set(self.permits.get() - 1);
        true
    }

    pub(super) fn try_acquire(self: &Rc<Self>) -> Option<Permit> {
        self.take_now().then(|| Permit {
            sem: Some(self.clone()),
        })
    }

    /// After a waiter left the line: hands the permits in the count to the waiters
    /// still waiting, as many as there are permits (they queued behind a woken
    /// waiter while releases went to the count).
    fn hand_on_surplus(&self) {
        let mut wakers = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            while self.permits.get() > 0 {
                match waiters.notify_one(()) {
                    Ok(waker) => {
                        self.permits.set(self.permits.get() - 1);
                        wakers.extend(waker);
                    }
                    Err(()) => break,
                }
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(super) fn acquire(self: &Rc<Self>) -> SemaphoreAcquire {
        SemaphoreAcquire {
            sem: Some(self.clone()),
            waiter: None,
        }
    }

    pub(super) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct(name);
        s.field("permits", &self.permits.get());
        if let Ok(waiters) = self.waiters.try_borrow() {
            s.field("waiters", &waiters.len());
        }
        s.finish()
    }
}

/// A counter of permits, asyncio's `asyncio.Semaphore`: at most `n` tasks at a time
/// hold a [`Permit`] from [`acquire`](Semaphore::acquire); the others wait, and get
/// permits in the order they asked (FIFO hand-off: a released permit goes straight to
/// the oldest waiter, so newcomers cannot barge in, as in asyncio 3.13).
///
/// A [`Permit`] is released when dropped (asyncio's `async with sem:`). For asyncio's
/// manual style, [`Permit::forget`] keeps the permit taken and
/// [`release`](Semaphore::release) adds one; `release` may raise the count above its
/// initial value, as in asyncio (use [`BoundedSemaphore`] to forbid that).
///
/// A cheap cloneable handle (an `Rc`), like every primitive in [`sync`](crate::sync);
/// permits own a handle, so they are `'static`.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use ringloop::sync::Semaphore;
///
/// ringloop::run(async {
///     let sem = Semaphore::new(2);
///     let (running, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks = (0..6).map(|_| {
///         let (sem, running, most) = (sem.clone(), running.clone(), most.clone());
///         ringloop::spawn(async move {
///             let _permit = sem.acquire().await;
///             running.set(running.get() + 1);
///             most.set(most.get().max(running.get()));
///             ringloop::sleep(Duration::from_millis(2)).await;
///             running.set(running.get() - 1);
///         })
///     });
///     ringloop::gather_all(tasks).await;
///     assert_eq!(most.get(), 2);
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<Inner>,
}

impl Semaphore {
    /// A semaphore with `permits` permits (asyncio's `Semaphore(value)`; the default
    /// value there is 1).
    ///
    /// ```
    /// let sem = ringloop::sync::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            inner: Inner::new(permits, usize::MAX),
        }
    }

    /// Waits for a permit and takes it (asyncio's `await sem.acquire()`, or entering
    /// `async with sem:`). Waiters are served in arrival order.
    ///
    /// Cancel-safe: dropping the future before it completes takes no permit. If a
    /// permit had already been handed to it (notified but not polled again), the
    /// permit passes on to the next waiter, or back to the count.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let sem = ringloop::sync::Semaphore::new(1);
    ///     let permit = sem.acquire().await;
    ///     assert!(sem.locked());
    ///     drop(permit);
    ///     assert!(!sem.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire {
        self.inner.acquire()
    }

    /// Takes a permit if [`acquire`](Semaphore::acquire) would not wait. `None`
    /// while [`locked`](Semaphore::locked): no permit in the count, or tasks in line
    /// (permits handed to waiters that have not run yet are theirs, and a task
    /// woken but not yet run keeps its place ahead of newcomers).
    ///
    /// ```
    /// let sem = ringloop::sync::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(permit);
    /// ```
    pub fn try_acquire(&self) -> Option<Permit> {
        self.inner.try_acquire()
    }

    /// Adds a permit (asyncio's `release()`): it goes to the oldest waiter, if any.
    /// The count may grow past its initial value; at `usize::MAX` it stays there.
    ///
    /// ```
    /// let sem = ringloop::sync::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        self.inner.release();
    }

    /// Whether [`acquire`](Semaphore::acquire) would wait (asyncio 3.13's
    /// `locked()`): no permit is in the count, or tasks are in line (waiting, or
    /// handed a permit and not yet run; a release that finds nobody waiting goes to
    /// the count, but a newcomer still queues behind them).
    ///
    /// ```
    /// let sem = ringloop::sync::Semaphore::new(0);
    /// assert!(sem.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// The count of permits held by nobody (asyncio's private `_value`). It may be
    /// above zero while [`locked`](Semaphore::locked), for as long as a waiter
    /// handed a permit has not run: that waiter hands the count on to the tasks
    /// queued behind it when it takes its own.
    ///
    /// ```
    /// let sem = ringloop::sync::Semaphore::new(2);
    /// let _permit = sem.try_acquire();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.inner.permits.get()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("Semaphore", f)
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`], given back when dropped.
///
/// Owns a handle to its semaphore, so it is `'static`: hold it across awaits or move
/// it into another task.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct Permit {
    /// `None` once forgotten.
    sem: Option<Rc<Inner>>,
}

impl Permit {
    /// Keeps the permit taken: it is not given back on drop, and the semaphore has
    /// one permit fewer until someone calls `release()`. This is how asyncio's
    /// manual `acquire()` / `release()` pairing is written with permits.
    ///
    /// ```
    /// let sem = ringloop::sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.sem = None;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(sem) = self.sem.take() {
            sem.release();
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire`] and [`BoundedSemaphore::acquire`]: resolves
/// to a [`Permit`]. Cancel-safe (see [`Semaphore::acquire`]).
///
/// # Panics
///
/// If polled again after it completed, as an `async fn`'s future does.
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire {
    /// `None` once the permit was returned.
    sem: Option<Rc<Inner>>,
    waiter: Option<WaiterKey>,
}

impl Future for SemaphoreAcquire {
    type Output = Permit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = self.get_mut();
        let sem = this
            .sem
            .as_ref()
            .expect("SemaphoreAcquire polled after it completed");
        match this.waiter {
            None => {
                if !sem.take_now() {
                    let key = sem.waiters.borrow_mut().push_back(Some(cx.waker().clone()));
                    this.waiter = Some(key);
                    return Poll::Pending;
                }
            }
            Some(key) => {
                // Ready: a release handed its permit over (the count never saw it).
                if sem.waiters.borrow_mut().poll(key, cx).is_pending() {
                    return Poll::Pending;
                }
                this.waiter = None;
                sem.hand_on_surplus();
            }
        }
        Poll::Ready(Permit {
            sem: this.sem.take(),
        })
    }
}

impl Drop for SemaphoreAcquire {
    fn drop(&mut self) {
        if let (Some(sem), Some(key)) = (&self.sem, self.waiter) {
            let handed = sem.waiters.borrow_mut().remove(key);
            if handed.is_some() {
                // Handed a permit but never ran: pass it on.
                sem.release();
            }
            // Out of line: waiters queued behind it may take the count's permits.
            sem.hand_on_surplus();
        }
    }
}

impl fmt::Debug for SemaphoreAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
