//! epoll: the epoll driver's instance, and the child reaper's.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use super::owned;

/// An epoll instance.
pub(crate) fn epoll_create() -> io::Result<OwnedFd> {
    let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
    // SAFETY: `epoll_create1` just returned this descriptor.
    Ok(unsafe { owned(fd) })
}

/// `epoll_ctl(2)` of `fd` in `epfd`; `token` comes back in the event's data field.
pub(crate) fn epoll_ctl(
    epfd: BorrowedFd<'_>,
    op: i32,
    fd: BorrowedFd<'_>,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    syscall!(epoll_ctl(epfd.as_raw_fd(), op, fd.as_raw_fd(), &mut ev)).map(drop)
}

/// `epoll_wait(2)` into `events`; `None` blocks, timeouts round up to whole milliseconds
/// so that the loop never wakes before a deadline. `EINTR` reports zero events.
pub(crate) fn epoll_wait(
    epfd: BorrowedFd<'_>,
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
    assert!(events.capacity() > 0, "epoll_wait needs room for an event");
    let cap = events.capacity().min(i32::MAX as usize) as i32;
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
