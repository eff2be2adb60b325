//! The readiness state machine behind every compat trait (`crate::compat`, which
//! says why readiness): for one direction of a
//! socket, try the non-blocking system call first; on `EAGAIN` arm a readiness
//! op (`POLL_ADD` on io_uring, the descriptor's registration on epoll) and keep it
//! across polls until it fires; then call again.
//!
//! ```text
//!   poll_read(buf) ─▶ stash unsettled? ─yes─▶ take the bytes a cancelled
//!        │                                    owned-buffer read left behind
//!        ▼
//!   armed poll op? ─yes─▶ poll it: Pending ──▶ Pending (the same op, kept)
//!        │                        Ready ───▶ drop it, go on
//!        ▼
//!   recv(MSG_DONTWAIT) into buf ─▶ n ──────▶ Ready(Ok(n))
//!        │                      └─ error ──▶ Ready(Err)
//!        └─ EAGAIN ─▶ arm a new poll op ─▶ poll it (above)
//! ```
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

/// One direction's readiness: the poll op armed after an `EAGAIN`, kept until it
/// fires or the state is dropped, with the id of the runtime it was armed on.
#[derive(Default)]
pub(crate) struct Direction {
    armed: Option<(Op<PollAdd>, u64)>,
}

impl Direction {
    /// Runs `call` until it gives something other than `WouldBlock`, waiting for
    /// readiness in between; `Pending` while the armed op has not fired.
    fn poll_io<T>(
        &mut self,
        fd: &SharedFd,
        interest: Interest,
        cx: &mut Context<'_>,
        mut call: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let op = Op::new(PollAdd::new(fd.clone(), interest));
                    self.armed = Some((op, current_id()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
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
        self.ready.poll_io(fd, Interest::Read, cx, || {
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
        self.ready.poll_io(fd, Interest::Write, cx, || {
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
        self.ready.poll_io(fd, Interest::Write, cx, || {
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
