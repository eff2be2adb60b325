//! [`Event`]: a flag tasks can wait for, asyncio's `asyncio.Event`.
//!
//! ```text
//!              set(): every current waiter is notified
//!   Clear ─────────────────────────────────────────────▶ Set
//!     ▲                                                   │
//!     └──────────────────────── clear() ──────────────────┘
//!   wait() while Clear: joins the list     wait() while Set: ready at once
//! ```
//!
//! A flag and a [`WaitList`]. `set` marks every listed waiter notified in one sweep
//! (each is O(1)) and only then wakes them, after the list's borrow is released; a
//! notified waiter completes on its next poll whatever the flag says by then, so a
//! `clear()` right after `set()` does not strand anyone: asyncio's semantics, where
//! `set` resolves the waiters' futures. Waiting on a set event and setting an event
//! nobody waits for touch only the flag: no allocation, no wake.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{WaitList, WaiterKey};

/// A flag that tasks wait for, asyncio's `asyncio.Event`: [`wait`](Event::wait)
/// returns once the flag is set; [`set`](Event::set) releases every waiting task;
/// [`clear`](Event::clear) lowers the flag again.
///
/// A cheap cloneable handle (an `Rc`) to one event, like every primitive in
/// [`sync`](crate::sync): clone it into the tasks that share it.
///
/// ```
/// use ringloop::sync::Event;
/// ringloop::run(async {
///     let ready = Event::new();
///     let waiters: Vec<_> = (0..3)
///         .map(|i| {
///             let ready = ready.clone();
///             ringloop::spawn(async move {
///                 ready.wait().await;
///                 i
///             })
///         })
///         .collect();
///     ringloop::yield_now().await;
///     ready.set();
///     let done: Vec<_> = ringloop::gather_all(waiters).await;
///     assert_eq!(done, [Ok(0), Ok(1), Ok(2)]);
/// });
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    set: Cell<bool>,
    waiters: RefCell<WaitList<()>>,
}

impl Event {
    /// A new event, not set.
    ///
    /// ```
    /// assert!(!ringloop::sync::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every task waiting for it. Setting a set event does
    /// nothing.
    ///
    /// Every task waiting when `set` is called returns from [`wait`](Event::wait),
    /// even if the event is cleared again before it runs (as in asyncio).
    ///
    /// ```
    /// let event = ringloop::sync::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        if self.inner.set.replace(true) {
            return;
        }
        let mut waiters = self.inner.waiters.borrow_mut();
        match waiters.len() {
            0 => {}
            // The common case, without collecting the wakers in a vector.
            1 => {
                let waker = waiters.notify_one(()).ok().flatten();
                drop(waiters);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            n => {
                let mut wakers = Vec::with_capacity(n);
                waiters.notify_all((), &mut wakers);
                drop(waiters);
                for waker in wakers {
                    waker.wake();
                }
            }
        }
    }

    /// Lowers the flag: later [`wait`](Event::wait)s wait for the next
    /// [`set`](Event::set). Tasks already released by a `set` are not affected.
    ///
    /// ```
    /// let event = ringloop::sync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        self.inner.set.set(false);
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// let event = ringloop::sync::Event::new();
    /// assert!(!event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.set.get()
    }

    /// Waits until the flag is set; at once if it is set now. asyncio's `wait()`
    /// returns `True`; this returns `()`.
    ///
    /// Cancel-safe: dropping the future just leaves the list of waiters (and a `set`
    /// it missed is not lost for anyone else: `set` releases every waiter).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringloop::sync::Event;
    /// ringloop::run(async {
    ///     let event = Event::new();
    ///     let setter = event.clone();
    ///     ringloop::call_later(Duration::from_millis(5), move || setter.set());
    ///     event.wait().await;
    ///     assert!(event.is_set());
    /// });
    /// ```
    pub fn wait(&self) -> EventWait {
        EventWait {
            event: self.clone(),
            waiter: None,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Event");
        s.field("set", &self.is_set());
        if let Ok(waiters) = self.inner.waiters.try_borrow() {
            s.field("waiters", &waiters.len());
        }
        s.finish()
    }
}

/// The future of [`Event::wait`]. Cancel-safe.
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait {
    event: Event,
    waiter: Option<WaiterKey>,
}

impl Future for EventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let inner = &this.event.inner;
        match this.waiter {
            None if inner.set.get() => Poll::Ready(()),
            None => {
                let key = inner
                    .waiters
                    .borrow_mut()
                    .push_back(Some(cx.waker().clone()));
                this.waiter = Some(key);
                Poll::Pending
            }
            Some(key) => {
                let poll = inner.waiters.borrow_mut().poll(key, cx);
                if poll.is_ready() {
                    this.waiter = None;
                }
                poll
            }
        }
    }
}

impl Drop for EventWait {
    fn drop(&mut self) {
        if let Some(key) = self.waiter {
            // A notification left behind needs no passing on: `set` released everyone.
            let _ = self.event.inner.waiters.borrow_mut().remove(key);
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
