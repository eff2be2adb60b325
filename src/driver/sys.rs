//! Every plain system call the runtime makes goes through this file.
//!
//! The [`syscall!`] helper (after mio's) turns the C convention "returns -1 and sets
//! errno" into an `io::Result`. Each wrapper below is a safe function whose arguments
//! are checked by the type system (owned fds, slices), so the unsafety of the raw call
//! stays here, next to its justification.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Calls a libc function and maps `-1` to `io::Error::last_os_error()`.
///
/// The caller must pass arguments that satisfy the C function's contract; every use is
/// inside this module, in a wrapper whose own signature guarantees that.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: every invocation lives in this file and passes arguments that the
        // enclosing wrapper has checked (valid fds, pointers derived from live values
        // with their true lengths), or that the caller of an `unsafe fn` wrapper
        // guarantees under the contract stated on it.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// Creates a non-blocking, close-on-exec eventfd with a zero counter.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
    // SAFETY: `eventfd` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, waking whoever polls it.
///
/// `EAGAIN` means the counter is saturated, so a wake-up is already pending: success.
pub(crate) fn eventfd_signal(fd: RawFd) -> io::Result<()> {
    let one: u64 = 1;
    loop {
        match syscall!(write(fd, (&one as *const u64).cast(), 8)) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Resets an eventfd's counter to zero. Returns whether it was non-zero.
pub(crate) fn eventfd_drain(fd: RawFd) -> io::Result<bool> {
    let mut value: u64 = 0;
    loop {
        match syscall!(read(fd, (&mut value as *mut u64).cast(), 8)) {
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Closes a descriptor the kernel handed to an operation nobody is waiting for.
pub(crate) fn close_raw(fd: RawFd) {
    // A close error leaves nothing to recover: the descriptor is gone either way
    // (Linux never leaves it open after EINTR).
    let _ = syscall!(close(fd));
}

/// `read(2)`, or `pread(2)` when `offset` is given, into raw memory.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes.
pub(crate) unsafe fn read_raw(
    fd: RawFd,
    ptr: *mut u8,
    len: usize,
    offset: Option<u64>,
) -> io::Result<usize> {
    let n = match offset {
        None => syscall!(read(fd, ptr.cast(), len))?,
        Some(off) => syscall!(pread(fd, ptr.cast(), len, off as libc::off_t))?,
    };
    Ok(n as usize)
}

/// `write(2)`, or `pwrite(2)` when `offset` is given, from raw memory.
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` bytes.
pub(crate) unsafe fn write_raw(
    fd: RawFd,
    ptr: *const u8,
    len: usize,
    offset: Option<u64>,
) -> io::Result<usize> {
    let n = match offset {
        None => syscall!(write(fd, ptr.cast(), len))?,
        Some(off) => syscall!(pwrite(fd, ptr.cast(), len, off as libc::off_t))?,
    };
    Ok(n as usize)
}

/// `write(2)` from a slice.
#[cfg(test)]
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the slice is valid for reads of its length.
    unsafe { write_raw(fd, buf.as_ptr(), buf.len(), None) }
}

/// `poll(2)` on one descriptor without waiting; returns the ready events (maybe 0).
pub(crate) fn poll_now(fd: RawFd, events: i16) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        match syscall!(poll(&mut pfd, 1, 0)) {
            Ok(_) => return Ok(pfd.revents),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `openat(2)` relative to the working directory; `path` is NUL-terminated.
pub(crate) fn openat(path: &std::ffi::CStr, flags: i32, mode: u32) -> io::Result<RawFd> {
    syscall!(openat(
        libc::AT_FDCWD,
        path.as_ptr(),
        flags | libc::O_CLOEXEC,
        mode as libc::c_uint
    ))
}

/// `accept4(2)` with close-on-exec and non-blocking set on the new socket.
pub(crate) fn accept(fd: RawFd) -> io::Result<RawFd> {
    syscall!(accept4(
        fd,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK
    ))
}

/// An epoll instance.
pub(crate) fn epoll_create() -> io::Result<OwnedFd> {
    let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
    // SAFETY: `epoll_create1` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `epoll_ctl(2)`; `token` comes back in the event's data field.
pub(crate) fn epoll_ctl(
    epfd: &OwnedFd,
    op: i32,
    fd: RawFd,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    syscall!(epoll_ctl(epfd.as_raw_fd(), op, fd, &mut ev)).map(drop)
}

/// `epoll_wait(2)` into `events`; `None` blocks, timeouts round up to whole milliseconds
/// so that the loop never wakes before a deadline. `EINTR` reports zero events.
pub(crate) fn epoll_wait(
    epfd: &OwnedFd,
    events: &mut Vec<libc::epoll_event>,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let ms = match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    };
    events.clear();
    let cap = events.capacity().max(1) as i32;
    match syscall!(epoll_wait(epfd.as_raw_fd(), events.as_mut_ptr(), cap, ms)) {
        Ok(n) => {
            // SAFETY: the kernel initialised the first `n` entries, and `n <= cap`,
            // which is at most the vector's capacity.
            unsafe { events.set_len(n as usize) };
            Ok(n as usize)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

/// Counts this process's open file descriptors (via `/proc/self/fd`); tests use it to
/// prove that cancelled operations leak nothing.
#[cfg(test)]
pub(crate) fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}

/// A pipe pair `(read end, write end)`, close-on-exec.
#[cfg(test)]
pub(crate) fn pipe(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
    syscall!(pipe2(fds.as_mut_ptr(), flags))?;
    // SAFETY: `pipe2` succeeded, so both descriptors are fresh and owned by nobody else.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above.
    let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((read, write))
}
