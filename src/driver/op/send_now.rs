//! A stream's send made at once from borrowed bytes, as a plain `send(2)`, when
//! the driver says one is worth trying: the fast path of a stream writer's
//! `write` (ARCHITECTURE.md, "Fast paths").
//!
//! asyncio's transport does the same in its `write`: with nothing buffered it
//! tries the socket first and buffers only what the socket did not take. Here it
//! saves the copy of the bytes into the writer's buffer and, on io_uring, the
//! send's entry, its completion and the second `io_uring_enter` that completion
//! would cost a quiet loop (see `uring/op.rs`, `try_at_once`).

use std::io;
use std::os::fd::AsFd;

#[cfg(feature = "fault-injection")]
use crate::driver::fault::{self, Fault, Faults};
use crate::driver::fd::SharedFd;
use crate::driver::metrics::OpCode;
use crate::driver::{sys, Handle, Interest, IoDriver};

/// Sends what it can of `data` on the stream socket `fd` now, without waiting,
/// if the current driver says a call is worth it: on epoll when `fd` is not
/// known to be unwritable, on io_uring when the loop is quiet
/// ([`Uring::quiet`](crate::driver::uring::Uring::quiet)), and within the poll's
/// op budget. `Some(Ok(n))`: `n` bytes (maybe fewer than `data`) are on their
/// way; `Some(Err(e))`: the send failed with `e` (the connection's error);
/// `None`: not tried, or the socket had no room (`EAGAIN`), or the call was
/// interrupted: nothing was sent, the caller queues the bytes.
///
/// The caller must have no other send of this stream queued or in flight: bytes
/// sent here would overtake them.
pub(crate) fn send_now(fd: &SharedFd, data: &[u8]) -> Option<io::Result<usize>> {
    if data.is_empty() {
        return None;
    }
    let driver = Handle::current()?;
    let on_ring = match &mut *driver.io() {
        IoDriver::Uring(uring) if uring.quiet() => true,
        IoDriver::Epoll(epoll) => {
            epoll.adopt(fd);
            if !epoll.may_be_ready(fd.raw(), Interest::Write) {
                return None;
            }
            false
        }
        _ => return None,
    };
    if !driver.take_op_budget() {
        return None;
    }
    let result = call(fd, data, on_ring)?;
    let mut io = driver.io();
    match (&mut *io, &result) {
        (IoDriver::Uring(uring), _) => uring.stats.ops_at_once += 1,
        // A short send filled the socket's buffer: the next op waits for an event.
        (IoDriver::Epoll(epoll), Ok(n)) if *n < data.len() => {
            epoll.not_ready(fd.raw(), Interest::Write)
        }
        _ => {}
    }
    drop(io);
    driver.op_counters().started(OpCode::Send);
    driver.op_counters().ended(OpCode::Send);
    Some(result)
}

/// The call (or the fault a test injects in its place); `None` when it would
/// block or was interrupted, on epoll marking the descriptor unwritable then.
fn call(fd: &SharedFd, data: &[u8], on_ring: bool) -> Option<io::Result<usize>> {
    #[cfg_attr(not(feature = "fault-injection"), allow(unused_mut))]
    let mut len = data.len();
    #[cfg(feature = "fault-injection")]
    {
        // As the `Send` op of a stream: its errors, and a short count.
        let allowed = Faults::SOCKET.with(Faults::SHORT);
        let decided = fault::forced_send().or_else(|| fault::decide(allowed, on_ring));
        if let Some(fault) = decided {
            if std::env::var_os("RINGLOOP_FAULT_TRACE").is_some() {
                eprintln!("ringloop fault: send_now fd {}: {fault:?}", fd.raw());
            }
        }
        match decided {
            Some(Fault::Error(errno)) if errno == libc::EAGAIN || errno == libc::EINTR => {
                return None
            }
            Some(Fault::Error(errno)) => return Some(Err(io::Error::from_raw_os_error(errno))),
            Some(Fault::Short(r)) => {
                len = fault::short_len(u32::try_from(len).unwrap_or(u32::MAX), r) as usize
            }
            None => {}
        }
    }
    // SAFETY: `data` is `len` (at most its length) readable bytes, borrowed for
    // the call, which does not keep the pointer (a plain, non-blocking send).
    match unsafe { sys::send_raw(fd.as_fd(), data.as_ptr(), len) } {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if !on_ring {
                mark_not_writable(fd);
            }
            None
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
        result => Some(result),
    }
}

/// On epoll: `fd` has no room; the next send waits for an event.
fn mark_not_writable(fd: &SharedFd) {
    if let Some(driver) = Handle::current() {
        if let IoDriver::Epoll(epoll) = &mut *driver.io() {
            epoll.not_ready(fd.raw(), Interest::Write);
        }
    }
}
