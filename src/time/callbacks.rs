//! `call_soon`, `call_later`, `call_at`: plain callbacks on the loop, as in asyncio.
//!
//! A callback runs on the loop's thread between task steps. A panic in a callback is
//! reported on stderr ("Exception in callback") and the loop goes on.

use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::heap::TimerKey;
use super::{TimerAction, Timers};

/// A `call_soon` callback waiting in the loop's queue.
pub(crate) struct Callback {
    pub(crate) f: Box<dyn FnOnce()>,
    pub(crate) cancelled: Rc<Cell<bool>>,
}

enum Kind {
    Soon,
    Timer {
        timers: Weak<Timers>,
        key: TimerKey,
        /// `None`: a delay past the end of `Instant`; it never fires.
        when: Option<Instant>,
    },
}

/// Cancels a callback scheduled with [`call_soon`], [`call_later`] or [`call_at`]
/// (asyncio's `Handle`/`TimerHandle`). Dropping the handle does not cancel.
pub struct CallbackHandle {
    kind: Kind,
    cancelled: Rc<Cell<bool>>,
}

impl CallbackHandle {
    /// Cancels the callback if it has not run yet; a timer's callback is dropped at
    /// once. Cancelling twice, or after it ran, does nothing more.
    pub fn cancel(&self) {
        if self.cancelled.replace(true) {
            return;
        }
        if let Kind::Timer { timers, key, .. } = &self.kind {
            if let Some(timers) = timers.upgrade() {
                let callback = timers.heap().cancel(*key);
                drop(callback);
            }
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// When a timer callback is due (asyncio's `TimerHandle.when()`); `None` for
    /// `call_soon`, and for a `call_later` delay too long to represent.
    pub fn when(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Soon => None,
            Kind::Timer { when, .. } => *when,
        }
    }
}

impl fmt::Debug for CallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHandle")
            .field("when", &self.when())
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

#[track_caller]
fn timers() -> Rc<Timers> {
    match Timers::current() {
        Some(timers) => timers,
        None => panic!("ringloop callbacks can only be scheduled inside a ringloop runtime"),
    }
}

/// Runs `f` at the loop's next turn, after the callbacks already queued, like
/// `loop.call_soon(f)`.
///
/// # Panics
///
/// Outside a ringloop runtime.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// ringloop::run(async {
///     let hits = Rc::new(Cell::new(0));
///     let h = hits.clone();
///     ringloop::call_soon(move || h.set(h.get() + 1));
///     ringloop::call_soon(|| unreachable!()).cancel();
///     ringloop::yield_now().await;
///     ringloop::yield_now().await;
///     assert_eq!(hits.get(), 1);
/// });
/// ```
#[track_caller]
pub fn call_soon(f: impl FnOnce() + 'static) -> CallbackHandle {
    let timers = timers();
    let cancelled = Rc::new(Cell::new(false));
    timers.soon().push_back(Callback {
        f: Box::new(f),
        cancelled: cancelled.clone(),
    });
    CallbackHandle {
        kind: Kind::Soon,
        cancelled,
    }
}

/// Runs `f` once `delay` has passed, like `loop.call_later(delay, f)`.
///
/// # Panics
///
/// Outside a ringloop runtime.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// ringloop::run(async {
///     let fired = Rc::new(Cell::new(false));
///     let f = fired.clone();
///     ringloop::call_later(Duration::from_millis(5), move || f.set(true));
///     ringloop::sleep(Duration::from_millis(20)).await;
///     assert!(fired.get());
/// });
/// ```
#[track_caller]
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> CallbackHandle {
    schedule(Instant::now().checked_add(delay), Box::new(f))
}

/// Runs `f` at `when` (or at the next turn if `when` has passed), like
/// `loop.call_at(when, f)`. Callbacks due at the same instant run in the order they
/// were scheduled.
///
/// # Panics
///
/// Outside a ringloop runtime.
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::{Duration, Instant}};
/// ringloop::run(async {
///     let order = Rc::new(RefCell::new(Vec::new()));
///     let at = Instant::now() + Duration::from_millis(5);
///     for i in 0..3 {
///         let order = order.clone();
///         ringloop::call_at(at, move || order.borrow_mut().push(i));
///     }
///     ringloop::time::sleep_until(at + Duration::from_millis(5)).await;
///     assert_eq!(*order.borrow(), [0, 1, 2]);
/// });
/// ```
#[track_caller]
pub fn call_at(when: Instant, f: impl FnOnce() + 'static) -> CallbackHandle {
    schedule(Some(when), Box::new(f))
}

#[track_caller]
fn schedule(when: Option<Instant>, f: Box<dyn FnOnce()>) -> CallbackHandle {
    let timers = timers();
    let ticks = when.map_or(u64::MAX, |when| timers.ticks(when));
    let key = timers.heap().insert(ticks, TimerAction::Call(f));
    CallbackHandle {
        kind: Kind::Timer {
            timers: Rc::downgrade(&timers),
            key,
            when,
        },
        cancelled: Rc::new(Cell::new(false)),
    }
}
