//! Every plain system call the runtime makes goes through this file.
//!
//! The [`syscall!`] helper (after mio's) turns the C convention "returns -1 and sets
//! errno" into an `io::Result`. Each wrapper below is a safe function whose arguments
//! are checked by the type system (owned fds, slices), so the unsafety of the raw call
//! stays here, next to its justification.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::sockaddr::SockAddr;

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

/// Closes a descriptor the kernel handed to an operation nobody is waiting for,
/// or one released by its last owner.
///
/// # Safety
///
/// The caller must own `fd` and nothing may use it afterwards (I/O safety: closing
/// a descriptor someone else owns could close a file reopened under its number).
pub(crate) unsafe fn close_raw(fd: RawFd) {
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

/// `statx(2)`: the status of `path` relative to `dirfd` (with `AT_EMPTY_PATH` and
/// an empty path, of `dirfd` itself).
pub(crate) fn statx(
    dirfd: RawFd,
    path: &std::ffi::CStr,
    flags: i32,
    mask: u32,
    buf: &mut libc::statx,
) -> io::Result<()> {
    syscall!(statx(dirfd, path.as_ptr(), flags, mask, buf)).map(drop)
}

/// `fsync(2)`, or `fdatasync(2)` when `datasync`.
pub(crate) fn fsync(fd: RawFd, datasync: bool) -> io::Result<()> {
    if datasync {
        syscall!(fdatasync(fd)).map(drop)
    } else {
        syscall!(fsync(fd)).map(drop)
    }
}

/// `ftruncate(2)`.
pub(crate) fn ftruncate(fd: RawFd, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file size out of range"))?;
    syscall!(ftruncate(fd, len)).map(drop)
}

/// `unlinkat(2)` relative to the working directory (`AT_REMOVEDIR` in `flags`
/// removes a directory).
pub(crate) fn unlinkat(path: &std::ffi::CStr, flags: i32) -> io::Result<()> {
    syscall!(unlinkat(libc::AT_FDCWD, path.as_ptr(), flags)).map(drop)
}

/// `renameat(2)` relative to the working directory.
pub(crate) fn renameat(from: &std::ffi::CStr, to: &std::ffi::CStr) -> io::Result<()> {
    syscall!(renameat(
        libc::AT_FDCWD,
        from.as_ptr(),
        libc::AT_FDCWD,
        to.as_ptr()
    ))
    .map(drop)
}

/// `mkdirat(2)` relative to the working directory.
pub(crate) fn mkdirat(path: &std::ffi::CStr, mode: u32) -> io::Result<()> {
    syscall!(mkdirat(libc::AT_FDCWD, path.as_ptr(), mode as libc::mode_t)).map(drop)
}

/// A close-on-exec duplicate of `fd` (for a blocking-pool job, which must own the
/// descriptor it works on: the original may be closed while the job runs).
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    let dup = syscall!(fcntl(fd, libc::F_DUPFD_CLOEXEC, 0))?;
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` just returned this descriptor and nothing
    // else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// Closes `fd`, reporting `close(2)`'s error (the descriptor is gone either way:
/// Linux releases it even when the call fails).
pub(crate) fn close(fd: OwnedFd) -> io::Result<()> {
    use std::os::fd::IntoRawFd;
    syscall!(close(fd.into_raw_fd())).map(drop)
}

/// `preadv(2)` (`write: false`) or `pwritev(2)` at `offset`.
///
/// # Safety
///
/// Every iovec must describe memory valid for the access (writes for `preadv`,
/// reads for `pwritev`) for the duration of the call.
pub(crate) unsafe fn preadv_pwritev(
    fd: RawFd,
    iov: &[libc::iovec],
    offset: u64,
    write: bool,
) -> io::Result<usize> {
    let count = iov.len().min(libc::c_int::MAX as usize) as libc::c_int;
    let off = offset as libc::off_t;
    let n = if write {
        syscall!(pwritev(fd, iov.as_ptr(), count, off))?
    } else {
        syscall!(preadv(fd, iov.as_ptr(), count, off))?
    };
    Ok(n as usize)
}

/// [`openat`], owning the new descriptor (for the blocking pool).
pub(crate) fn open(path: &std::ffi::CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let fd = openat(path, flags, mode)?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `accept4(2)` with close-on-exec and non-blocking set on the new socket; the
/// peer's address goes to `addr` when given.
pub(crate) fn accept(fd: RawFd, addr: Option<&mut SockAddr>) -> io::Result<RawFd> {
    let (ptr, len) = match addr {
        Some(addr) => {
            *addr.len_mut() = SockAddr::capacity();
            let ptr = addr.as_mut_ptr();
            (ptr, addr.len_mut() as *mut libc::socklen_t)
        }
        None => (std::ptr::null_mut(), std::ptr::null_mut()),
    };
    syscall!(accept4(
        fd,
        ptr,
        len,
        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK
    ))
}

/// `recv(2)` without waiting, into raw memory.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes.
pub(crate) unsafe fn recv_raw(fd: RawFd, ptr: *mut u8, len: usize) -> io::Result<usize> {
    syscall!(recv(fd, ptr.cast(), len, libc::MSG_DONTWAIT)).map(|n| n as usize)
}

/// `send(2)` without waiting and without `SIGPIPE`, from raw memory.
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` bytes.
pub(crate) unsafe fn send_raw(fd: RawFd, ptr: *const u8, len: usize) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    syscall!(send(fd, ptr.cast(), len, flags)).map(|n| n as usize)
}

