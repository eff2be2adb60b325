//! `recvmsg`/`sendmsg` (`IORING_OP_RECVMSG`/`SENDMSG`, 5.3): vectored socket I/O,
//! and datagrams with their address (`recv_from`, `send_to`).

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types};

use super::vectored::{mark_filled, read_iovecs, write_iovecs};
use super::{OpKind, Readiness};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::sockaddr::SockAddr;
use crate::driver::stash::{received_bytes, Due, Received, StashWait, Take};
use crate::driver::stash::{stash_result, stash_step, take_stashed};
use crate::driver::sys;
use crate::driver::Interest;

/// A `msghdr` with the iovecs and the address it points to. Boxed by its op, so
/// that the kernel's pointers into it stay valid while the op lives.
struct MsgHdr {
    msg: libc::msghdr,
    iov: Vec<libc::iovec>,
    addr: SockAddr,
}

impl MsgHdr {
    fn new(iov: Vec<libc::iovec>, addr: Option<SockAddr>) -> Box<MsgHdr> {
        let has_addr = addr.is_some();
        let mut hdr = Box::new(MsgHdr {
            // SAFETY: `msghdr` is plain old data, for which all-zero bytes are valid
            // (null pointers, zero lengths).
            msg: unsafe { std::mem::zeroed() },
            iov,
            addr: addr.unwrap_or_else(SockAddr::empty),
        });
        hdr.msg.msg_iov = hdr.iov.as_mut_ptr();
        hdr.msg.msg_iovlen = hdr.iov.len();
        if has_addr {
            hdr.msg.msg_name = hdr.addr.as_mut_ptr().cast();
            hdr.msg.msg_namelen = hdr.addr.len();
        }
        hdr
    }
}

/// Receives into `bufs` in order (each to its full capacity). With `want_addr`,
/// the sender's address is reported (datagrams); a cancelled receive's data goes to
/// the next read as a datagram when `want_addr`, as stream bytes otherwise.
pub(crate) struct RecvMsg<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    hdr: Box<MsgHdr>,
    want_addr: bool,
    /// The sender, when the result came from the stash.
    from_stash: Option<Option<SockAddr>>,
    /// Counted among the descriptor's pending results (dropped in flight).
    due: Due,
    /// Its place among the descriptor's waiters, while a cancelled receive's
    /// result is due.
    wait: StashWait,
}

impl<B: IoBufMut> RecvMsg<B> {
    pub(crate) fn new(fd: SharedFd, mut bufs: Vec<B>, want_addr: bool) -> RecvMsg<B> {
        let iov = read_iovecs(&mut bufs);
        let addr = want_addr.then(SockAddr::empty);
        RecvMsg {
            fd,
            bufs,
            hdr: MsgHdr::new(iov, addr),
            want_addr,
            from_stash: None,
            due: Due::default(),
            wait: StashWait::default(),
        }
    }

    /// Copies the first `n` received bytes out of the buffers, in order.
    fn received(&self, n: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(n);
        for buf in &self.bufs {
            let take = (n - data.len()).min(buf.bytes_total());
            // SAFETY: the kernel filled the buffers in order, so the first `take`
            // bytes of this one are among the `n` it reported.
            data.extend_from_slice(&unsafe { received_bytes(buf, take) });
            if data.len() == n {
                break;
            }
        }
        data
    }
}

// SAFETY: the entry points at the boxed `msghdr`, whose iovecs (a heap block owned by
// the box) point into the buffers' stable memory (`IoBufMut`) and whose name points
// at the boxed address; all stay in place while `self` lives.
unsafe impl<B: IoBufMut> OpKind for RecvMsg<B> {
    /// Bytes received, the buffers, and the sender when asked for.
    type Output = (io::Result<(usize, Option<SockAddr>)>, Vec<B>);
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::RecvMsg;

