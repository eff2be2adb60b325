//! [`LoopTimer`]: hyper's timer on the loop's own timer heap, and its
//! [`LoopSleep`], a `Send + Sync` handle on a loop-local registration.
//!
//! hyper wants its sleeps `Send + Sync`; ringloop's timers are per loop and not
//! `Send` (a registration holds an `Rc` of the loop's heap). Rather than a second
//! timer system, a [`LoopSleep`] registers lazily, at its first poll, on the loop
//! polling it, and remembers that thread:
//!
//! - polled on any other thread afterwards, it panics with a message that says so
//!   (hyper polls a connection's timers from the task driving the connection, so
//!   this happens only when a connection is moved to another thread, which a
//!   ringloop stream cannot be: it is not `Send`);
//! - dropped on the owning thread, it cancels its timer as a [`crate::time::Sleep`]
//!   does; dropped on another thread, it leaks its registration (an `Rc` of the
//!   heap and one heap entry, which fires later and wakes nobody useful) rather
//!   than touch the loop's state from the wrong thread;
//! - before its first poll it holds only a deadline, and may go anywhere.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::time::Sleep;

/// A `hyper::rt::Timer` on the current loop's timer heap (the one
/// [`ringloop::sleep`](crate::sleep) uses): give it to hyper's builders with
/// `.timer(LoopTimer)` for `header_read_timeout`, keep-alive and the client's
/// pool timers.
///
/// ```
/// use std::time::{Duration, Instant};
/// use hyper::rt::Timer;
/// use ringloop::compat::hyper::LoopTimer;
/// ringloop::run(async {
///     let start = Instant::now();
///     LoopTimer.sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopTimer;

impl hyper::rt::Timer for LoopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(LoopSleep::new(Instant::now().checked_add(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(LoopSleep::new(Some(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<LoopSleep>() {
            Some(mine) => mine.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep of [`LoopTimer`]: `Send + Sync` as hyper requires, registered on the
/// loop that first polls it and usable only there (see the module docs).
pub struct LoopSleep {
    /// `None`: never (a duration too long for `Instant`).
    deadline: Option<Instant>,
    /// The thread of the first poll, and the registration made there.
    registered: Option<(ThreadId, ManuallyDrop<Sleep>)>,
}

// SAFETY: the only part of a `LoopSleep` that is not `Send` is the `Sleep` in
// `registered` (it holds an `Rc` of its loop's timers). It is created on the thread
// recorded beside it, and polled, reset or dropped only after checking that the
// current thread is that one (thread ids are never reused); elsewhere it is never
// touched (polling panics first, dropping leaks it). Moving a `LoopSleep` between
// threads moves its bytes, not the `Rc`'s count or the heap's entry.
unsafe impl Send for LoopSleep {}

// SAFETY: no `&self` method reads `registered` (`Debug` prints the deadline only),
// so sharing a `&LoopSleep` between threads shares nothing that is not `Sync`.
unsafe impl Sync for LoopSleep {}

impl LoopSleep {
    fn new(deadline: Option<Instant>) -> LoopSleep {
        LoopSleep {
            deadline,
            registered: None,
        }
    }

    /// When the sleep ends (`None` if it never does).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The registration, if it was made on this thread; panics if it was made on
    /// another.
    fn owned(&mut self) -> Option<&mut Sleep> {
        let (owner, sleep) = self.registered.as_mut()?;
        if *owner != thread::current().id() {
            panic!(
                "ringloop::compat::hyper::LoopSleep used on a thread other than the \
                 ringloop loop it was first polled on: hyper timers from LoopTimer must \
                 stay on their loop's thread"
            );
        }
        Some(sleep)
    }

    fn reset(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
        if let Some(sleep) = self.owned() {
            sleep.reset(deadline);
        }
    }
}

impl Future for LoopSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.registered.is_none() {
            let sleep = match this.deadline {
                Some(deadline) => crate::time::sleep_until(deadline),
                None => crate::sleep(Duration::MAX),
            };
            this.registered = Some((thread::current().id(), ManuallyDrop::new(sleep)));
        }
        let sleep = this.owned().expect("registered just above");
        Pin::new(sleep).poll(cx)
    }
}

impl hyper::rt::Sleep for LoopSleep {}

impl Drop for LoopSleep {
    fn drop(&mut self) {
        if let Some((owner, sleep)) = self.registered.as_mut() {
            if *owner == thread::current().id() {
                // SAFETY: dropped once, here, on the thread that made it; the field
                // is not used again.
                unsafe { ManuallyDrop::drop(sleep) };
            }
            // Elsewhere: leaked (see the module docs).
        }
    }
}

impl fmt::Debug for LoopSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopSleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
