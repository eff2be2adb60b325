//! [`Lock`]: asyncio's mutual-exclusion lock, fair by FIFO hand-off.
//!
//! ```text
//!              lock() while unlocked                 guard dropped, nobody waits
//!   Unlocked ─────────────────────────▶ Locked ────────────────────────────────▶ Unlocked
//!                                       │    ▲
//!                                       └────┘ guard dropped while tasks wait: the
//!                                              oldest waiter is notified and owns
//!                                              the lock from then on (hand-off)
//! ```
//!
//! The state is a `locked` flag and a [`WaitList`] of the tasks waiting for it. A
//! releasing guard never sets the flag back while someone waits: it hands the lock
//! to the oldest waiter, which owns it before it even runs again. So the lock is
//! never free while tasks wait (*unlocked ⇒ nobody waits*), a newcomer cannot barge
//! past them, and the fast paths are one `Cell` each: an uncontended `lock()` checks
//! and sets the flag, an uncontended release finds the list empty and clears it. No
//! allocation, no wake.
//!
//! asyncio gets the same order differently (release clears the flag and wakes the
//! first waiter; `acquire` refuses newcomers while live waiters exist; the woken
//! waiter sets the flag when it runs). What it reports is kept: between a hand-off
//! and the new owner running, [`Lock::locked`] is `false` (nobody holds the lock
//! yet: the waiter handed it is the list's one notified node), while `lock()` and
//! [`Lock::try_lock`] still queue or fail, as asyncio's `acquire` waits then.
//!
//! A waiter dropped after it was handed the lock but before it ran gets the lock
//! back from [`WaitList::remove`] and releases it in turn, to the next waiter or to
//! nobody; so a cancelled waiter never holds or leaks the lock.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{WaitList, WaiterKey};

/// A mutual-exclusion lock for the tasks of one runtime, asyncio's `asyncio.Lock`.
///
/// [`lock()`](Lock::lock) waits until the lock is free and returns a [`LockGuard`];
/// the lock is released when the guard is dropped (asyncio's `async with lock:`
/// block). Like asyncio's lock it guards no data of its own: it orders tasks, and the
/// data they share lives beside it (in a `RefCell`, say).
///
/// **Fair.** Waiters get the lock in the order they asked for it. A releasing guard
/// hands the lock directly to the oldest waiter (FIFO hand-off), so a task that calls
/// `lock()` while others wait queues behind them even if it runs first; asyncio's
/// lock makes the same promise.
///
/// **A handle.** `Lock` is a cheap cloneable handle (an `Rc`) to one lock: clone it
/// into every task that shares it, as asyncio code passes one `Lock` object around.
/// A [`LockGuard`] owns a handle too, so it has no lifetime: it can be held across
/// awaits in a spawned (`'static`) task and handed to [`Condition::wait`]. Every
/// primitive in [`sync`](crate::sync) follows this pattern.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use ringloop::sync::Lock;
///
/// ringloop::run(async {
///     let lock = Lock::new();
///     let inside = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let (lock, inside) = (lock.clone(), inside.clone());
///             ringloop::spawn(async move {
///                 let _guard = lock.lock().await;
///                 inside.set(inside.get() + 1);
///                 assert_eq!(inside.get(), 1, "one task at a time");
///                 ringloop::sleep(Duration::from_millis(1)).await;
///                 inside.set(inside.get() - 1);
///             })
///         })
///         .collect();
///     ringloop::gather_all(tasks).await;
///     assert!(!lock.locked());
/// });
/// ```
///
/// [`Condition::wait`]: super::Condition::wait
#[derive(Clone, Default)]
pub struct Lock {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    locked: Cell<bool>,
    /// Tasks waiting for the lock; notified with the lock itself (hand-off).
    waiters: RefCell<WaitList<()>>,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// ```
    /// let lock = ringloop::sync::Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Waits until the lock is free, takes it, and returns the guard that releases
    /// it (asyncio's `await lock.acquire()`, or entering `async with lock:`).
    ///
    /// Waiters are served in arrival order. An uncontended `lock()` takes the lock on
    /// its first poll without allocating.
    ///
    /// Cancel-safe: dropping the future before it completes leaves the lock as if it
    /// had never asked. If the lock had already been handed to it (it was notified
    /// but not polled again), the lock passes on to the next waiter, or becomes free.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let lock = ringloop::sync::Lock::new();
    ///     let guard = lock.lock().await;
    ///     assert!(lock.locked());
    ///     drop(guard);
    ///     assert!(!lock.locked());
    /// });
    /// ```
    pub fn lock(&self) -> LockAcquire {
        LockAcquire {
            lock: Some(self.clone()),
            waiter: None,
        }
    }

