//! Wait until a descriptor is ready (`IORING_OP_POLL_ADD`, one-shot).

use std::io;
use std::os::fd::AsFd;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::fd::SharedFd;
use crate::driver::sys;
use crate::driver::Interest;

/// Resolves to the ready `poll(2)` events once `fd` is ready for reading or writing.
pub(crate) struct PollAdd {
    fd: SharedFd,
    interest: Interest,
    /// The caller retries its call and copes with `EAGAIN` (see [`PollAdd::retry`]).
    trust_event: bool,
}

impl PollAdd {
    /// Waits until `fd` is ready for `interest`; on epoll the readiness is checked
    /// with `poll(2)` when the op starts and again after an event woke it, so the
    /// result is always the descriptor's state.
    pub(crate) fn new(fd: SharedFd, interest: Interest) -> PollAdd {
        PollAdd {
            fd,
            interest,
            trust_event: false,
        }
    }

    /// As [`new`](Self::new), for a caller that makes its call again once the op
    /// resolves and waits again on `EAGAIN` (the compat layer): on epoll an event
    /// for `interest` resolves the op as it is, to the interest's `poll(2)` bit,
    /// without a `poll(2)` to confirm it (an edge-triggered event can be stale:
    /// the caller's retry finds out).
    #[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
    pub(crate) fn retry(fd: SharedFd, interest: Interest) -> PollAdd {
        PollAdd {
            fd,
            interest,
            trust_event: true,
        }
    }

    fn events(&self) -> i16 {
        match self.interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        }
    }
}

// SAFETY: a poll entry holds no pointers.
unsafe impl OpKind for PollAdd {
    type Output = io::Result<u32>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::PollAdd;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.raw()), self.events() as u32).build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.fd, self.interest)
    }

    fn perform(&mut self) -> io::Result<u32> {
        match sys::poll_now(self.fd.as_fd(), self.events())? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            revents => Ok(revents as u16 as u32),
        }
    }

    /// Dropped while armed, the poll is cancelled on its ring at once rather than
    /// at the ring's next submission: its entry holds a reference to the
    /// descriptor, and a stream dropped from another runtime of the thread, while
    /// the poll's own runtime idles, would otherwise stay open (the peer seeing no
    /// end of stream) until that runtime turns again.
    fn cancel_at_once(&self) -> bool {
        true
    }

    fn on_event(&self) -> Option<u32> {
        self.trust_event.then(|| self.events() as u16 as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<u32> {
        result
    }
}
