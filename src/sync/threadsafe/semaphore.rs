//! [`Semaphore`]: a counter of permits shared by tasks of any runtime and plain
//! threads, fair by FIFO hand-off; the thread-safe
//! [`sync::Semaphore`](crate::sync::Semaphore), and its [`Permit`].
//!
//! The same protocol as the local semaphore, under one `Mutex`:
//!
//! ```text
//!   acquire():  nobody in line and permits > 0  →  permits -= 1, ready at once
//!               otherwise                       →  join the line
//!   release():  a waiter in line  →  the oldest is handed the permit (notified)
//!               nobody in line    →  permits += 1
//!   a waiter leaves the line (takes its permit, or is dropped):
//!               while permits > 0 and a waiter is in line: hand it a permit
//! ```
//!
//! *In line* includes waiters handed a permit that have not taken it yet, so a
//! newcomer cannot take a permit ahead of them. A waiter dropped after it was handed
//! a permit gives it back through [`Waiters::remove`], and the permit goes to the
//! next waiter or to the count: a cancelled acquire never leaks a permit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::waiters::{wake_all, WaiterKey, Waiters};
use super::{block_on, lock};

struct State {
    permits: usize,
    /// Waiters, and waiters handed a permit that have not taken it.
    waiters: Waiters<()>,
}

impl State {
    /// Gives one permit back: to the oldest waiter (its waker into `wakers`), or to
    /// the count (which stays at `usize::MAX` once there).
    fn release(&mut self, wakers: &mut Vec<Waker>) {
        match self.waiters.notify_one(()) {
            Ok(waker) => wakers.push(waker),
            Err(()) => self.permits = self.permits.saturating_add(1),
        }
    }

    /// Whether an acquire would wait: no permit, or waiters in line.
    fn locked(&self) -> bool {
        self.permits == 0 || self.waiters.registered() > 0
    }

    /// After a waiter left the line: hands the count's permits to the waiters still
    /// in line (they queued while a handed permit was not yet taken).
    fn hand_on_surplus(&mut self, wakers: &mut Vec<Waker>) {
        while self.permits > 0 {
            match self.waiters.notify_one(()) {
                Ok(waker) => {
                    self.permits -= 1;
                    wakers.push(waker);
                }
                Err(()) => break,
            }
        }
    }
}

