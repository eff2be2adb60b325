//! The readiness state machine behind every compat trait (`crate::compat`, which
//! says why readiness): for one direction of a socket, make the non-blocking
//! system call while the socket may be ready; once a call says it is not
//! (`EAGAIN`, or a short transfer: a read that drained the receive buffer, a send
//! that filled the send buffer), arm a readiness op (`POLL_ADD` on io_uring, the
//! descriptor's registration on epoll), keep it across polls until it fires, then
//! call again.
//!
//! ```text
//!   poll_read(buf) ─▶ stash unsettled? ─yes─▶ take the bytes a cancelled
//!        │                                    owned-buffer read left behind
//!        ▼
//!   armed poll op? ─yes─▶ poll it: Pending ──▶ Pending (the same op, kept)
//!        │                        Ready ───▶ drop it, go on
//!        ▼
//!   recv(MSG_DONTWAIT) into buf ─▶ n == len, or 0 (end) ─▶ Ready(Ok(n))
//!        │                      ├─ 0 < n < len ─▶ arm a poll op; Ready(Ok(n))
//!        │                      └─ error ───────▶ Ready(Err)
//!        └─ EAGAIN ─▶ arm a poll op ─▶ poll it (above)
//! ```
//!
//! A short read thus costs no second `recv` that would fail with `EAGAIN` (tokio
//! does the same). No wake is lost: on io_uring `POLL_ADD` completes at once when
//! the socket is already ready; on epoll "not ready" is also recorded in the
//! driver during the call that found it, so an edge that arrives later (before or
//! after the op starts waiting) marks it ready again, and the op waits without a
//! `poll(2)` probe and resolves on the event alone (`PollAdd::retry`). The end of
//! stream (0) is not short: it stays ready, and so does a read that filled its
//! buffer.
//!
//! A pending poll consumes no bytes: dropped (with the stream, or replaced), its op
//! is cancelled by the driver's ordinary drop path (ARCHITECTURE.md, decision 1)
//! and whatever the socket holds is there for the next reader.

