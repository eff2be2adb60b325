//! `preadv`/`pwritev` at an offset (`IORING_OP_READV`/`WRITEV`, 5.1): vectored file
//! I/O.

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::io;
use std::os::fd::AsFd;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::sys;

fn iov_len(iov: &[libc::iovec]) -> u32 {
    u32::try_from(iov.len()).unwrap_or(u32::MAX)
}

/// The iovecs a vectored read fills: each buffer's whole capacity, in order.
pub(super) fn read_iovecs<B: IoBufMut>(bufs: &mut [B]) -> Vec<libc::iovec> {
    bufs.iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.stable_mut_ptr().cast(),
            iov_len: b.bytes_total(),
        })
        .collect()
}

/// The iovecs a vectored write sends: each buffer's initialised bytes, in order.
pub(super) fn write_iovecs<B: IoBuf>(bufs: &[B]) -> Vec<libc::iovec> {
    bufs.iter()
        .map(|b| libc::iovec {
            iov_base: b.stable_ptr().cast_mut().cast(),
            iov_len: b.bytes_init(),
        })
        .collect()
}

/// Marks the first `n` bytes across `bufs` initialised, filling each buffer to its
/// capacity before the next, as a vectored read does.
///
/// # Safety
///
/// The first `n` bytes of the buffers, taken in order, must have been written.
pub(super) unsafe fn mark_filled<B: IoBufMut>(bufs: &mut [B], n: usize) {
    let mut left = n;
    for buf in bufs {
        let filled = left.min(buf.bytes_total());
        // SAFETY: these `filled` bytes are among the first `n`, written (the
        // caller's promise).
        unsafe { buf.set_init(filled) };
        left -= filled;
    }
}

/// Reads at `offset` into `bufs` in order, each to its full capacity, like
/// `preadv(2)`; the first `n` bytes read are marked initialised across the buffers.
pub(crate) struct ReadV<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    /// Points into the buffers; a heap block of its own, so it does not move.
    iov: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBufMut> ReadV<B> {
    pub(crate) fn new(fd: SharedFd, mut bufs: Vec<B>, offset: u64) -> ReadV<B> {
        let iov = read_iovecs(&mut bufs);
        ReadV {
            fd,
            bufs,
            iov,
            offset,
        }
    }
}

// SAFETY: the entry points at the iovec array (a `Vec`'s heap block, not moved while
// `self` lives, since it is never resized) whose entries point into the buffers'
// stable memory (`IoBufMut`).
unsafe impl<B: IoBufMut> OpKind for ReadV<B> {
    type Output = BufResult<usize, Vec<B>>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::ReadV;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Readv::new(
            types::Fd(self.fd.raw()),
            self.iov.as_ptr(),
            iov_len(&self.iov),
        )
        .offset(self.offset)
        .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Never
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::ANY
    }

    fn perform(&mut self) -> io::Result<u32> {
        // SAFETY: each iovec describes a buffer's `bytes_total()` writable bytes
        // (`IoBufMut`), owned by `self` for the duration of the call.
        let n = unsafe { sys::preadv_raw(self.fd.as_fd(), &self.iov, self.offset) }?;
        Ok(n as u32)
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel filled the buffers in order, `n` bytes in all.
            unsafe { mark_filled(&mut self.bufs, n as usize) };
            n as usize
        });
        (result, self.bufs)
    }
}

/// Writes the initialised bytes of `bufs` in order at `offset`, like `pwritev(2)`;
/// may write fewer bytes than all.
pub(crate) struct WriteV<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iov: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBuf> WriteV<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, offset: u64) -> WriteV<B> {
        let iov = write_iovecs(&bufs);
        WriteV {
            fd,
            bufs,
            iov,
            offset,
        }
    }
}

// SAFETY: as for `ReadV`; the kernel only reads through these pointers.
unsafe impl<B: IoBuf> OpKind for WriteV<B> {
    type Output = BufResult<usize, Vec<B>>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::WriteV;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Writev::new(
            types::Fd(self.fd.raw()),
            self.iov.as_ptr(),
            iov_len(&self.iov),
        )
        .offset(self.offset)
        .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Never
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::ANY
    }

    fn perform(&mut self) -> io::Result<u32> {
        // SAFETY: each iovec describes a buffer's `bytes_init()` readable bytes
        // (`IoBuf`), owned by `self` for the duration of the call.
        let n = unsafe { sys::pwritev_raw(self.fd.as_fd(), &self.iov, self.offset) }?;
        Ok(n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }
}
