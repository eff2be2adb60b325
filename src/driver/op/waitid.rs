//! Waiting for a child process to exit, through its pidfd: `IORING_OP_WAITID`
//! (6.7) where the probe has it, else a `POLL_ADD` on the pidfd (readable once the
//! child has exited) followed by `waitid(P_PIDFD, WNOHANG)`; on epoll, the pidfd's
//! readiness and the same `waitid`.

use std::cell::Cell;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::rc::Rc;
use std::task::Waker;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::fd::SharedFd;
use crate::driver::sys::{self, WaitTarget};
use crate::driver::Interest;

/// How the op waits on io_uring.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum WaitVia {
    /// `IORING_OP_WAITID`: the kernel reaps the child and fills in `info`.
    WaitId,
    /// `POLL_ADD` on the pidfd, then `waitid(WNOHANG)` here.
    Poll,
}

/// Waits for the child that `pidfd` refers to and reaps it.
///
/// The output is `Ok(None)` when the op ended without reaping (a readiness poll
/// that woke early): the caller waits again.
pub(crate) struct WaitChild {
    pidfd: SharedFd,
    via: WaitVia,
    /// Filled in by the kernel (`WaitId`) or by `perform` (epoll); boxed so that
    /// its address stays put while the kernel may write to it.
    info: Box<libc::siginfo_t>,
    /// The wait status that `perform` (epoll) reaped.
    reaped: Option<i32>,
    /// Where a `WAITID` whose future was dropped puts the status, if it reaped
    /// the child before its cancellation arrived (shared with the `Child`).
    sink: Rc<Cell<Option<i32>>>,
}

impl WaitChild {
    pub(crate) fn new(pidfd: SharedFd, via: WaitVia, sink: Rc<Cell<Option<i32>>>) -> WaitChild {
        WaitChild {
            pidfd,
            via,
            info: Box::new(sys::siginfo_zeroed()),
            reaped: None,
            sink,
        }
    }
}

fn exit_status(raw: i32) -> ExitStatus {
    ExitStatus::from_raw(raw)
}

// SAFETY: the only pointer in an entry is `info`'s, a heap block owned by `self`
// that does not move when `self` does and lives as long as `self`; the kernel
// writes the child's `siginfo_t` through it, so it is taken from a unique (`&mut`)
// borrow, and `self` reads `info` only after the completion.
unsafe impl OpKind for WaitChild {
    type Output = io::Result<Option<ExitStatus>>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::WaitId;

    fn sqe(&mut self) -> squeue::Entry {
        match self.via {
            WaitVia::WaitId => {
                opcode::WaitId::new(libc::P_PIDFD, self.pidfd.raw() as libc::id_t, libc::WEXITED)
                    .infop(std::ptr::addr_of_mut!(*self.info).cast_const())
                    .build()
            }
            WaitVia::Poll => {
                opcode::PollAdd::new(types::Fd(self.pidfd.raw()), libc::POLLIN as u32).build()
            }
        }
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.pidfd, Interest::Read)
    }

    fn perform(&mut self) -> io::Result<u32> {
        // epoll: reap if it exited, else wait for the pidfd to be readable.
        match sys::waitid_now(WaitTarget::Pidfd(self.pidfd.as_fd()))? {
            Some(raw) => {
                self.reaped = Some(raw);
                Ok(0)
            }
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn discard(&mut self, res: i32, _flags: u32, _woken: &mut Vec<Waker>) {
        if self.via == WaitVia::WaitId && res == 0 {
            // Reaped by the kernel for nobody: keep the status for the `Child`.
            if let Some(raw) = sys::wait_status(&self.info) {
                self.sink.set(Some(raw));
            }
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        result?;
        if let Some(raw) = self.reaped {
            return Ok(Some(exit_status(raw)));
        }
        match self.via {
            WaitVia::WaitId => Ok(sys::wait_status(&self.info).map(exit_status)),
            // The pidfd is readable: the child has exited (or was reaped by
            // someone else, which `waitid` reports as ECHILD).
            WaitVia::Poll => {
                Ok(sys::waitid_now(WaitTarget::Pidfd(self.pidfd.as_fd()))?.map(exit_status))
            }
        }
    }
}
