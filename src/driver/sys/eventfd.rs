//! eventfd: how another thread interrupts a parked loop (and the child reaper).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::owned;

/// Creates a non-blocking, close-on-exec eventfd with a zero counter.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
    // SAFETY: `eventfd` just returned this descriptor.
    Ok(unsafe { owned(fd) })
}

/// Adds one to an eventfd's counter, waking whoever polls it.
///
/// `EAGAIN` means the counter is saturated, so a wake-up is already pending: success.
pub(crate) fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one: u64 = 1;
    loop {
        match syscall!(write(fd.as_raw_fd(), (&one as *const u64).cast(), 8)) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Resets an eventfd's counter to zero. Returns whether it was non-zero.
pub(crate) fn eventfd_drain(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut value: u64 = 0;
    loop {
        match syscall!(read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8)) {
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}
