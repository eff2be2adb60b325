//! `read`/`pread` into an owned buffer (`IORING_OP_READ`, 5.6).

use std::io;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::buf::{BufResult, IoBufMut};
use crate::driver::epoll::Interest;
use crate::driver::fd::SharedFd;
use crate::driver::sys;

/// Reads into `buf`'s full capacity, from its start; on success the first `n` bytes
/// are marked initialised. `offset: None` reads at the file position.
pub(crate) struct Read<B> {
    fd: SharedFd,
    buf: B,
    offset: Option<u64>,
}

impl<B: IoBufMut> Read<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: Option<u64>) -> Read<B> {
        Read { fd, buf, offset }
    }
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

// SAFETY: the entry points into the buffer, whose memory `IoBufMut` guarantees to be
// stable across moves of `self.buf` and valid while it lives.
unsafe impl<B: IoBufMut> OpKind for Read<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = len_u32(self.buf.bytes_total());
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset.unwrap_or(u64::MAX))
            .build()
    }

    fn readiness(&self) -> Readiness {
        Readiness::Fd(self.fd.raw(), Interest::Read)
    }

    fn perform(&mut self) -> io::Result<u32> {
        let len = len_u32(self.buf.bytes_total()) as usize;
        // SAFETY: `IoBufMut` guarantees `bytes_total()` writable bytes at the pointer.
        let n =
            unsafe { sys::read_raw(self.fd.raw(), self.buf.stable_mut_ptr(), len, self.offset) }?;
        Ok(n as u32)
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer, and
            // `n <= bytes_total()`.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (result, self.buf)
    }
}
