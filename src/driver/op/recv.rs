//! `recv` into an owned buffer (`IORING_OP_RECV`, 5.6), for sockets.

use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::buf::{BufResult, IoBufMut};
#[cfg(feature = "fault-injection")]
use crate::driver::fault::{self, Faults};
use crate::driver::fd::SharedFd;
use crate::driver::stash::{received_bytes, Due, Received, StashWait};
use crate::driver::stash::{stash_result, stash_step, take_stashed};
use crate::driver::sys;
use crate::driver::Interest;

/// Receives into `buf`'s full capacity, from its start; on success the first `n`
/// bytes are marked initialised. `datagram` says how a cancelled receive's data is
/// handed to the next one: as one datagram, or as bytes of a stream.
pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
    datagram: bool,
    /// Counted among the descriptor's pending results (dropped in flight).
    due: Due,
    /// Its place among the descriptor's waiters, while a cancelled read's result
    /// is due.
    wait: StashWait,
    /// A cap on the length, from the fault injector (a short count).
    #[cfg(feature = "fault-injection")]
    cap: Option<u32>,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, datagram: bool) -> Recv<B> {
        Recv {
            fd,
            buf,
            datagram,
            due: Due::default(),
            wait: StashWait::default(),
            #[cfg(feature = "fault-injection")]
            cap: None,
        }
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
unsafe impl<B: IoBufMut> OpKind for Recv<B> {
    type Output = BufResult<usize, B>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Recv;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Recv::new(
            types::Fd(self.fd.raw()),
            self.buf.stable_mut_ptr(),
            self.len(),
        )
        .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.fd, Interest::Read)
    }

    fn drained(&self, n: u32) -> bool {
        // A datagram says nothing about the ones after it.
        !self.datagram && n > 0 && n < self.len()
    }

    fn perform(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        // SAFETY: `IoBufMut` guarantees `bytes_total()` writable bytes at the pointer.
        let n = unsafe { sys::recv_raw(self.fd.as_fd(), self.buf.stable_mut_ptr(), len) }?;
        Ok(n as u32)
    }

    fn poll_stash(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<u32>>> {
        if !self.datagram {
            return take_stashed(
                &self.fd,
                std::slice::from_mut(&mut self.buf),
                &mut self.wait,
                cx,
            );
        }
        let take = self.fd.state().take_datagram(&mut self.buf, &mut None);
        stash_step(take, &self.fd, &mut self.wait, cx)
    }

    fn orphaned(&mut self) {
        self.due.orphan(&self.fd);
    }

    fn discard(&mut self, res: i32, _flags: u32, woken: &mut Vec<Waker>) {
        if !self.due.is_due() {
            return;
        }
        let (buf, datagram) = (&self.buf, self.datagram);
        let received = |n| {
            // SAFETY: a positive receive result is the number of bytes the kernel
            // wrote at the start of this buffer.
            let data = unsafe { received_bytes(buf, n) };
            if datagram {
                Received::Datagram { data, from: None }
            } else {
                Received::Bytes { data, taken: 0 }
            }
        };
        stash_result(&self.fd, res, datagram, received, woken);
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel (or the stash) wrote `n` bytes at the start of the
            // buffer, and `n <= bytes_total()`.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (result, self.buf)
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        // A short count only on a stream: a shorter datagram receive truncates.
        if self.datagram {
            Faults::SOCKET
        } else {
            Faults::SOCKET.with(Faults::SHORT)
        }
    }

    #[cfg(feature = "fault-injection")]
    fn shorten(&mut self, r: u32) {
        self.cap = Some(fault::short_len(self.len(), r));
    }
}
