//! [`Condition`]: asyncio's condition variable, a [`Lock`] plus a list of tasks
//! waiting to be notified.
//!
//! One [`wait`](Condition::wait) goes through these states:
//!
//! ```text
//!             first poll: join the list,              notified
//!   Start ──────────────────────────────▶ Waiting ───────────────▶ Reacquiring ──▶ Done
//!   (holds    then release the lock       (lock not held)          (waiting for     (returns
//!    guard)                                                         the lock)        the guard)
//!
//!   dropped in Start:        the guard drops: the lock is released
//!   dropped in Waiting:      leaves the list; if it had been notified, the
//!                            notification passes to the next waiter
//!   dropped in Reacquiring:  leaves the lock's queue (a lock handed to it passes on)
//!                            and passes its notification to the next waiter
//! ```
//!
//! Joining the list before releasing the lock, in the same poll, is what makes the
//! release and the wait atomic: no notification can fall between them.
//!
//! asyncio's `wait()` reacquires the lock even when cancelled and then re-raises; a
//! dropped Rust future cannot hand a guard back, so it leaves the lock alone instead
//! (released, or queued for and passed on). Like asyncio 3.13, a cancelled waiter that
//! had consumed a notification hands one on, so cancellation never loses a wakeup; that
//! may wake a task that ends up finding nothing to do (a spurious wakeup, which the
//! condition-variable protocol allows: wait in a loop, or use
//! [`wait_for`](Condition::wait_for)).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::{Lock, LockAcquire, LockGuard, NotLockedError, WaitList, WaiterKey};

/// A condition variable, asyncio's `asyncio.Condition`: tasks holding its lock wait
/// until another task notifies them that something changed.
///
/// Take the lock with [`lock`](Condition::lock), check the state, and if it is not
/// what you need, [`wait`](Condition::wait): the lock is released while waiting and
/// held again when `wait` returns. A task that changes the state notifies waiters with
/// [`notify`](Condition::notify) or [`notify_all`](Condition::notify_all) while holding
/// the lock. [`wait_for`](Condition::wait_for) is the loop around `wait` that
/// re-checks a predicate.
///
/// A cheap cloneable handle (an `Rc`), like every primitive in
/// [`sync`](crate::sync); the guard is the [`Lock`]'s [`LockGuard`], which owns a
/// handle, so waiting needs no borrow of the condition.
///
/// ```
/// use std::{cell::RefCell, collections::VecDeque, rc::Rc};
/// use ringloop::sync::Condition;
///
/// ringloop::run(async {
///     let cond = Condition::new();
///     let items = Rc::new(RefCell::new(VecDeque::new()));
///     let consumer = {
///         let (cond, items) = (cond.clone(), items.clone());
///         ringloop::spawn(async move {
///             let guard = cond.lock().await;
///             let _guard = cond.wait_for(guard, || !items.borrow().is_empty()).await;
///             items.borrow_mut().pop_front()
///         })
///     };
///     ringloop::yield_now().await;
///     let guard = cond.lock().await;
///     items.borrow_mut().push_back("item");
///     cond.notify(1).unwrap();
///     drop(guard);
///     assert_eq!(consumer.await, Ok(Some("item")));
/// });
/// ```
#[derive(Clone, Default)]
pub struct Condition {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    lock: Lock,
    waiters: RefCell<WaitList<()>>,
}

