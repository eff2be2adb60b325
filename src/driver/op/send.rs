//! `send` from an owned buffer (`IORING_OP_SEND`, 5.6), for sockets.

use std::io;
use std::os::fd::AsFd;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::buf::{BufResult, IoBuf};
#[cfg(feature = "fault-injection")]
use crate::driver::fault::{self, Fault, Faults};
use crate::driver::fd::SharedFd;
use crate::driver::sys;
use crate::driver::Interest;

/// Sends `buf`'s initialised bytes; like `send(2)`, it may send fewer. Always with
/// `MSG_NOSIGNAL`: a peer that went away is an `EPIPE` error, never a `SIGPIPE`.
/// On a stream socket, nothing to send returns at once (0, or the socket's
/// error), as `send(2)` does, without waiting for room; on a datagram socket it
/// is an empty datagram, which waits for room like any other.
///
/// Not cancel-safe in the sense of "all or nothing": a send dropped in flight may
/// have sent some bytes already.
pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
    datagram: bool,
    /// On io_uring, try `send(2)` first on a quiet loop (see [`Send::at_once`]).
    at_once: bool,
    /// A cap on the length, from the fault injector (a short count).
    #[cfg(feature = "fault-injection")]
    cap: Option<u32>,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, datagram: bool) -> Send<B> {
        Send {
            fd,
            buf,
            datagram,
            at_once: false,
            #[cfg(feature = "fault-injection")]
            cap: None,
        }
    }

    /// On io_uring, makes the send a plain `send(2)` at its first poll when the
    /// loop is quiet, and an entry only if that would block (`OpKind::try_at_once`):
    /// for a sender that knows none of its sends is in flight on the socket (a
    /// send made at once overtaking one in the ring would reorder the bytes) and
    /// that its last send was not short (the socket is likely writable).
    pub(crate) fn at_once(mut self, at_once: bool) -> Send<B> {
        self.at_once = at_once;
        self
    }

    /// The bytes to send: the buffer's (capped by the fault injector).
    fn len(&self) -> u32 {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        #[cfg(feature = "fault-injection")]
        let len = self.cap.map_or(len, |cap| cap.min(len));
        len
    }
}

// SAFETY: the entry points into the buffer, whose memory `IoBuf` guarantees to be
// stable across moves of `self.buf` and valid while it lives.
unsafe impl<B: IoBuf> OpKind for Send<B> {
    type Output = BufResult<usize, B>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Send;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), self.len())
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        if self.len() == 0 && !self.datagram {
            // `send(2)` of nothing on a stream never reports EAGAIN: waiting for
            // room first would wait for the peer to read.
            return Readiness::Never;
        }
        Readiness::Fd(&self.fd, Interest::Write)
    }

    fn try_at_once(&self) -> bool {
        self.at_once && self.len() > 0
    }

    fn drained(&self, n: u32) -> bool {
        n < self.len()
    }

    fn perform(&mut self) -> io::Result<u32> {
        let len = self.len() as usize;
        // SAFETY: `IoBuf` guarantees `bytes_init()` readable bytes at the pointer.
        let n = unsafe { sys::send_raw(self.fd.as_fd(), self.buf.stable_ptr(), len) }?;
        Ok(n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        // A short count only on a stream: a datagram goes whole or not at all.
        let stream = sys::getsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_TYPE);
        if stream.is_ok_and(|t| t == libc::SOCK_STREAM) {
            Faults::SOCKET.with(Faults::SHORT)
        } else {
            Faults::SOCKET
        }
    }

    #[cfg(feature = "fault-injection")]
    fn forced_fault(&self) -> Option<Fault> {
        if self.datagram {
            return None;
        }
        fault::forced_send()
    }

    #[cfg(feature = "fault-injection")]
    fn shorten(&mut self, r: u32) {
        self.cap = Some(fault::short_len(self.len(), r));
    }
}
