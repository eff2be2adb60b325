//! Calls on any descriptor: closing, reading and writing, polling, flags.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

use super::owned;
#[cfg(test)]
use super::owned_pair;

/// Closes `fd`, reporting `close(2)`'s error (the descriptor is gone either way:
/// Linux releases it even when the call fails). Dropping an `OwnedFd` closes it
/// too, ignoring the error.
pub(crate) fn close(fd: OwnedFd) -> io::Result<()> {
    syscall!(close(fd.into_raw_fd())).map(drop)
}

/// `read(2)`, or `pread(2)` when `offset` is given, into raw memory.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes.
pub(crate) unsafe fn read_raw(
    fd: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    offset: Option<u64>,
) -> io::Result<usize> {
    let fd = fd.as_raw_fd();
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
    fd: BorrowedFd<'_>,
    ptr: *const u8,
    len: usize,
    offset: Option<u64>,
) -> io::Result<usize> {
    let fd = fd.as_raw_fd();
    let n = match offset {
        None => syscall!(write(fd, ptr.cast(), len))?,
        Some(off) => syscall!(pwrite(fd, ptr.cast(), len, off as libc::off_t))?,
    };
    Ok(n as usize)
}

/// `write(2)` from a slice.
#[cfg(test)]
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the slice is valid for reads of its length.
    unsafe { write_raw(fd, buf.as_ptr(), buf.len(), None) }
}

fn iov_count(iov: &[libc::iovec]) -> libc::c_int {
    iov.len().min(libc::c_int::MAX as usize) as libc::c_int
}

/// `preadv(2)` at `offset`.
///
/// # Safety
///
/// Every iovec must describe memory valid for writes for the duration of the call.
pub(crate) unsafe fn preadv_raw(
    fd: BorrowedFd<'_>,
    iov: &[libc::iovec],
    offset: u64,
) -> io::Result<usize> {
    let off = offset as libc::off_t;
    let n = syscall!(preadv(fd.as_raw_fd(), iov.as_ptr(), iov_count(iov), off))?;
    Ok(n as usize)
}

/// `pwritev(2)` at `offset`.
///
/// # Safety
///
/// Every iovec must describe memory valid for reads for the duration of the call.
pub(crate) unsafe fn pwritev_raw(
    fd: BorrowedFd<'_>,
    iov: &[libc::iovec],
    offset: u64,
) -> io::Result<usize> {
    let off = offset as libc::off_t;
    let n = syscall!(pwritev(fd.as_raw_fd(), iov.as_ptr(), iov_count(iov), off))?;
    Ok(n as usize)
}

/// `poll(2)` on one descriptor without waiting; returns the ready events (maybe 0).
pub(crate) fn poll_now(fd: BorrowedFd<'_>, events: i16) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
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

/// How many bytes wait to be read from a socket or a pipe (`FIONREAD`; for TCP
/// not counting the end of the stream).
pub(crate) fn readable_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    syscall!(ioctl(
        fd.as_raw_fd(),
        libc::FIONREAD,
        &mut n as *mut libc::c_int
    ))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A close-on-exec duplicate of `fd` (for a blocking-pool job, which must own the
/// descriptor it works on: the original may be closed while the job runs).
pub(crate) fn dup_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let dup = syscall!(fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0))?;
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` just returned this descriptor.
    Ok(unsafe { owned(dup) })
}

/// Sets `O_NONBLOCK` on a descriptor (the parent's end of a child's pipe).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    if flags & libc::O_NONBLOCK == 0 {
        syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}

/// A pipe pair `(read end, write end)`, close-on-exec and non-blocking.
#[cfg(test)]
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK))?;
    // SAFETY: `pipe2` succeeded, so both descriptors are fresh.
    Ok(unsafe { owned_pair(fds) })
}

/// Counts this process's open file descriptors (via `/proc/self/fd`); tests use it to
/// prove that cancelled operations leak nothing.
#[cfg(test)]
pub(crate) fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}
