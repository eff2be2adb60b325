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

// ----- pipes and descriptors -----------------------------------------------------

/// Sets `O_NONBLOCK` on a descriptor (the parent's end of a child's pipe).
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    if flags & libc::O_NONBLOCK == 0 {
        syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}

// ----- processes -----------------------------------------------------------------

/// `pidfd_open(2)` (5.3): a close-on-exec descriptor that refers to process `pid`
/// itself, never to a later process that reuses the number.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    let fd = syscall!(syscall(libc::SYS_pidfd_open, pid, 0))?;
    // SAFETY: the system call just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: signals exactly the process `pidfd` refers to (`ESRCH`
/// once it has exited).
pub(crate) fn pidfd_send_signal(pidfd: RawFd, signal: i32) -> io::Result<()> {
    syscall!(syscall(
        libc::SYS_pidfd_send_signal,
        pidfd,
        signal,
        std::ptr::null::<libc::siginfo_t>(),
        0
    ))
    .map(drop)
}

/// `kill(2)`.
pub(crate) fn kill(pid: libc::pid_t, signal: i32) -> io::Result<()> {
    syscall!(kill(pid, signal)).map(drop)
}

/// Which children `waitid` looks at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WaitTarget {
    /// The process a pidfd refers to (`P_PIDFD`, 5.4).
    Pidfd(RawFd),
    /// A process id (`P_PID`), for when pidfds are unavailable.
    Pid(libc::pid_t),
}

/// A zeroed `siginfo_t`, for `waitid` (and `IORING_OP_WAITID`) to fill in.
pub(crate) fn siginfo_zeroed() -> libc::siginfo_t {
    // SAFETY: `siginfo_t` is plain data (integers and a union of integers), for
    // which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

/// The wait status (as `waitpid` reports it, for `ExitStatus::from_raw`) that a
/// `siginfo_t` filled in by `waitid(WEXITED)` describes; `None` when it describes
/// no child (`WNOHANG` and nothing exited: `si_pid == 0`).
pub(crate) fn wait_status(info: &libc::siginfo_t) -> Option<i32> {
    // SAFETY: `waitid` filled in the `sigchld` member of the union (or left it all
    // zero), which is what these accessors read.
    let pid = unsafe { info.si_pid() };
    // SAFETY: as above.
    let status = unsafe { info.si_status() };
    if pid == 0 {
        return None;
    }
    Some(match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        // Only WEXITED was asked for; anything else is reported as an exit with
        // the status the kernel gave.
        _ => (status & 0xff) << 8,
    })
}

