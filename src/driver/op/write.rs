//! `write`/`pwrite` from an owned buffer (`IORING_OP_WRITE`, 5.6).

use std::io;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::buf::{BufResult, IoBuf};
use crate::driver::epoll::Interest;
use crate::driver::fd::SharedFd;
use crate::driver::sys;

/// Writes `buf`'s initialised bytes; `offset: None` writes at the file position.
/// Like `write(2)`, it may write fewer bytes than given.
pub(crate) struct Write<B> {
    fd: SharedFd,
    buf: B,
    offset: Option<u64>,
}

impl<B: IoBuf> Write<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: Option<u64>) -> Write<B> {
        Write { fd, buf, offset }
    }

    fn len(&self) -> u32 {
        u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX)
    }
}

// SAFETY: the entry points into the buffer, whose memory `IoBuf` guarantees to be
// stable across moves of `self.buf` and valid while it lives.
unsafe impl<B: IoBuf> OpKind for Write<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), self.len())
            .offset(self.offset.unwrap_or(u64::MAX))
            .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.fd, Interest::Write)
    }

    fn drained(&self, n: u32) -> bool {
        n < self.len()
    }

    fn perform(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        // SAFETY: `IoBuf` guarantees `bytes_init()` readable bytes at the pointer.
        let n = unsafe { sys::write_raw(self.fd.raw(), self.buf.stable_ptr(), len, self.offset) }?;
        Ok(n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