impl Condition {
    /// A condition with a new lock of its own.
    ///
    /// ```
    /// let cond = ringloop::sync::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn new() -> Condition {
        Condition::default()
    }

    /// A condition over an existing lock (asyncio's `Condition(lock)`), so several
    /// conditions, or plain `lock.lock()` callers, can share one lock.
    ///
    /// ```
    /// use ringloop::sync::{Condition, Lock};
    /// let lock = Lock::new();
    /// let cond = Condition::with_lock(lock.clone());
    /// let guard = lock.try_lock().unwrap();
    /// assert!(cond.locked());
    /// assert_eq!(cond.notify(1), Ok(()));
    /// drop(guard);
    /// ```
    pub fn with_lock(lock: Lock) -> Condition {
        Condition {
            inner: Rc::new(Inner {
                lock,
                waiters: RefCell::default(),
            }),
        }
    }

    /// Takes the condition's lock: [`Lock::lock`] on it (asyncio's
    /// `async with cond:`). Cancel-safe.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let cond = ringloop::sync::Condition::new();
    ///     let guard = cond.lock().await;
    ///     assert!(cond.locked());
    ///     drop(guard);
    /// });
    /// ```
    pub fn lock(&self) -> LockAcquire {
        self.inner.lock.lock()
    }

    /// Takes the condition's lock if it is free ([`Lock::try_lock`]).
    ///
    /// ```
    /// let cond = ringloop::sync::Condition::new();
    /// assert!(cond.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard> {
        self.inner.lock.try_lock()
    }

    /// Whether the condition's lock is held.
    ///
    /// ```
    /// let cond = ringloop::sync::Condition::new();
    /// let _guard = cond.try_lock();
    /// assert!(cond.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.lock.locked()
    }

    /// The condition's lock (a handle to it).
    ///
    /// ```
    /// let cond = ringloop::sync::Condition::new();
    /// let lock = cond.lock_handle();
    /// let _guard = lock.try_lock();
    /// assert!(cond.locked());
    /// ```
    pub fn lock_handle(&self) -> Lock {
        self.inner.lock.clone()
    }

    /// Releases `guard`'s lock, waits until notified, takes the lock again and
    /// returns the new guard (asyncio's `await cond.wait()`).
    ///
    /// The lock is released when the future is first polled, in the same step as it
    /// starts listening, so a notification sent as soon as the lock is free is not
    /// missed. Like every condition variable it may return without the state having
    /// changed as hoped (a waiter cancelled after a notification passes it on), so
    /// check the state in a loop, or use [`wait_for`](Condition::wait_for).
    ///
    /// `guard` is normally a guard of this condition's lock. A guard of another
    /// [`Lock`] works too: that lock is the one released and taken again (asyncio's
    /// `wait()` raises `RuntimeError` when the lock is not held; here the guard
    /// proves it is).
    ///
    /// **Cancellation.** Not cancel-safe in the sense of "no effect": a dropped Rust
    /// future cannot hand the guard back, so the caller ends up without the lock
    /// (asyncio's `wait()` reacquires it before re-raising `CancelledError`). But the
    /// lock is never left held or leaked, and no notification is lost:
    /// - dropped before its first poll, it drops `guard`, which releases the lock;
    /// - dropped while waiting to be notified, it just leaves the list;
    /// - dropped after being notified (before it ran, or while waiting for the lock
    ///   again), it leaves the lock's queue, passing the lock on if it had been handed
    ///   it, and passes the notification to the next waiter, as asyncio 3.13 does.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use ringloop::sync::Condition;
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let ready = Rc::new(Cell::new(false));
    ///     let waiter = {
    ///         let (cond, ready) = (cond.clone(), ready.clone());
    ///         ringloop::spawn(async move {
    ///             let mut guard = cond.lock().await;
    ///             while !ready.get() {
    ///                 guard = cond.wait(guard).await;
    ///             }
    ///         })
    ///     };
    ///     ringloop::yield_now().await;
    ///     let _guard = cond.lock().await;
    ///     ready.set(true);
    ///     cond.notify_all().unwrap();
    ///     drop(_guard);
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub fn wait(&self, guard: LockGuard) -> ConditionWait {
        ConditionWait {
            cond: self.clone(),
            state: WaitState::Start(guard),
        }
    }

    /// Waits until `predicate` returns `true` (asyncio's `await
    /// cond.wait_for(predicate)`): checks it with the lock held, and while it is false
    /// [`wait`](Condition::wait)s and checks again. Returns the guard, with the
    /// predicate true. asyncio returns the predicate's last value; here it is `true`
    /// by construction, so the guard is returned instead.
    ///
    /// Cancellation: as [`wait`](Condition::wait) (the lock is released, no
    /// notification is lost).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use ringloop::sync::Condition;
    /// ringloop::run(async {
    ///     let cond = Condition::new();
    ///     let count = Rc::new(Cell::new(0));
    ///     let (c, n) = (cond.clone(), count.clone());
    ///     let bumper = ringloop::spawn(async move {
    ///         for _ in 0..3 {
    ///             let _guard = c.lock().await;
    ///             n.set(n.get() + 1);
    ///             c.notify_all().unwrap();
    ///         }
    ///     });
    ///     let guard = cond.lock().await;
    ///     let _guard = cond.wait_for(guard, || count.get() == 3).await;
    ///     bumper.await.unwrap();
    /// });
    /// ```
    pub fn wait_for<P>(&self, guard: LockGuard, mut predicate: P) -> impl Future<Output = LockGuard>
    where
        P: FnMut() -> bool,
    {
        let cond = self.clone();
        async move {
            let mut guard = guard;
            while !predicate() {
                guard = cond.wait(guard).await;
            }
            guard
        }
    }

    /// Wakes up to `n` of the waiting tasks, oldest first (asyncio's
    /// `notify(n)`); each returns from [`wait`](Condition::wait) once it has the
    /// lock again, so after the caller releases it.
    ///
    /// # Errors
    ///
    /// [`NotLockedError`] if the condition's lock is not held, as asyncio raises
    /// `RuntimeError`; nobody is notified then. Like asyncio, this checks that the
    /// lock is held, not who holds it.
    ///
    /// ```
    /// use ringloop::sync::{Condition, NotLockedError};
    /// let cond = Condition::new();
    /// assert_eq!(cond.notify(1), Err(NotLockedError));
    /// let _guard = cond.try_lock().unwrap();
    /// assert_eq!(cond.notify(1), Ok(()));
    /// ```
    pub fn notify(&self, n: usize) -> Result<(), NotLockedError> {
        if !self.locked() {
            return Err(NotLockedError);
        }
        self.inner.notify(n);
        Ok(())
    }

    /// Wakes every waiting task (asyncio's `notify_all()`).
    ///
    /// # Errors
    ///
    /// [`NotLockedError`] if the condition's lock is not held.
    ///
    /// ```
    /// let cond = ringloop::sync::Condition::new();
    /// let _guard = cond.try_lock().unwrap();
    /// assert_eq!(cond.notify_all(), Ok(()));
    /// ```
    pub fn notify_all(&self) -> Result<(), NotLockedError> {
        self.notify(usize::MAX)
    }
}