/// `waitid(WEXITED | WNOHANG)`: reaps the child if it has exited and returns its
/// wait status; `None` while it runs.
pub(crate) fn waitid_now(target: WaitTarget) -> io::Result<Option<i32>> {
    let (idtype, id) = match target {
        WaitTarget::Pidfd(fd) => (libc::P_PIDFD, fd as libc::id_t),
        WaitTarget::Pid(pid) => (libc::P_PID, pid as libc::id_t),
    };
    let mut info = siginfo_zeroed();
    loop {
        match syscall!(waitid(idtype, id, &mut info, libc::WEXITED | libc::WNOHANG)) {
            Ok(_) => return Ok(wait_status(&info)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Signals (1..=64) as bits, `1 << (n - 1)`: what a child unblocks before `exec`.
pub(crate) fn signal_bits(set: &SigSet) -> u64 {
    (1..=64)
        .filter(|&s| s <= libc::SIGRTMAX() && set.contains(s))
        .fold(0, |bits, s| bits | 1 << (s - 1))
}

/// Makes every later spawn of `command` unblock, in the child before `exec`, the
/// signals whose bits `unblock` holds at that moment (the parent sets them just
/// before each spawn; see `driver/signal.rs` for why).
///
/// This makes std spawn with `fork` + `exec` rather than `posix_spawn`, so the
/// process module registers it only once a spawn needs it.
pub(crate) fn unblock_before_exec(
    command: &mut std::process::Command,
    unblock: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::os::unix::process::CommandExt;
    let hook = move || -> io::Result<()> {
        let bits = unblock.load(std::sync::atomic::Ordering::Relaxed);
        if bits != 0 {
            // Built on the stack with sigemptyset/sigaddset, then sigprocmask:
            // all async-signal-safe; nothing here allocates.
            let mut set = SigSet::empty();
            for s in 1..=64 {
                if bits & (1 << (s - 1)) != 0 {
                    set.add(s);
                }
            }
            thread_sigmask(MaskHow::Unblock, &set)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the child between `fork` and `exec`, where only
    // async-signal-safe calls are allowed: it reads an atomic and calls
    // sigemptyset, sigaddset and sigprocmask, without allocating (an error is an
    // `io::Error` from errno, which does not allocate) and without taking locks.
    unsafe { command.pre_exec(hook) };
}

/// `getpid(2)`. Async-signal-safe.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// The calling thread's id (`gettid(2)`). Async-signal-safe.
pub(crate) fn gettid() -> libc::pid_t {
    syscall!(syscall(libc::SYS_gettid)).map_or(0, |tid| tid as libc::pid_t)
}

/// `tgkill(2)`: sends `signal` to thread `tid` of process `pid`. Async-signal-safe.
pub(crate) fn tgkill(pid: libc::pid_t, tid: libc::pid_t, signal: i32) -> io::Result<()> {
    syscall!(syscall(libc::SYS_tgkill, pid, tid, signal)).map(drop)
}

// ----- signals -------------------------------------------------------------------

/// A set of signals (`sigset_t`).
#[derive(Clone, Copy)]
pub(crate) struct SigSet(libc::sigset_t);

impl SigSet {
    /// The empty set.
    pub(crate) fn empty() -> SigSet {
        // SAFETY: `sigset_t` is a plain bit array; `sigemptyset` initialises it below.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // Cannot fail for a valid pointer.
        let _ = syscall!(sigemptyset(&mut set));
        SigSet(set)
    }

    /// Every signal but those the C library keeps for itself.
    pub(crate) fn full() -> SigSet {
        let mut set = SigSet::empty();
        // glibc's sigfillset leaves out its internal signals (thread cancellation,
        // setxid), which must never be blocked.
        let _ = syscall!(sigfillset(&mut set.0));
        set
    }

    pub(crate) fn add(&mut self, signal: i32) {
        // EINVAL only for a number out of range, which callers have checked.
        let _ = syscall!(sigaddset(&mut self.0, signal));
    }

    pub(crate) fn remove(&mut self, signal: i32) {
        let _ = syscall!(sigdelset(&mut self.0, signal));
    }

    pub(crate) fn contains(&self, signal: i32) -> bool {
        matches!(syscall!(sigismember(&self.0, signal)), Ok(1))
    }

    /// Whether any signal is in the set.
    pub(crate) fn contains_any(&self) -> bool {
        (1..=libc::SIGRTMAX()).any(|s| self.contains(s))
    }

    pub(crate) fn of(signal: i32) -> SigSet {
        let mut set = SigSet::empty();
        set.add(signal);
        set
    }
}

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<i32> = (1..=libc::SIGRTMAX())
            .filter(|&s| self.contains(s))
            .collect();
        f.debug_tuple("SigSet").field(&members).finish()
    }
}

/// How [`thread_sigmask`] changes the mask.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MaskHow {
    Block,
    Unblock,
    Set,
}

/// Changes the calling thread's signal mask; returns the previous one.
///
/// `sigprocmask` is per thread on Linux (it is `rt_sigprocmask` on the calling
/// thread, exactly as `pthread_sigmask`), and glibc's version reports errors
/// through `errno`, as `syscall!` expects.
pub(crate) fn thread_sigmask(how: MaskHow, set: &SigSet) -> io::Result<SigSet> {
    let how = match how {
        MaskHow::Block => libc::SIG_BLOCK,
        MaskHow::Unblock => libc::SIG_UNBLOCK,
        MaskHow::Set => libc::SIG_SETMASK,
    };
    let mut old = SigSet::empty();
    syscall!(sigprocmask(how, &set.0, &mut old.0))?;
    Ok(old)
}

/// The calling thread's signal mask.
#[cfg(test)]
pub(crate) fn current_sigmask() -> SigSet {
    let mut old = SigSet::empty();
    let _ = syscall!(sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut old.0));
    old
}

/// Signals pending for the calling thread or the process (`sigpending(2)`).
pub(crate) fn sigpending() -> SigSet {
    let mut set = SigSet::empty();
    let _ = syscall!(sigpending(&mut set.0));
    set
}

/// Takes one pending signal of `set` without waiting (`sigtimedwait` with a zero
/// timeout); `None` when none is pending.
pub(crate) fn take_pending_signal(set: &SigSet) -> Option<i32> {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        match syscall!(sigtimedwait(&set.0, std::ptr::null_mut(), &zero)) {
            Ok(signal) => return Some(signal),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

/// Creates a non-blocking, close-on-exec signalfd for `mask`, or (`fd` given)
/// changes the mask of an existing one.
pub(crate) fn signalfd(fd: Option<RawFd>, mask: &SigSet) -> io::Result<Option<OwnedFd>> {
    match fd {
        Some(fd) => syscall!(signalfd(fd, &mask.0, 0)).map(|_| None),
        None => {
            let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
            let fd = syscall!(signalfd(-1, &mask.0, flags))?;
            // SAFETY: `signalfd` just returned this descriptor; nothing else owns it.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
        }
    }
}

/// A signal's disposition as `sigaction` reports it (opaque: only given back to
/// [`restore_sigaction`]), and whether it is the default or ignore.
#[derive(Clone, Copy)]
pub(crate) struct SavedAction(libc::sigaction);

impl SavedAction {
    /// `SIG_DFL`.
    pub(crate) fn is_default(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_DFL
    }

    /// `SIG_IGN`.
    pub(crate) fn is_ignore(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_IGN
    }

    /// Whether it runs `handler`.
    pub(crate) fn runs(&self, handler: SignalHandler) -> bool {
        self.0.sa_sigaction == handler as usize
    }
}

impl std::fmt::Debug for SavedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedAction")
            .field("handler", &self.0.sa_sigaction)
            .field("flags", &self.0.sa_flags)
            .finish()
    }
}

/// A `SA_SIGINFO` signal handler.
pub(crate) type SignalHandler = extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void);

/// The current disposition of `signal`.
pub(crate) fn get_sigaction(signal: i32) -> io::Result<SavedAction> {
    // SAFETY: plain data, filled in by the call.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    syscall!(sigaction(signal, std::ptr::null(), &mut old))?;
    Ok(SavedAction(old))
}

/// Installs `handler` for `signal` (`SA_SIGINFO | SA_RESTART | SA_ONSTACK`, nothing
/// blocked while it runs); returns the previous disposition.
///
/// # Safety
///
/// `handler` must be async-signal-safe: it may run on any thread, between any two
/// instructions, and may only make async-signal-safe calls (it must save and
/// restore `errno` if it changes it).
pub(crate) unsafe fn install_handler(
    signal: i32,
    handler: SignalHandler,
) -> io::Result<SavedAction> {
    // SAFETY: plain data; every field is set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    let _ = syscall!(sigemptyset(&mut action.sa_mask));
    // SAFETY: plain data, filled in by the call.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    syscall!(sigaction(signal, &action, &mut old))?;
    Ok(SavedAction(old))
}

/// Puts back a disposition that [`get_sigaction`] or [`install_handler`] returned.
pub(crate) fn restore_sigaction(signal: i32, saved: &SavedAction) -> io::Result<()> {
    syscall!(sigaction(signal, &saved.0, std::ptr::null_mut())).map(drop)
}

/// Sets the disposition of `signal` to `SIG_DFL` (tests restore defaults with it).
#[cfg(test)]
pub(crate) fn set_default_action(signal: i32) -> io::Result<()> {
    // SAFETY: plain data; the handler field is SIG_DFL.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_DFL;
    syscall!(sigaction(signal, &action, std::ptr::null_mut())).map(drop)
}

/// The calling thread's `errno`.
pub(crate) fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets the calling thread's `errno` (a signal handler restores it).
pub(crate) fn set_errno(value: i32) {
    // SAFETY: `__errno_location` has no preconditions.
    let slot = unsafe { libc::__errno_location() };
    // SAFETY: `slot` is the calling thread's errno, valid for the thread's life;
    // writing an int there is what setting errno means.
    unsafe { *slot = value };
}
