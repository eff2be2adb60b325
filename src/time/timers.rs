//! [`Timers`]: one runtime's timer heap, its cached clock and its `call_soon`
//! queue, and the thread's current one.
//!
//! A runtime creates its `Timers` and makes them current while it runs (see
//! `runtime/context.rs`); a [`Sleep`](super::Sleep) or a timer callback captures
//! the `Timers` it registered on. The time layer imports nothing from the runtime,
//! which fires the timers and runs the callbacks at each turn of its loop.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use super::heap::TimerHeap;
use super::{Callback, TimerAction};

/// One runtime's timers (shared through an `Rc`; not `Send`).
pub(crate) struct Timers {
    heap: RefCell<TimerHeap<TimerAction>>,
    /// Callbacks for the loop's next turn (`call_soon`), oldest first.
    soon: RefCell<VecDeque<Callback>>,
    /// Time zero of the timer ticks.
    origin: Instant,
    /// The loop's cached clock (`time::now()`); `None` once a turn has passed, until
    /// something reads it (a busy loop with no timers never reads the clock).
    now: Cell<Option<Instant>>,
}

thread_local! {
    /// The timers of the runtime this thread is running, if any.
    static CURRENT: RefCell<Option<Rc<Timers>>> = const { RefCell::new(None) };
}

impl Timers {
    pub(crate) fn new() -> Rc<Timers> {
        let now = Instant::now();
        Rc::new(Timers {
            heap: RefCell::new(TimerHeap::default()),
            soon: RefCell::new(VecDeque::new()),
            origin: now,
            now: Cell::new(Some(now)),
        })
    }

    /// The thread's current timers (the running runtime's), if any.
    pub(crate) fn current() -> Option<Rc<Timers>> {
        Timers::with_current(Rc::clone)
    }

    /// Runs `f` with the thread's current timers; `None` when there are none (also
    /// while the thread's locals are being destroyed).
    pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Timers>) -> R) -> Option<R> {
        CURRENT
            .try_with(|current| current.borrow().as_ref().map(f))
            .ok()
            .flatten()
    }

    /// Makes `timers` the thread's current ones and returns those it replaces (the
    /// runtime calls this when it enters and leaves `block_on`).
    pub(crate) fn set_current(timers: Option<Rc<Timers>>) -> Option<Rc<Timers>> {
        CURRENT
            .try_with(|current| current.replace(timers))
            .ok()
            .flatten()
    }

    /// Whether these are the thread's current timers.
    pub(crate) fn is_current(self: &Rc<Self>) -> bool {
        Timers::with_current(|current| Rc::ptr_eq(current, self)).unwrap_or(false)
    }

    /// The timer heap. Never held across a call into user code.
    pub(crate) fn heap(&self) -> RefMut<'_, TimerHeap<TimerAction>> {
        self.heap.borrow_mut()
    }

    /// The `call_soon` queue. Never held across a call into user code.
    pub(crate) fn soon(&self) -> RefMut<'_, VecDeque<Callback>> {
        self.soon.borrow_mut()
    }

    /// The cached loop clock.
    pub(crate) fn now(&self) -> Instant {
        match self.now.get() {
            Some(now) => now,
            None => self.update_now(),
        }
    }

    /// Marks the cached clock stale: the next [`now`](Self::now) reads the clock.
    pub(crate) fn invalidate_now(&self) {
        self.now.set(None);
    }

    /// Refreshes the cached clock and returns it.
    pub(crate) fn update_now(&self) -> Instant {
        let now = Instant::now();
        self.now.set(Some(now));
        now
    }

    /// An instant as timer ticks (nanoseconds since the origin, saturating).
    pub(crate) fn ticks(&self, instant: Instant) -> u64 {
        let nanos = instant.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }
}