/// A counter of permits shared across threads and runtimes: the thread-safe
/// [`sync::Semaphore`](crate::sync::Semaphore) (asyncio's `asyncio.Semaphore`,
/// `threading.Semaphore` for the blocking calls). At most `n` holders at a time have
/// a [`Permit`]; the others wait and are served in the order they asked (a released
/// permit goes straight to the oldest waiter, so newcomers cannot barge in).
///
/// A [`Permit`] is released when dropped, and is `Send`: it may be acquired on one
/// thread and dropped on another. [`release`](Semaphore::release) adds a permit, and
/// may raise the count above its initial value, as in asyncio.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use std::sync::Arc;
/// use ringloop::sync::threadsafe::Semaphore;
///
/// let sem = Semaphore::new(2);
/// let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let (sem, running, most) = (sem.clone(), running.clone(), most.clone());
///         std::thread::spawn(move || ringloop::run(async move {
///             for _ in 0..10 {
///                 let _permit = sem.acquire().await;
///                 most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
///                 ringloop::yield_now().await;
///                 running.fetch_sub(1, SeqCst);
///             }
///         }))
///     })
///     .collect();
/// threads.into_iter().for_each(|t| t.join().unwrap());
/// assert!(most.load(SeqCst) <= 2);
/// assert_eq!(sem.available_permits(), 2);
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Arc<Mutex<State>>,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            inner: Arc::new(Mutex::new(State {
                permits,
                waiters: Waiters::new(),
            })),
        }
    }

    /// Waits for a permit and takes it (asyncio's `await sem.acquire()`). Waiters
    /// are served in arrival order, whatever thread or runtime they wait on.
    ///
    /// Cancel-safe: dropping the future before it completes takes no permit. If a
    /// permit had already been handed to it, the permit passes on to the next
    /// waiter, or back to the count.
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(1);
    /// ringloop::run(async {
    ///     let permit = sem.acquire().await;
    ///     assert!(sem.try_acquire().is_none());
    ///     drop(permit);
    /// });
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire {
        SemaphoreAcquire {
            sem: Some(self.clone()),
            waiter: None,
        }
    }

    /// Blocks the calling thread until it gets a permit (`threading.Semaphore`'s
    /// `acquire()`). For plain threads: called from a task, it blocks the task's
    /// whole runtime.
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(1);
    /// let permit = sem.acquire_blocking();
    /// std::thread::spawn(move || drop(permit)); // released on another thread
    /// let _again = sem.acquire_blocking();
    /// ```
    pub fn acquire_blocking(&self) -> Permit {
        block_on(&mut self.acquire(), None).expect("no deadline")
    }

    /// Blocks the calling thread until it gets a permit or `timeout` passed
    /// (`None`; the wait leaves the line). For plain threads.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(0);
    /// assert!(sem.acquire_blocking_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn acquire_blocking_timeout(&self, timeout: Duration) -> Option<Permit> {
        block_on(&mut self.acquire(), Some(Instant::now() + timeout))
    }

    /// Takes a permit if [`acquire`](Semaphore::acquire) would not wait: `None` when
    /// no permit is in the count or waiters are in line.
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(permit);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut s = lock(&self.inner);
        if s.locked() {
            return None;
        }
        s.permits -= 1;
        Some(Permit {
            sem: Some(self.clone()),
        })
    }

    /// Adds a permit (asyncio's `release()`): it goes to the oldest waiter, if any.
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        self.add_permits(1);
    }

    /// Adds `n` permits, as `n` calls of [`release`](Semaphore::release) would.
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(0);
    /// sem.add_permits(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut wakers = Vec::new();
        {
            let mut s = lock(&self.inner);
            let mut left = n;
            while left > 0 {
                match s.waiters.notify_one(()) {
                    Ok(waker) => wakers.push(waker),
                    Err(()) => {
                        s.permits = s.permits.saturating_add(left);
                        break;
                    }
                }
                left -= 1;
            }
        }
        wake_all(wakers);
    }

    /// Whether [`acquire`](Semaphore::acquire) would wait: no permit in the count,
    /// or waiters in line (asyncio 3.13's `locked()`).
    ///
    /// ```
    /// assert!(ringloop::sync::threadsafe::Semaphore::new(0).locked());
    /// ```
    pub fn locked(&self) -> bool {
        lock(&self.inner).locked()
    }

    /// The count of permits held by nobody. It may be above zero while waiters are
    /// in line, for as long as one handed a permit has not taken it.
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(2);
    /// let _permit = sem.try_acquire();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        lock(&self.inner).permits
    }

    /// How many acquires hold a place in the line (waiting, or handed a permit and
    /// not yet polled). For tests: zero once every acquire was dropped or completed.
    #[doc(hidden)]
    pub fn waiter_count(&self) -> usize {
        lock(&self.inner).waiters.registered()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.inner);
        f.debug_struct("Semaphore")
            .field("permits", &s.permits)
            .field("waiters", &s.waiters.waiting())
            .finish()
    }
}

/// A permit of a threadsafe [`Semaphore`], given back when dropped (on any thread).
#[must_use = "the permit is released as soon as it is dropped"]
pub struct Permit {
    /// `None` once forgotten.
    sem: Option<Semaphore>,
}

impl Permit {
    /// Keeps the permit taken: it is not given back on drop, and the semaphore has
    /// one permit fewer until someone calls [`release`](Semaphore::release).
    ///
    /// ```
    /// let sem = ringloop::sync::threadsafe::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
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

/// The future of [`Semaphore::acquire`]: resolves to a [`Permit`]. Cancel-safe;
/// `Send`.
///
/// # Panics
///
/// If polled again after it completed.
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire {
    /// `None` once the permit was returned.
    sem: Option<Semaphore>,
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
        let mut wakers = Vec::new();
        {
            let mut s = lock(&sem.inner);
            match this.waiter {
                None if s.locked() => {
                    this.waiter = Some(s.waiters.push_back(cx.waker().clone()));
                    return Poll::Pending;
                }
                None => s.permits -= 1,
                Some(key) => {
                    // Ready: a release handed its permit over (the count never saw it).
                    if s.waiters.poll(key, cx.waker()).is_none() {
                        return Poll::Pending;
                    }
                    this.waiter = None;
                    s.hand_on_surplus(&mut wakers);
                }
            }
        }
        wake_all(wakers);
        Poll::Ready(Permit {
            sem: this.sem.take(),
        })
    }
}

impl Drop for SemaphoreAcquire {
    fn drop(&mut self) {
        let (Some(sem), Some(key)) = (&self.sem, self.waiter.take()) else {
            return;
        };
        let mut wakers = Vec::new();
        {
            let mut s = lock(&sem.inner);
            if s.waiters.remove(key).is_some() {
                // Handed a permit but never took it: pass it on.
                s.release(&mut wakers);
            }
            // Out of line: the waiters behind it may take the count's permits.
            s.hand_on_surplus(&mut wakers);
        }
        wake_all(wakers);
    }
}

impl fmt::Debug for SemaphoreAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
