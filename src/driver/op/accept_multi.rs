//! Multishot accept (`IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT`, 5.19): one
//! entry for a listener accepts connection after connection, each with its own CQE.
//!
//! ```text
//!   accept() ──queue empty, not armed──▶ arm (one SQE) ──▶ wait
//!   CQE (F_MORE)    ──▶ connection queued on the listener, waiters woken
//!   CQE (no F_MORE) ──▶ ended (error such as EMFILE, or cancelled): the next
//!                       accept() re-arms
//!   queue ≥ MAX_QUEUED ──▶ cancelled (back-pressure), re-armed once drained
//!   listener dropped ──▶ cancelled; connections that still arrive are closed
//!   accept() on another runtime ──▶ cancelled in its idle ring at once (what it
//!                       accepted joins the queue), re-armed on the new runtime
//! ```
//!
//! The op belongs to the listener, not to an `accept()` future: a dropped future
//! loses nothing, the next one takes the next queued connection. The peer address
//! is not reported (the kernel has nowhere to write it); callers ask the socket.

use std::future::Future;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, types};

use super::accept::Accepted;
#[cfg(feature = "fault-injection")]
use crate::driver::fault::{self, Fault, Faults};
use crate::driver::fd::{SharedFd, WeakFd};
use crate::driver::stash::{Multishot, StashWait};
use crate::driver::sys;
use crate::driver::uring::Orphan;
use crate::driver::{Handle, IoDriver, WeakHandle};

/// Connections queued on a listener before its multishot accept is paused: the
/// kernel's backlog holds the rest, as it does for a server that stops accepting.
const MAX_QUEUED: usize = 64;

/// The future of one accept through the listener's multishot op.
pub(crate) struct AcceptMulti {
    fd: SharedFd,
    /// Its place among the listener's waiters, left when it is dropped.
    wait: StashWait,
}

impl AcceptMulti {
    pub(crate) fn new(fd: SharedFd) -> AcceptMulti {
        AcceptMulti {
            fd,
            wait: StashWait::default(),
        }
    }

    /// Queues the listener's multishot accept on the current driver's ring.
    fn arm(&self) -> io::Result<()> {
        let armed = Handle::with_current(|driver| {
            let mut io = driver.io();
            let IoDriver::Uring(uring) = &mut *io else {
                return Err(io::Error::other(
                    "multishot accept needs an io_uring runtime",
                ));
            };
            let sqe = opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
                .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
                .build();
            let sink = Box::new(AcceptSink {
                listener: self.fd.downgrade(),
                driver: driver.downgrade(),
                full: false,
                cancel_sent: false,
            });
            #[cfg(feature = "fault-injection")]
            let sink = {
                // The errors that end a multishot accept and reach the caller (it
                // never reports EINTR or EAGAIN: it waits; an ECANCELED end is
                // taken for ours, and the op is armed again).
                let faults = Faults::ENOMEM.with(Faults::ENOBUFS);
                if let Some(Fault::Error(errno)) = fault::decide(faults, true) {
                    let key = uring.submit_detached_fault(sink, errno)?;
                    return Ok(Multishot {
                        driver: driver.downgrade(),
                        key,
                    });
                }
                sink
            };
            // SAFETY: a multishot accept entry holds no pointers.
            let key = unsafe { uring.submit_detached(sqe, sink) }?;
            Ok(Multishot {
                driver: driver.downgrade(),
                key,
            })
        });
        match armed {
            Some(Ok(multishot)) => {
                self.fd.state().multishot = Some(multishot);
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(io::Error::other(
                "ringloop accept polled outside of a runtime",
            )),
        }
    }
}

impl Future for AcceptMulti {
    type Output = io::Result<Accepted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.fd.state();
        if let Some(accepted) = state.accepted.pop_front() {
            drop(state);
            this.wait.leave();
            return Poll::Ready(accepted);
        }
        let armed_here = state.multishot.as_ref().map(|m| m.driver.is_current());
        drop(state);
        if armed_here != Some(true) {
            if armed_here.is_some() {
                // Armed on another driver of this thread, idle now: one multishot
                // per listener, so that one is cancelled, and the connections it
                // had accepted meanwhile come first.
                take_back(&this.fd);
                if let Some(accepted) = this.fd.state().accepted.pop_front() {
                    this.wait.leave();
                    return Poll::Ready(accepted);
                }
            }
            if let Err(e) = this.arm() {
                this.wait.leave();
                return Poll::Ready(Err(e));
            }
        }
        this.wait.wait(&this.fd, cx);
        Poll::Pending
    }
}

