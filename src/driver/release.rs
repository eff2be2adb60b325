//! Releasing a descriptor: closing it when its last [`SharedFd`](super::fd::SharedFd)
//! goes, and cancelling the multishot op armed on it.
//!
//! ```text
//!   last SharedFd dropped
//!     ├─ on its io_uring runtime: cancel its multishot op; CLOSE through the ring
//!     │    (a listener: cancel now, with an immediate enter, then close(2), so
//!     │     that its address is free when the drop returns)
//!     ├─ on epoll: forget the registration, close(2)
//!     ├─ elsewhere (outside block_on, or in another runtime) with a multishot op
//!     │    armed on a live runtime of this thread that is not running: cancel the
//!     │    op in that runtime's ring now (`cancel_elsewhere`), then close as above
//!     └─ if that cannot be done (the op's driver busy): keep the descriptor open
//!        and queue both for the op's runtime, which cancels the op and then
//!        closes the descriptor at its next turn (or its shutdown). Closing first
//!        would let the number be reused while an entry naming it may still be
//!        waiting in that ring.
//! ```

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::task::Waker;

use super::stash::Multishot;
use super::IoDriver;

/// A multishot op to cancel at its runtime's next turn, and the descriptor to
/// close after it (none when the op itself holds the descriptor open).
struct Released {
    multishot: Multishot,
    fd: Option<OwnedFd>,
}

thread_local! {
    /// Multishot ops released where their runtime could not cancel them at once.
    /// Until cancelled, such an op keeps its socket open in the kernel (a
    /// listener's port stays taken, its connections are accepted and closed).
    static RELEASED: RefCell<Vec<Released>> = const { RefCell::new(Vec::new()) };
}

/// Closes a descriptor whose last `SharedFd` went away, cancelling the multishot
/// op still armed on it (see the module docs).
pub(crate) fn release_fd(fd: OwnedFd, multishot: Option<Multishot>, listener: bool) {
    let mut multishot = multishot;
    let closed = crate::runtime::context::with_core(|core| {
        let Ok(mut driver) = core.driver.try_borrow_mut() else {
            return false;
        };
        match &mut *driver {
            IoDriver::Uring(uring) => {
                if let Some(m) = multishot.filter(|m| m.runtime == core.id()) {
                    if listener {
                        uring.cancel_now(m.key);
                    } else {
                        uring.cancel(m.key);
                    }
                    multishot = None;
                }
                multishot.is_none() && !listener
            }
            IoDriver::Epoll(epoll) => {
                epoll.forget(fd.as_fd());
                false
            }
            IoDriver::Closed(_) => false,
        }
    });
    if let Some(m) = multishot {
        if cancel_elsewhere(m) {
            multishot = None;
        }
    }
    match multishot {
        Some(m) => queue(m, Some(fd)),
        None if closed == Some(true) => close_through_ring(fd),
        // Nothing refers to it any more (every op held a `SharedFd`).
        None => drop(fd),
    }
}

/// Cancels multishot op `m` in its runtime's ring now, from outside that runtime
/// (another runtime of this thread is running, or none is): submits the
/// cancellation and enters that ring, so that the op's last CQEs are reaped (a
/// multishot accept hands what it accepted meanwhile to its listener's queue) and
/// the kernel lets go of the descriptor; the wakers of what completed are woken.
/// Returns whether the op is gone: its runtime is (its shutdown ended every op),
/// or its last CQE was reaped; `false` when its driver is busy (the caller then
/// falls back to [`cancel_later`]).
///
/// The op must still be armed under `m.key` (its descriptor's state names it), so
/// that the key is not another op's.
pub(crate) fn cancel_elsewhere(m: Multishot) -> bool {
    let mut woken: Vec<Waker> = Vec::new();
    let gone = crate::runtime::context::with_live_core(m.runtime, |core| {
        let Ok(mut driver) = core.driver.try_borrow_mut() else {
            return false;
        };
        match &mut *driver {
            IoDriver::Uring(uring) => {
                if uring.table().is_orphan(m.key) {
                    uring.cancel_now(m.key);
                    uring.take_woken(&mut woken);
                }
                !uring.table().is_orphan(m.key)
            }
            // Shut down: every op of the ring has ended.
            IoDriver::Closed(_) | IoDriver::Epoll(_) => true,
        }
    });
    // Outside the driver's borrow: a woken task of the running runtime is
    // scheduled there, one of `m`'s runtime goes through its remote queue.
    woken.into_iter().for_each(Waker::wake);
    gone.unwrap_or(true)
}

/// Queues multishot op `m` for cancellation at its runtime's next turn, for a
/// caller that cannot reach that runtime's driver now. The op must answer
/// [`Orphan::released`](super::uring::Orphan::released) with `true` by then.
pub(crate) fn cancel_later(m: Multishot) {
    queue(m, None);
}

fn queue(multishot: Multishot, fd: Option<OwnedFd>) {
    // Fails only while the thread is exiting, when its runtimes are gone (and the
    // descriptor, dropped with the entry, is closed).
    let _ = RELEASED.try_with(|r| r.borrow_mut().push(Released { multishot, fd }));
}

/// Closes `fd` through the current runtime's ring, which the caller found running
/// io_uring; with `close(2)` if that fails.
fn close_through_ring(fd: OwnedFd) {
    crate::runtime::context::with_core(|core| {
        if let Ok(mut driver) = core.driver.try_borrow_mut() {
            if let IoDriver::Uring(uring) = &mut *driver {
                uring.submit_close(fd);
            }
        }
    });
}

/// Cancels the multishot ops of runtime `runtime` queued by [`release_fd`] and
/// [`cancel_later`], then closes their descriptors (queued after the
/// cancellations, through the ring). At its shutdown (`driver` closed), every op
/// has ended: the descriptors are just closed.
pub(crate) fn cancel_released(runtime: u64, driver: &mut IoDriver) {
    let _ = RELEASED.try_with(|released| {
        let mut released = released.borrow_mut();
        if released.is_empty() {
            return;
        }
        released.retain_mut(|r| {
            if r.multishot.runtime != runtime {
                return true;
            }
            if let IoDriver::Uring(uring) = driver {
                // The op may have ended by itself since, and its key gone to
                // another op: cancel only what is still that released op.
                if uring.table().is_released(r.multishot.key) {
                    uring.cancel(r.multishot.key);
                }
                if let Some(fd) = r.fd.take() {
                    uring.submit_close(fd);
                }
            }
            // The released descriptor was kept open for this close only; nothing
            // else refers to it (dropped, it is closed).
            drop(r.fd.take());
            false
        });
    });
}
