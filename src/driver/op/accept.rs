//! `accept4` (`IORING_OP_ACCEPT`, 5.5): produces a descriptor and the peer's address.
//!
//! [`accept`] picks the strategy: a listener's multishot accept (`accept_multi.rs`)
//! where the kernel has it (5.19), else one [`Accept`] op per connection (io_uring
//! 5.10, and epoll, where it is `accept4(2)` once the listener is readable).

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::io;
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd};
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types};

use super::{AcceptMulti, Op, OpKind, Readiness};
use crate::driver::fd::SharedFd;
use crate::driver::sockaddr::SockAddr;
use crate::driver::stash::{Due, StashWait};
use crate::driver::sys;
use crate::driver::Interest;
use crate::driver::{Handle, IoDriver};

/// A new connection (close-on-exec, non-blocking) and, when the strategy reports it,
/// the peer's address.
pub(crate) type Accepted = (OwnedFd, Option<SockAddr>);

/// Accepts one connection on the listening socket `fd`.
///
/// Cancel-safe: a connection accepted for a future that was dropped is queued on the
/// listener for the next call, never lost, and closed with the listener if nobody
/// takes it.
pub(crate) async fn accept(fd: &SharedFd) -> io::Result<Accepted> {
    let multishot = Handle::with_current(|driver| {
        driver.features().multishot_accept() && matches!(*driver.io(), IoDriver::Uring(_))
    });
    if multishot == Some(true) {
        AcceptMulti::new(fd.clone()).await
    } else {
        // A multishot accept armed by an io_uring runtime before would take the
        // connections this one waits for.
        super::accept_multi::take_back(fd);
        Op::new(Accept::new(fd.clone())).await
    }
}

/// Accepts one connection with a single-shot op. If the future is dropped and a
/// connection is still accepted, it goes to the listener's queue (`stash.rs`).
pub(crate) struct Accept {
    fd: SharedFd,
    /// Where the kernel writes the peer's address (boxed: the entry points into it).
    addr: Box<SockAddr>,
    /// The address of a connection taken from the listener's queue.
    from_queue: Option<Option<SockAddr>>,
    /// Counted among the descriptor's pending results (dropped in flight).
    due: Due,
    /// Its place among the listener's waiters, while a cancelled accept's result
    /// is due.
    wait: StashWait,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd) -> Accept {
        Accept {
            fd,
            addr: Box::new(SockAddr::empty()),
            from_queue: None,
            due: Due::default(),
            wait: StashWait::default(),
        }
    }
}

// SAFETY: the entry points at the boxed address and its length field, which stay in
// place while `self` lives, whatever moves `self`.
unsafe impl OpKind for Accept {
    type Output = io::Result<Accepted>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Accept;

    fn sqe(&mut self) -> squeue::Entry {
        *self.addr.len_mut() = SockAddr::capacity();
        let addr = self.addr.as_mut_ptr();
        let len: *mut libc::socklen_t = self.addr.len_mut();
        opcode::Accept::new(types::Fd(self.fd.raw()), addr, len)
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.fd, Interest::Read)
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::ANY.with(Faults::EAGAIN).with(Faults::ENOBUFS)
    }

    fn perform(&mut self) -> io::Result<u32> {
        sys::accept(self.fd.as_fd(), Some(&mut self.addr)).map(|fd| fd.into_raw_fd() as u32)
    }

    fn poll_stash(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<u32>>> {
        let polled = self.fd.state().poll_accepted();
        match polled {
            Poll::Ready(accepted) => {
                self.wait.leave();
                match accepted {
                    Some(Ok((fd, addr))) => {
                        self.from_queue = Some(addr);
                        Poll::Ready(Some(Ok(fd.into_raw_fd() as u32)))
                    }
                    Some(Err(e)) => Poll::Ready(Some(Err(e))),
                    None => Poll::Ready(None),
                }
            }
            Poll::Pending => {
                self.wait.wait(&self.fd, cx);
                Poll::Pending
            }
        }
    }

    fn cancel_at_once(&self) -> bool {
        self.fd.state().listener
    }

    fn orphaned(&mut self) {
        self.due.orphan(&self.fd);
    }

    fn discard(&mut self, res: i32, _flags: u32, woken: &mut Vec<Waker>) {
        let mut state = self.fd.state();
        if res >= 0 {
            // SAFETY: a successful accept returns a new descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            state.push_accepted(Ok((fd, Some(*self.addr))), woken);
        }
        if self.due.is_due() {
            state.remove_pending(woken);
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<Accepted> {
        let fd = result?;
        // SAFETY: a successful accept (or the listener's queue, which owned it until
        // `poll_stash` released it) gives a descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let addr = self.from_queue.unwrap_or(Some(*self.addr));
        Ok((fd, addr))
    }
}