impl Inner {
    /// Notifies up to `n` waiters, waking them once the list is no longer borrowed.
    fn notify(&self, n: usize) {
        if n == 1 {
            let waker = self.waiters.borrow_mut().notify_one(()).ok().flatten();
            if let Some(waker) = waker {
                waker.wake();
            }
            return;
        }
        let mut wakers: Vec<Waker> = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            for _ in 0..n {
                match waiters.notify_one(()) {
                    Ok(waker) => wakers.extend(waker),
                    Err(()) => break,
                }
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Condition");
        s.field("lock", &self.inner.lock);
        if let Ok(waiters) = self.inner.waiters.try_borrow() {
            s.field("waiters", &waiters.len());
        }
        s.finish()
    }
}

enum WaitState {
    /// Not polled yet: still holds the caller's guard.
    Start(LockGuard),
    /// In the condition's list, the lock released.
    Waiting {
        key: WaiterKey,
        lock: Lock,
    },
    /// Notified; taking the lock again.
    Reacquiring(LockAcquire),
    Done,
}

/// The future of [`Condition::wait`]: resolves to the guard, the lock held again.
/// Dropping it releases the lock and passes on a notification it consumed (see
/// [`Condition::wait`]).
///
/// # Panics
///
/// If polled again after it completed, as an `async fn`'s future does.
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait {
    cond: Condition,
    state: WaitState,
}

impl Future for ConditionWait {
    type Output = LockGuard;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard> {
        let this = self.get_mut();
        loop {
            match mem::replace(&mut this.state, WaitState::Done) {
                WaitState::Start(guard) => {
                    // Listen first, then release: nothing can slip in between.
                    let key = this
                        .cond
                        .inner
                        .waiters
                        .borrow_mut()
                        .push_back(Some(cx.waker().clone()));
                    let lock = guard.lock().clone();
                    this.state = WaitState::Waiting { key, lock };
                    drop(guard);
                    return Poll::Pending;
                }
                WaitState::Waiting { key, lock } => {
                    let poll = this.cond.inner.waiters.borrow_mut().poll(key, cx);
                    if poll.is_pending() {
                        this.state = WaitState::Waiting { key, lock };
                        return Poll::Pending;
                    }
                    this.state = WaitState::Reacquiring(lock.lock());
                }
                WaitState::Reacquiring(mut acquire) => {
                    if let Poll::Ready(guard) = Pin::new(&mut acquire).poll(cx) {
                        return Poll::Ready(guard);
                    }
                    this.state = WaitState::Reacquiring(acquire);
                    return Poll::Pending;
                }
                WaitState::Done => panic!("ConditionWait polled after it completed"),
            }
        }
    }
}

impl Drop for ConditionWait {
    fn drop(&mut self) {
        let inner = &self.cond.inner;
        match mem::replace(&mut self.state, WaitState::Done) {
            WaitState::Waiting { key, .. } => {
                let notified = inner.waiters.borrow_mut().remove(key).is_some();
                if notified {
                    inner.notify(1);
                }
            }
            WaitState::Reacquiring(acquire) => {
                drop(acquire);
                inner.notify(1);
            }
            WaitState::Start(_) | WaitState::Done => {}
        }
    }
}

impl fmt::Debug for ConditionWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            WaitState::Start(_) => "start",
            WaitState::Waiting { .. } => "waiting",
            WaitState::Reacquiring(_) => "reacquiring",
            WaitState::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
