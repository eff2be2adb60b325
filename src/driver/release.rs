//! Releasing a descriptor: closing it when its last [`SharedFd`](super::fd::SharedFd)
//! goes, and cancelling the multishot op armed on it.
//!
//! ```text
//!   last SharedFd dropped
//!     ├─ on its io_uring driver (current): cancel its multishot op; CLOSE through the ring
//!     │    (a listener: cancel now, with an immediate enter, then close(2), so
//!     │     that its address is free when the drop returns)
//!     ├─ on epoll: forget the registration, close(2)
//!     ├─ elsewhere (outside block_on, or in another runtime) with a multishot op
//!     │    armed on a live driver of this thread that is not running: cancel the
//!     │    op in that driver's ring now (`cancel_elsewhere`), then close as above
//!     └─ if that cannot be done (the op's driver busy): keep the descriptor open
//!        and queue both on the op's driver, which cancels the op and then
//!        closes the descriptor at its next turn (or its shutdown). Closing first
//!        would let the number be reused while an entry naming it may still be
//!        waiting in that ring.
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::task::Waker;

use super::stash::Multishot;
use super::{Handle, IoDriver};

/// A multishot op to cancel at its driver's next turn, and the descriptor to
/// close after it (none when the op itself holds the descriptor open). Until
/// cancelled, such an op keeps its socket open in the kernel (a listener's port
/// stays taken, its connections are accepted and closed).
pub(super) struct Released {
    key: usize,
    fd: Option<OwnedFd>,
}

/// Closes a descriptor whose last `SharedFd` went away, cancelling the multishot
/// op still armed on it (see the module docs).
pub(crate) fn release_fd(fd: OwnedFd, multishot: Option<Multishot>, listener: bool) {
    let mut multishot = multishot;
    let mut fd = Some(fd);
    Handle::with_current(|driver| {
        let Some(mut io) = driver.try_io() else {
            return;
        };
        match &mut *io {
            IoDriver::Uring(uring) => {
                if let Some(m) = multishot.take_if(|m| driver.is(&m.driver)) {
                    if listener {
                        uring.cancel_now(m.key);
                    } else {
                        uring.cancel(m.key);
                    }
                }
                if multishot.is_none() && !listener {
                    // After the cancellation: the kernel runs entries in order.
                    uring.submit_close(fd.take().expect("not closed yet"));
                }
            }
            IoDriver::Epoll(epoll) => {
                if let Some(fd) = &fd {
                    epoll.forget(fd.as_fd());
                }
            }
            IoDriver::Closed(_) => {}
        }
    });
    let Some(fd) = fd else {
        return; // closed through the ring
    };
    match multishot {
        Some(m) if !cancel_elsewhere(&m) => queue(m, Some(fd)),
        // Nothing refers to it any more (every op held a `SharedFd`): dropped, it
        // is closed.
        _ => drop(fd),
    }
}

/// Cancels multishot op `m` in its driver's ring now, from outside the runtime
/// running that driver (another runtime of this thread is running, or none is):
/// submits the cancellation and enters that ring, so that the op's last CQEs are
/// reaped (a multishot accept hands what it accepted meanwhile to its listener's
/// queue) and the kernel lets go of the descriptor; the wakers of what completed
/// are woken. Returns whether the op is gone: its driver is (its shutdown ended
/// every op), or its last CQE was reaped; `false` when its driver is busy (the
/// caller then falls back to [`cancel_later`]).
///
/// The op must still be armed under `m.key` (its descriptor's state names it), so
/// that the key is not another op's.
pub(crate) fn cancel_elsewhere(m: &Multishot) -> bool {
    let mut woken: Vec<Waker> = Vec::new();
    let gone = m.driver.upgrade().map(|driver| {
        let Some(mut io) = driver.try_io() else {
            return false;
        };
        match &mut *io {
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

/// Queues multishot op `m` for cancellation at its driver's next turn, for a
/// caller that cannot reach that driver now. The op must answer
/// [`Orphan::released`](super::uring::Orphan::released) with `true` by then.
pub(crate) fn cancel_later(m: Multishot) {
    queue(m, None);
}

fn queue(m: Multishot, fd: Option<OwnedFd>) {
    // A driver that is gone or shut down has ended all its ops: nothing to cancel,
    // and the descriptor (dropped here) is closed.
    let Some(driver) = m.driver.upgrade() else {
        return;
    };
    let closed = driver
        .try_io()
        .is_some_and(|io| matches!(*io, IoDriver::Closed(_)));
    if !closed {
        driver.released().push(Released { key: m.key, fd });
    }
}

/// Cancels the multishot ops queued on `driver` by [`release_fd`] and
/// [`cancel_later`], then closes their descriptors (queued after the
/// cancellations, through the ring). At its shutdown (`driver` closed), every op
/// has ended: the descriptors are just closed.
pub(super) fn cancel_released(driver: &Handle) {
    let released = {
        let mut released = driver.released();
        if released.is_empty() {
            return;
        }
        std::mem::take(&mut *released)
    };
    let mut io = driver.io();
    for Released { key, fd } in released {
        if let IoDriver::Uring(uring) = &mut *io {
            // The op may have ended by itself since, and its key gone to another
            // op: cancel only what is still that released op.
            if uring.table().is_released(key) {
                uring.cancel(key);
            }
            if let Some(fd) = fd {
                uring.submit_close(fd);
            }
        }
        // Otherwise the released descriptor, kept open for this close only, is
        // dropped here: closed.
    }
}