    fn sqe(&mut self) -> squeue::Entry {
        self.hdr.msg.msg_namelen = if self.want_addr {
            SockAddr::capacity()
        } else {
            0
        };
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), &mut self.hdr.msg).build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(&self.fd, Interest::Read)
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::SOCKET
    }

    fn perform(&mut self) -> io::Result<u32> {
        if self.want_addr {
            self.hdr.msg.msg_namelen = SockAddr::capacity();
        }
        // SAFETY: the boxed header points at the boxed address and the iovecs,
        // which point into the buffers' stable memory (see the `OpKind` impl).
        unsafe { sys::recvmsg_raw(self.fd.as_fd(), &mut self.hdr.msg) }.map(|n| n as u32)
    }

    fn poll_stash(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<u32>>> {
        if !self.want_addr {
            return take_stashed(&self.fd, &mut self.bufs, &mut self.wait, cx);
        }
        let Some(first) = self.bufs.first_mut() else {
            return Poll::Ready(None);
        };
        let mut from = None;
        let take = self.fd.state().take_datagram(first, &mut from);
        if let Take::Done(_) = take {
            self.from_stash = Some(from);
        }
        stash_step(take, &self.fd, &mut self.wait, cx)
    }

    fn orphaned(&mut self) {
        self.due.orphan(&self.fd);
    }

    fn discard(&mut self, res: i32, _flags: u32, woken: &mut Vec<Waker>) {
        if !self.due.is_due() {
            return;
        }
        let received = |n| {
            let data = self.received(n);
            if self.want_addr {
                let mut from = self.hdr.addr;
                from.set_len(self.hdr.msg.msg_namelen);
                Received::Datagram {
                    data,
                    from: Some(from),
                }
            } else {
                Received::Bytes { data, taken: 0 }
            }
        };
        stash_result(&self.fd, res, self.want_addr, received, woken);
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel (or the stash) filled the buffers in order, `n`
            // bytes in all.
            unsafe { mark_filled(&mut self.bufs, n as usize) };
            let from = match self.from_stash.take() {
                Some(from) => from,
                None if self.want_addr => {
                    let mut from = self.hdr.addr;
                    from.set_len(self.hdr.msg.msg_namelen);
                    Some(from)
                }
                None => None,
            };
            (n as usize, from)
        });
        (result, self.bufs)
    }
}

/// Sends the initialised bytes of `bufs` in order, to `to` if given (an
/// unconnected datagram socket). Always with `MSG_NOSIGNAL`. Nothing to send on
/// a stream socket returns at once, as for [`Send`](super::Send).
pub(crate) struct SendMsg<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    hdr: Box<MsgHdr>,
    /// A stream socket with nothing to send.
    empty_stream: bool,
}

impl<B: IoBuf> SendMsg<B> {
    pub(crate) fn new(
        fd: SharedFd,
        bufs: Vec<B>,
        to: Option<SockAddr>,
        datagram: bool,
    ) -> SendMsg<B> {
        let iov = write_iovecs(&bufs);
        let empty_stream = !datagram && bufs.iter().all(|b| b.bytes_init() == 0);
        SendMsg {
            fd,
            bufs,
            hdr: MsgHdr::new(iov, to),
            empty_stream,
        }
    }
}

// SAFETY: as for `RecvMsg`; the kernel only reads through these pointers.
unsafe impl<B: IoBuf> OpKind for SendMsg<B> {
    type Output = (io::Result<usize>, Vec<B>);
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::SendMsg;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::SendMsg::new(types::Fd(self.fd.raw()), &self.hdr.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        if self.empty_stream {
            return Readiness::Never;
        }
        Readiness::Fd(&self.fd, Interest::Write)
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::SOCKET
    }

    fn perform(&mut self) -> io::Result<u32> {
        // SAFETY: as for `RecvMsg::perform`, read-only.
        unsafe { sys::sendmsg_raw(self.fd.as_fd(), &self.hdr.msg) }.map(|n| n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }
}