use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::buf::{IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::{Op, PollAdd};
use crate::driver::stash::{take_stashed, StashWait};
use crate::driver::sys;
use crate::driver::Interest;
use crate::runtime::context::current_id;

/// One direction's readiness: the poll op armed once a call found the socket not
/// ready, kept until it fires or the state is dropped, with the id of the runtime
/// it was armed on. `None`: the socket may be ready, the next poll calls.
#[derive(Default)]
pub(crate) struct Direction {
    armed: Option<(Op<PollAdd>, u64)>,
}

impl Direction {
    /// Runs `call` (which moves at most `len` bytes, `len > 0`) until it gives
    /// something other than `WouldBlock`, waiting for readiness in between;
    /// `Pending` while the armed op has not fired.
    fn poll_io(
        &mut self,
        fd: &SharedFd,
        interest: Interest,
        cx: &mut Context<'_>,
        len: usize,
        mut call: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some((_, runtime)) = &self.armed {
                if *runtime != current_id() {
                    // Armed on another runtime of this thread, idle or gone: its
                    // op would never wake this task (or fails as cancelled). A
                    // pending poll holds no bytes, so it is dropped (cancelled on
                    // its own ring) and the call made again here.
                    self.armed = None;
                }
            }
            if let Some((op, _)) = self.armed.as_mut() {
                let fired = Pin::new(op).poll(cx);
                let Poll::Ready(fired) = fired else {
                    return Poll::Pending;
                };
                self.armed = None;
                if let Err(e) = fired {
                    return Poll::Ready(Err(e));
                }
            }
            match call() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.not_ready(fd, interest),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Short: the kernel's buffer is drained (or full) now; the next
                // poll waits before it calls. Not 0: the end of stream stays ready
                // (no event would come to say so again).
                Ok(n) if n > 0 && n < len => {
                    self.not_ready(fd, interest);
                    return Poll::Ready(Ok(n));
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// Records that the socket is not ready in this direction: arms the poll op
    /// (started at the next poll), and tells the epoll driver at once, whose op
    /// would otherwise probe the socket with `poll(2)` (an event taken by a loop
    /// turn after this mark makes the op resolve).
    fn not_ready(&mut self, fd: &SharedFd, interest: Interest) {
        let op = Op::new(PollAdd::retry(fd.clone(), interest));
        self.armed = Some((op, current_id()));
        crate::driver::mark_not_ready(fd, interest);
    }
}

/// The reading side: its readiness, and its place among the descriptor's waiters
/// while a cancelled owned-buffer read's result is due.
#[derive(Default)]
pub(crate) struct ReadState {
    ready: Direction,
    stash: StashWait,
}

impl ReadState {
    /// Reads into `len` bytes at `ptr` (possibly uninitialised); `Ready(Ok(0))` at
    /// end of stream.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes of `len` bytes for the duration of the call.
    pub(crate) unsafe fn poll_read_raw(
        &mut self,
        fd: &SharedFd,
        cx: &mut Context<'_>,
        ptr: *mut u8,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        if !fd.is_settled() {
            // Bytes (or an error) that a cancelled owned-buffer read received come
            // before anything still in the socket.
            let mut slice = RawSlice { ptr, len };
            let taken = take_stashed(fd, std::slice::from_mut(&mut slice), &mut self.stash, cx);
            match taken {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(result)) => return Poll::Ready(result.map(|n| n as usize)),
                Poll::Ready(None) => {}
            }
        }
        self.ready.poll_io(fd, Interest::Read, cx, len, || {
            // SAFETY: the caller guarantees `len` writable bytes at `ptr`.
            unsafe { sys::recv_raw(fd.as_fd(), ptr, len) }
        })
    }

    /// Reads into `buf`.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn poll_read(
        &mut self,
        fd: &SharedFd,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // SAFETY: `buf` is a live, exclusively borrowed slice of `buf.len()` bytes.
        unsafe { self.poll_read_raw(fd, cx, buf.as_mut_ptr(), buf.len()) }
    }
}

/// The writing side: its readiness, and whether it was shut down.
#[derive(Default)]
pub(crate) struct WriteState {
    ready: Direction,
    shut: bool,
}

/// At most this many slices go to one `sendmsg` (Linux's `UIO_MAXIOV`).
const MAX_IOVECS: usize = 1024;

impl WriteState {
    /// Sends from `buf`; `Ready(Ok(n))` once the kernel has the `n` bytes.
    pub(crate) fn poll_write(
        &mut self,
        fd: &SharedFd,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.ready.poll_io(fd, Interest::Write, cx, buf.len(), || {
            // SAFETY: `buf` is a live slice of `buf.len()` bytes.
            unsafe { sys::send_raw(fd.as_fd(), buf.as_ptr(), buf.len()) }
        })
    }

    /// Sends from several slices in order (one `sendmsg`).
    pub(crate) fn poll_write_vectored(
        &mut self,
        fd: &SharedFd,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Leading empty slices are skipped before the `UIO_MAXIOV` cut, so that
        // bytes after 1024 empty slices are not taken for nothing to write.
        let first = bufs.iter().position(|b| !b.is_empty());
        let Some(first) = first else {
            return Poll::Ready(Ok(0));
        };
        let bufs = &bufs[first..];
        let bufs = &bufs[..bufs.len().min(MAX_IOVECS)];
        let len = bufs.iter().map(|b| b.len()).sum::<usize>();
        self.ready.poll_io(fd, Interest::Write, cx, len, || {
            // SAFETY: a zeroed msghdr is valid (no name, no control data).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            // `IoSlice` is ABI-compatible with `iovec` on Unix (std guarantees it).
            msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
            msg.msg_iovlen = bufs.len() as _;
            // SAFETY: the iovecs describe the live slices of `bufs`, only read.
            unsafe { sys::sendmsg_raw(fd.as_fd(), &msg) }
        })
    }

    /// Shuts down the writing direction (`shutdown(SHUT_WR)`): the peer reads the
    /// end of stream once it has read what was sent. A second call is `Ok(())`
    /// without a system call.
    pub(crate) fn shutdown(&mut self, fd: &SharedFd) -> io::Result<()> {
        if self.shut {
            return Ok(());
        }
        sys::shutdown(fd.as_fd(), std::net::Shutdown::Write)?;
        self.shut = true;
        Ok(())
    }
}

/// Both directions of a stream's compat state.
#[derive(Default)]
pub(crate) struct IoState {
    pub(crate) read: ReadState,
    pub(crate) write: WriteState,
}

impl IoState {
    /// Nothing armed, not shut down.
    pub(crate) fn new() -> IoState {
        IoState::default()
    }
}

impl std::fmt::Debug for IoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoState")
            .field("read_armed", &self.read.ready.armed.is_some())
            .field("write_armed", &self.write.ready.armed.is_some())
            .field("shut", &self.write.shut)
            .finish()
    }
}

/// Borrowed memory posing as an owned buffer, for the stash's synchronous copy
/// (never handed to the kernel).
struct RawSlice {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a `RawSlice` lives only inside `poll_read_raw`, whose caller guarantees
// `len` writable bytes at `ptr` for the call; the stash copies into it at once and
// keeps no pointer, so the memory is valid for every use the trait allows here.
unsafe impl IoBuf for RawSlice {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        0
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

// SAFETY: as for `IoBuf`: `len` writable bytes at `ptr` for the call.
unsafe impl IoBufMut for RawSlice {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, _len: usize) {}
}
