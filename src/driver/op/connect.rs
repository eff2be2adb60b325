//! `connect` (`IORING_OP_CONNECT`, 5.5).

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::io;
use std::os::fd::AsFd;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::fd::SharedFd;
use crate::driver::sockaddr::SockAddr;
use crate::driver::sys;

/// Connects a socket to `addr`.
///
/// The result is the kernel's: `EINPROGRESS` or `EALREADY` (a non-blocking connect
/// still under way, which kernels before 6.2 may report through io_uring, and which
/// epoll always reports) mean "wait until the socket is writable, then read
/// `SO_ERROR`", which the socket layer does. `EAGAIN` (a Unix listener's full
/// backlog) is an error, not a reason to retry in a loop.
pub(crate) struct Connect {
    fd: SharedFd,
    /// Boxed: the entry points into it.
    addr: Box<SockAddr>,
}

impl Connect {
    pub(crate) fn new(fd: SharedFd, addr: SockAddr) -> Connect {
        Connect {
            fd,
            addr: Box::new(addr),
        }
    }
}

// SAFETY: the entry points at the boxed address, which stays in place while `self`
// lives, whatever moves `self`.
unsafe impl OpKind for Connect {
    type Output = io::Result<()>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Connect;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr(),
            self.addr.len(),
        )
        .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        // Never retried on EAGAIN (see above); the caller waits for writability.
        Readiness::Never
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::ANY
    }

    fn perform(&mut self) -> io::Result<u32> {
        sys::connect(self.fd.as_fd(), &self.addr).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
