//! `read`/`pread` into an owned buffer (`IORING_OP_READ`, 5.6).

use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::buf::{BufResult, IoBufMut};
#[cfg(feature = "fault-injection")]
use crate::driver::fault::{self, Faults};
use crate::driver::fd::SharedFd;
use crate::driver::nowait;
use crate::driver::stash::{received_bytes, Due, StashWait};
use crate::driver::stash::{stash_stream_result, take_stashed};
use crate::driver::sys;
use crate::driver::Interest;

/// Reads into `buf`'s full capacity, from its start; on success the first `n` bytes
/// are marked initialised. `offset: None` reads at the file position: then the
/// descriptor is a stream (a pipe, a terminal, or a file read in order), and bytes a
/// cancelled read received go to the next read (`stash.rs`).
pub(crate) struct Read<B> {
    fd: SharedFd,
    buf: B,
    offset: Option<u64>,
    /// Counted among the descriptor's pending results (dropped in flight).
    due: Due,
    /// Its place among the descriptor's waiters, while a cancelled read's result
    /// is due.
    wait: StashWait,
    /// Bytes read before the op went to the ring (`try_now` found only the
    /// start of the range in the page cache): the ring reads the rest after them.
    pre: u32,
    /// A cap on the length, from the fault injector (a short count).
    #[cfg(feature = "fault-injection")]
    cap: Option<u32>,
}

impl<B: IoBufMut> Read<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: Option<u64>) -> Read<B> {
        Read {
            fd,
            buf,
            offset,
            due: Due::default(),
            wait: StashWait::default(),
            pre: 0,
            #[cfg(feature = "fault-injection")]
            cap: None,
        }
    }
}

impl<B: IoBufMut> Read<B> {
    /// Where the ring reads: the pointer, length and offset of the entry, after
    /// what `try_now` read (nothing, but for a positional read the cache had
    /// only the start of).
    fn target(&mut self) -> (*mut u8, u32, u64) {
        let pre = self.pre;
        let len = self.len().saturating_sub(pre);
        // SAFETY: `pre <= len()`, which is at most `bytes_total()`: the pointer
        // stays inside the buffer (or just at its end, for an empty one).
        let ptr = unsafe { self.buf.stable_mut_ptr().add(pre as usize) };
        let offset = self.offset.map_or(u64::MAX, |o| o + u64::from(pre));
        (ptr, len, offset)
    }

    /// The bytes asked for: the buffer's capacity (capped by the fault injector).
    fn len(&self) -> u32 {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        #[cfg(feature = "fault-injection")]
        let len = self.cap.map_or(len, |cap| cap.min(len));
        len
    }
}

// SAFETY: the entry points into the buffer, whose memory `IoBufMut` guarantees to be
// stable across moves of `self.buf` and valid while it lives.
unsafe impl<B: IoBufMut> OpKind for Read<B> {
    type Output = BufResult<usize, B>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Read;

    fn sqe(&mut self) -> squeue::Entry {
        let (ptr, len, offset) = self.target();
        opcode::Read::new(types::Fd(self.fd.raw()), ptr, len)
            .offset(offset)
            .build()
    }

    const FIXED_FILE: bool = true;

    fn sqe_fixed(&mut self, slot: u32) -> squeue::Entry {
        let (ptr, len, offset) = self.target();
        opcode::Read::new(types::Fixed(slot), ptr, len)
            .offset(offset)
            .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.fd, Interest::Read)
    }

    const TRY_NOW: bool = true;

    fn try_now(&mut self) -> Option<u32> {
        // Only at an offset: a read at the file position may be a pipe's or a
        // terminal's, and moves the position.
        let offset = self.offset?;
        let len = self.len() as usize;
        // SAFETY: `IoBufMut` guarantees `bytes_total()` (at least `len`) writable
        // bytes at the pointer; the descriptor is open while `self.fd` lives.
        let tried = unsafe {
            nowait::try_pread(
                self.fd.nowait(),
                self.fd.raw(),
                self.buf.stable_mut_ptr(),
                len,
                offset,
            )
        };
        match tried {
            nowait::Tried::Done(n) => Some(n),
            // `0 < n < len`: the ring reads the rest (`sqe`), `complete` adds them.
            nowait::Tried::Part(n) => {
                self.pre = n;
                None
            }
            nowait::Tried::Ring => None,
        }
    }

    fn drained(&self, n: u32) -> bool {
        n > 0 && n < self.len()
    }

    fn perform(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        // SAFETY: `IoBufMut` guarantees `bytes_total()` writable bytes at the pointer.
        let n =
            unsafe { sys::read_raw(self.fd.as_fd(), self.buf.stable_mut_ptr(), len, self.offset) }?;
        Ok(n as u32)
    }

    fn poll_stash(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<u32>>> {
        if self.offset.is_some() {
            return Poll::Ready(None);
        }
        take_stashed(
            &self.fd,
            std::slice::from_mut(&mut self.buf),
            &mut self.wait,
            cx,
        )
    }

    fn orphaned(&mut self) {
        if self.offset.is_none() {
            self.due.orphan(&self.fd);
        }
    }

    fn discard(&mut self, res: i32, _flags: u32, woken: &mut Vec<Waker>) {
        if self.due.is_due() {
            // SAFETY: a read's CQE result `res`, when positive, is the number of
            // bytes the kernel wrote at the start of this buffer.
            stash_stream_result(
                &self.fd,
                res,
                |n| unsafe { received_bytes(&self.buf, n) },
                woken,
            );
        }
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = match result {
            Ok(n) => Ok(self.pre + n),
            // The first bytes were read: a short read, as `pread(2)` gives when it
            // fails part way; the error comes again at the next read there.
            Err(_) if self.pre > 0 => Ok(self.pre),
            Err(e) => Err(e),
        };
        let result = result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer (the
            // first `pre` of them in `try_now`, the rest from the ring just after
            // them), and `n <= bytes_total()`.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (result, self.buf)
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::ANY.with(Faults::EAGAIN).with(Faults::SHORT)
    }

    #[cfg(feature = "fault-injection")]
    fn shorten(&mut self, r: u32) {
        self.cap = Some(fault::short_len(self.len(), r));
    }
}