/// `recvmsg(2)` without waiting.
///
/// # Safety
///
/// The header's pointers (name, iovecs and the memory they describe) must be
/// valid for the kernel to write, as the ops that build one (`op/msg.rs`) keep
/// them.
pub(crate) unsafe fn recvmsg(fd: RawFd, msg: &mut libc::msghdr) -> io::Result<usize> {
    syscall!(recvmsg(fd, msg, libc::MSG_DONTWAIT)).map(|n| n as usize)
}

/// `sendmsg(2)` without waiting and without `SIGPIPE`.
///
/// # Safety
///
/// As for [`recvmsg`], for the kernel to read.
pub(crate) unsafe fn sendmsg(fd: RawFd, msg: &libc::msghdr) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    syscall!(sendmsg(fd, msg, flags)).map(|n| n as usize)
}

/// `connect(2)`; on a non-blocking socket `EINPROGRESS` means "under way".
pub(crate) fn connect(fd: RawFd, addr: &SockAddr) -> io::Result<()> {
    match syscall!(connect(fd, addr.as_ptr(), addr.len())) {
        Ok(_) => Ok(()),
        // An interrupted connect goes on in the background, like EINPROGRESS.
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            Err(io::Error::from_raw_os_error(libc::EINPROGRESS))
        }
        Err(e) => Err(e),
    }
}

/// A new non-blocking, close-on-exec socket.
pub(crate) fn socket(domain: i32, ty: i32) -> io::Result<OwnedFd> {
    let fd = syscall!(socket(
        domain,
        ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0
    ))?;
    // SAFETY: `socket` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets an integer socket option (`SO_REUSEADDR`, `TCP_NODELAY`, ...).
pub(crate) fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    setsockopt_raw(fd.as_raw_fd(), level, name, value)
}

/// [`setsockopt_int`] on a descriptor some caller keeps open.
pub(crate) fn setsockopt_raw(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    syscall!(setsockopt(
        fd,
        level,
        name,
        (&value as *const i32).cast(),
        std::mem::size_of::<i32>() as libc::socklen_t
    ))
    .map(drop)
}

/// Reads an integer socket option.
pub(crate) fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        level,
        name,
        (&mut value as *mut i32).cast(),
        &mut len
    ))?;
    Ok(value)
}

/// The socket's pending error (`SO_ERROR`), cleared by reading it.
pub(crate) fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let errno = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((errno != 0).then(|| io::Error::from_raw_os_error(errno)))
}

/// `shutdown(2)`.
pub(crate) fn shutdown(fd: RawFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    syscall!(shutdown(fd, how)).map(drop)
}

/// The address a socket is bound to.
pub(crate) fn getsockname(fd: RawFd) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let ptr = addr.as_mut_ptr();
    syscall!(getsockname(fd, ptr, addr.len_mut()))?;
    Ok(addr)
}

/// The address of a connected socket's peer.
pub(crate) fn getpeername(fd: RawFd) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let ptr = addr.as_mut_ptr();
    syscall!(getpeername(fd, ptr, addr.len_mut()))?;
    Ok(addr)
}

/// The peer's address as `accept4` reports it (`SO_PEERNAME`): unlike
/// `getpeername`, it still answers for a connection the peer reset after the
/// handshake (`getpeername` says `ENOTCONN` once the socket is closed).
pub(crate) fn peername_opt(fd: RawFd) -> io::Result<SockAddr> {
    // SO_PEERNAME refuses (EINVAL) a buffer longer than the address; the local
    // address has the peer's family, so its length is the one to ask for.
    let local_len = getsockname(fd)?.len();
    let mut addr = SockAddr::empty();
    *addr.len_mut() = local_len;
    let ptr = addr.as_mut_ptr();
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_PEERNAME,
        ptr.cast(),
        addr.len_mut()
    ))?;
    Ok(addr)
}

/// A connected pair of Unix stream sockets, non-blocking and close-on-exec.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    syscall!(socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()))?;
    // SAFETY: `socketpair` succeeded, so both descriptors are fresh and owned by
    // nobody else.
    let a = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above.
    let b = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((a, b))
}

/// `bind(2)`.
pub(crate) fn bind(fd: &OwnedFd, addr: &SockAddr) -> io::Result<()> {
    syscall!(bind(fd.as_raw_fd(), addr.as_ptr(), addr.len())).map(drop)
}

/// `listen(2)`.
pub(crate) fn listen(fd: &OwnedFd, backlog: i32) -> io::Result<()> {
    syscall!(listen(fd.as_raw_fd(), backlog)).map(drop)
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