/// Makes sure that no multishot accept of listener `fd` stays armed on a runtime
/// other than the current one (or any, outside a runtime): the kernel would hand
/// that idle ring the connections (it wakes one waiter of a listener per
/// connection), and keep the listener open in it after the listener is dropped.
/// The op is cancelled in that runtime's ring at once, and what it accepted until
/// then joins the listener's queue. In the unlikely case that this cannot be done
/// (that runtime's driver is busy), it is cancelled at that runtime's next turn,
/// once the listener has moved on ([`AcceptSink`] reports itself released).
pub(crate) fn take_back(fd: &SharedFd) {
    let Some(m) = fd
        .state()
        .multishot
        .clone()
        .filter(|m| !m.driver.is_current())
    else {
        return;
    };
    if crate::driver::cancel_elsewhere(&m) {
        let mut state = fd.state();
        if state.multishot.as_ref() == Some(&m) {
            // Its runtime is gone, and the op with it (its last CQE never
            // reaped: shutdown gave up on it).
            state.multishot = None;
        }
    } else {
        crate::driver::cancel_later(m);
    }
}

/// Receives the CQEs of a listener's multishot accept.
struct AcceptSink {
    /// Weak: the op must not keep the listener open after its owner drops it.
    listener: WeakFd,
    /// The driver whose ring holds this op.
    driver: WeakHandle,
    /// The listener's queue reached `MAX_QUEUED`.
    full: bool,
    cancel_sent: bool,
}

impl Orphan for AcceptSink {
    fn discard(&mut self, res: i32, flags: u32, woken: &mut Vec<Waker>) {
        let more = io_uring::cqueue::more(flags);
        let Some(listener) = self.listener.upgrade() else {
            // The listener is gone (its drop cancelled this op): nobody will accept.
            if res >= 0 {
                // SAFETY: a successful accept returns a new descriptor that
                // nothing else owns, and nobody will see this one: dropped, it
                // is closed.
                drop(unsafe { sys::owned(res) });
            }
            return;
        };
        let mut state = listener.state();
        if res >= 0 {
            // SAFETY: a successful accept returns a new descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            state.push_accepted(Ok((fd, None)), woken);
        } else if res != -libc::ECANCELED {
            // EMFILE, ENFILE, ENOBUFS...: the caller decides whether to back off.
            state.push_accepted(Err(io::Error::from_raw_os_error(-res)), woken);
        }
        if !more {
            // Unless the listener has moved on to a multishot op on another
            // runtime meanwhile (this one ending with its runtime's shutdown),
            // which must stay known so that dropping the listener cancels it.
            if state
                .multishot
                .as_ref()
                .is_some_and(|m| m.driver.same(&self.driver))
            {
                state.multishot = None;
            }
            state.wake_all(woken);
        } else if state.accepted.len() >= MAX_QUEUED {
            self.full = true;
        }
    }

    fn released(&self) -> bool {
        // The listener is gone, or has moved on to an op on another runtime.
        self.listener.upgrade().is_none_or(|listener| {
            listener.try_state().is_ok_and(|state| {
                state
                    .multishot
                    .as_ref()
                    .is_none_or(|m| !m.driver.same(&self.driver))
            })
        })
    }

    fn wants_cancel(&mut self) -> bool {
        if self.full && !self.cancel_sent {
            self.cancel_sent = true;
            return true;
        }
        false
    }
}