    /// Takes the lock if it is free, without waiting. `None` when it is held, or
    /// handed to a waiter that has not run yet (waiters keep their turn).
    ///
    /// ```
    /// let lock = ringloop::sync::Lock::new();
    /// let guard = lock.try_lock().expect("free");
    /// assert!(lock.try_lock().is_none());
    /// drop(guard);
    /// assert!(lock.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard> {
        if self.inner.locked.replace(true) {
            return None;
        }
        Some(LockGuard { lock: self.clone() })
    }

    /// Whether the lock is held (asyncio's `lock.locked()`). As in asyncio, a lock
    /// released to a waiter that has not run yet is not held until that waiter
    /// runs; it is not free either: [`try_lock`](Lock::try_lock) fails and
    /// [`lock`](Lock::lock) queues behind the waiter.
    ///
    /// ```
    /// let lock = ringloop::sync::Lock::new();
    /// let guard = lock.try_lock();
    /// assert!(lock.locked());
    /// drop(guard);
    /// assert!(!lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.locked.get() && self.inner.waiters.borrow().notified_pending() == 0
    }

    /// Releases the lock: to the oldest waiter if there is one, else to nobody.
    fn release(&self) {
        let waker = {
            let mut waiters = self.inner.waiters.borrow_mut();
            match waiters.notify_one(()) {
                Ok(waker) => waker,
                Err(()) => {
                    self.inner.locked.set(false);
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Lock");
        s.field("locked", &self.locked());
        if let Ok(waiters) = self.inner.waiters.try_borrow() {
            s.field("waiters", &waiters.len());
        }
        s.finish()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock (to the oldest waiter, if any).
///
/// Owns a handle to its lock, so it is `'static`: keep it across awaits, move it
/// into another task, or hand it to [`Condition::wait`](super::Condition::wait).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    lock: Lock,
}

impl LockGuard {
    /// The lock this guard holds.
    pub(crate) fn lock(&self) -> &Lock {
        &self.lock
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

/// The future of [`Lock::lock`]: resolves to the [`LockGuard`] once the lock is
/// this task's. Cancel-safe (see [`Lock::lock`]).
///
/// # Panics
///
/// If polled again after it completed, as an `async fn`'s future does.
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire {
    /// `None` once the guard was returned.
    lock: Option<Lock>,
    /// In the lock's wait list.
    waiter: Option<WaiterKey>,
}

impl Future for LockAcquire {
    type Output = LockGuard;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        let this = self.get_mut();
        let lock = this
            .lock
            .as_ref()
            .expect("LockAcquire polled after it completed");
        match this.waiter {
            None => {
                if lock.inner.locked.replace(true) {
                    let key = lock
                        .inner
                        .waiters
                        .borrow_mut()
                        .push_back(Some(cx.waker().clone()));
                    this.waiter = Some(key);
                    return Poll::Pending;
                }
            }
            Some(key) => {
                // Ready: the releasing guard handed the lock over (`locked` stayed set).
                if lock.inner.waiters.borrow_mut().poll(key, cx).is_pending() {
                    return Poll::Pending;
                }
                this.waiter = None;
            }
        }
        let lock = this.lock.take().expect("checked above");
        Poll::Ready(LockGuard { lock })
    }
}

impl Drop for LockAcquire {
    fn drop(&mut self) {
        if let (Some(lock), Some(key)) = (&self.lock, self.waiter) {
            let handed = lock.inner.waiters.borrow_mut().remove(key);
            if handed.is_some() {
                // Handed the lock but never ran: pass it on.
                lock.release();
            }
        }
    }
}

impl fmt::Debug for LockAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
