//! `write`/`pwrite` from an owned buffer (`IORING_OP_WRITE`, 5.6).

use std::io;
use std::os::fd::AsFd;
use std::task::Waker;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::buf::{BufResult, IoBuf};
#[cfg(feature = "fault-injection")]
use crate::driver::fault::{self, Faults};
use crate::driver::fd::SharedFd;
use crate::driver::sigpipe::SigpipeGuard;
use crate::driver::sys;
use crate::driver::Interest;

/// Writes `buf`'s initialised bytes; `offset: None` writes at the file position.
/// Like `write(2)`, it may write fewer bytes than given.
pub(crate) struct Write<B> {
    fd: SharedFd,
    buf: B,
    offset: Option<u64>,
    /// A pipe: `SIGPIPE` is kept from killing the process (`sigpipe.rs`).
    pipe: bool,
    /// Held from submission until the op is dropped (after its completion).
    guard: Option<SigpipeGuard>,
    /// A cap on the length, from the fault injector (a short count).
    #[cfg(feature = "fault-injection")]
    cap: Option<u32>,
}

impl<B: IoBuf> Write<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: Option<u64>) -> Write<B> {
        Write {
            fd,
            buf,
            offset,
            pipe: false,
            guard: None,
            #[cfg(feature = "fault-injection")]
            cap: None,
        }
    }

    /// A write to a pipe: a reader that is gone gives `EPIPE`, never `SIGPIPE`.
    pub(crate) fn pipe(fd: SharedFd, buf: B) -> Write<B> {
        Write {
            pipe: true,
            ..Write::new(fd, buf, None)
        }
    }

    fn guard_sigpipe(&mut self) {
        if self.pipe && self.guard.is_none() {
            self.guard = Some(SigpipeGuard::new());
        }
    }

    /// The bytes to write: the buffer's (capped by the fault injector).
    fn len(&self) -> u32 {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        #[cfg(feature = "fault-injection")]
        let len = self.cap.map_or(len, |cap| cap.min(len));
        len
    }
}

// SAFETY: the entry points into the buffer, whose memory `IoBuf` guarantees to be
// stable across moves of `self.buf` and valid while it lives.
unsafe impl<B: IoBuf> OpKind for Write<B> {
    type Output = BufResult<usize, B>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Write;

    fn sqe(&mut self) -> squeue::Entry {
        // Submitted now: the write may run at any later point on this thread.
        self.guard_sigpipe();
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), self.len())
            .offset(self.offset.unwrap_or(u64::MAX))
            .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        if self.pipe && self.len() == 0 {
            // A pipe write of nothing returns 0 at once, never EAGAIN.
            return Readiness::Never;
        }
        Readiness::Fd(&self.fd, Interest::Write)
    }

    fn drained(&self, n: u32) -> bool {
        n < self.len()
    }

    fn perform(&mut self) -> io::Result<u32> {
        self.guard_sigpipe();
        let len = self.len() as usize;
        // SAFETY: `IoBuf` guarantees `bytes_init()` readable bytes at the pointer.
        let n =
            unsafe { sys::write_raw(self.fd.as_fd(), self.buf.stable_ptr(), len, self.offset) }?;
        Ok(n as u32)
    }

    fn discard(&mut self, res: i32, _flags: u32, _woken: &mut Vec<Waker>) {
        if let Some(guard) = &self.guard {
            guard.check(res);
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        if let (Some(guard), Err(e)) = (&self.guard, &result) {
            if e.raw_os_error() == Some(libc::EPIPE) {
                guard.epipe();
            }
        }
        // The guard goes with `self`, after the result was looked at.
        (result.map(|n| n as usize), self.buf)
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
