//! [`Event`]: a flag that tasks of any runtime and plain threads wait for, the
//! thread-safe [`sync::Event`](crate::sync::Event).
//!
//! A flag and a [`Waiters`] list under one `Mutex`. `set` notifies every waiter in
//! line in one sweep under the lock and wakes them after releasing it; a notified
//! waiter completes on its next poll whatever the flag says by then, so a `clear()`
//! right after `set()` strands nobody (asyncio's semantics). Checking the flag and
//! joining the line happen under the same lock as `set`, so no `set` is missed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::waiters::{wake_all, WaiterKey, Waiters};
use super::{block_on, lock};

/// A flag that tasks of any runtime, and plain threads, wait for: the thread-safe
/// [`sync::Event`](crate::sync::Event) (asyncio's `asyncio.Event`, or
/// `threading.Event` for the blocking calls). [`wait`](Event::wait) returns once
/// the flag is set; [`set`](Event::set) releases every waiter; [`clear`](Event::clear)
/// lowers the flag again.
///
/// A cheap cloneable handle (an `Arc`): clone it into each task and thread.
///
/// ```
/// use ringloop::sync::threadsafe::Event;
///
/// let ready = Event::new();
/// let waiter = std::thread::spawn({
///     let ready = ready.clone();
///     move || ringloop::run(async move { ready.wait().await })
/// });
/// ready.set(); // from a thread with no runtime
/// waiter.join().unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    set: bool,
    waiters: Waiters<()>,
}

impl Event {
    /// A new event, not set.
    ///
    /// ```
    /// assert!(!ringloop::sync::threadsafe::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every task and thread waiting for it, on whatever
    /// runtime or thread. Setting a set event does nothing.
    ///
    /// Every waiter waiting when `set` is called returns from its wait, even if the
    /// event is cleared again before it runs (as in asyncio).
    ///
    /// ```
    /// let event = ringloop::sync::threadsafe::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        let mut wakers = Vec::new();
        {
            let mut s = lock(&self.inner);
            if s.set {
                return;
            }
            s.set = true;
            s.waiters.notify_all((), &mut wakers);
        }
        wake_all(wakers);
    }

    /// Lowers the flag: later waits wait for the next [`set`](Event::set). Waiters
    /// already released by a `set` are not affected.
    ///
    /// ```
    /// let event = ringloop::sync::threadsafe::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        lock(&self.inner).set = false;
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// assert!(!ringloop::sync::threadsafe::Event::new().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        lock(&self.inner).set
    }

    /// Waits until the flag is set; at once if it is set now.
    ///
    /// Cancel-safe: dropping the future just takes it out of the list of waiters (a
    /// `set` it missed is not lost for anyone else: `set` releases every waiter).
    ///
    /// ```
    /// use ringloop::sync::threadsafe::Event;
    ///
    /// let event = Event::new();
    /// let setter = std::thread::spawn({
    ///     let event = event.clone();
    ///     move || event.set()
    /// });
    /// ringloop::run(async { event.wait().await });
    /// assert!(event.is_set());
    /// setter.join().unwrap();
    /// ```
    pub fn wait(&self) -> EventWait {
        EventWait {
            event: self.clone(),
            waiter: None,
        }
    }

    /// Blocks the calling thread until the flag is set (`threading.Event.wait()`).
    /// For plain threads: called from a task, it blocks the task's whole runtime.
    ///
    /// ```
    /// use ringloop::sync::threadsafe::Event;
    ///
    /// let event = Event::new();
    /// let setter = event.clone();
    /// std::thread::spawn(move || ringloop::run(async move { setter.set() }));
    /// event.wait_blocking();
    /// ```
    pub fn wait_blocking(&self) {
        block_on(&mut self.wait(), None);
    }

    /// Blocks the calling thread until the flag is set or `timeout` passed; returns
    /// whether it was set (`threading.Event.wait(timeout)`). A wait that times out
    /// leaves the list of waiters. For plain threads, as
    /// [`wait_blocking`](Event::wait_blocking).
    ///
    /// ```
    /// use std::time::Duration;
    /// let event = ringloop::sync::threadsafe::Event::new();
    /// assert!(!event.wait_blocking_timeout(Duration::from_millis(1)));
    /// event.set();
    /// assert!(event.wait_blocking_timeout(Duration::from_millis(1)));
    /// ```
    pub fn wait_blocking_timeout(&self, timeout: Duration) -> bool {
        block_on(&mut self.wait(), Some(Instant::now() + timeout)).is_some()
    }

    /// How many waits hold a place in the event's list (waiting, or released and
    /// not yet polled). For tests: zero once every wait was dropped or completed.
    #[doc(hidden)]
    pub fn waiter_count(&self) -> usize {
        lock(&self.inner).waiters.registered()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.inner);
        f.debug_struct("Event")
            .field("set", &s.set)
            .field("waiters", &s.waiters.waiting())
            .finish()
    }
}

/// The future of [`Event::wait`]. Cancel-safe; `Send`, so it may run in a task of
/// any runtime.
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait {
    event: Event,
    waiter: Option<WaiterKey>,
}

impl Future for EventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut s = lock(&this.event.inner);
        match this.waiter {
            None if s.set => Poll::Ready(()),
            None => {
                this.waiter = Some(s.waiters.push_back(cx.waker().clone()));
                Poll::Pending
            }
            Some(key) => match s.waiters.poll(key, cx.waker()) {
                Some(()) => {
                    this.waiter = None;
                    Poll::Ready(())
                }
                None => Poll::Pending,
            },
        }
    }
}

impl Drop for EventWait {
    fn drop(&mut self) {
        if let Some(key) = self.waiter.take() {
            // A notification left behind needs no passing on: `set` released everyone.
            let _ = lock(&self.event.inner).waiters.remove(key);
        }
    }
}

impl fmt::Debug for EventWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
