//! `accept4` (`IORING_OP_ACCEPT`, 5.5): produces a descriptor.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::epoll::Interest;
use crate::driver::fd::SharedFd;
use crate::driver::sys;

/// Accepts one connection; the new socket is close-on-exec and non-blocking. If the
/// future is dropped and a connection is still accepted, it is closed when its CQE
/// arrives.
pub(crate) struct Accept {
    fd: SharedFd,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd) -> Accept {
        Accept { fd }
    }
}

// SAFETY: the entry's address pointers are null; it holds no other pointer.
unsafe impl OpKind for Accept {
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Accept::new(
            types::Fd(self.fd.raw()),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
        .build()
    }

    fn readiness(&self) -> Readiness {
        Readiness::Fd(self.fd.raw(), Interest::Read)
    }

    fn perform(&mut self) -> io::Result<u32> {
        sys::accept(self.fd.raw()).map(|fd| fd as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<OwnedFd> {
        // SAFETY: a successful accept returns a new descriptor that nothing else owns.
        result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn discard(&mut self, res: i32) {
        if res >= 0 {
            sys::close_raw(res);
        }
    }
}
