//! Calls on sockets: creating, binding, accepting and connecting them, moving
//! bytes through them without waiting, and their options and names.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::{owned, owned_pair};
use crate::driver::sockaddr::SockAddr;

/// A new non-blocking, close-on-exec socket.
pub(crate) fn socket(domain: i32, ty: i32) -> io::Result<OwnedFd> {
    let fd = syscall!(socket(
        domain,
        ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0
    ))?;
    // SAFETY: `socket` just returned this descriptor.
    Ok(unsafe { owned(fd) })
}

/// A connected pair of Unix stream sockets, non-blocking and close-on-exec.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    syscall!(socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()))?;
    // SAFETY: `socketpair` succeeded, so both descriptors are fresh.
    Ok(unsafe { owned_pair(fds) })
}

/// `bind(2)`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    syscall!(bind(fd.as_raw_fd(), addr.as_ptr(), addr.len())).map(drop)
}

/// `listen(2)`.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    syscall!(listen(fd.as_raw_fd(), backlog)).map(drop)
}

/// `accept4(2)` with close-on-exec and non-blocking set on the new socket; the
/// peer's address goes to `addr` when given.
pub(crate) fn accept(fd: BorrowedFd<'_>, addr: Option<&mut SockAddr>) -> io::Result<OwnedFd> {
    let (ptr, len) = match addr {
        Some(addr) => {
            *addr.len_mut() = SockAddr::capacity();
            let ptr = addr.as_mut_ptr();
            (ptr, addr.len_mut() as *mut libc::socklen_t)
        }
        None => (std::ptr::null_mut(), std::ptr::null_mut()),
    };
    let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    let new = syscall!(accept4(fd.as_raw_fd(), ptr, len, flags))?;
    // SAFETY: `accept4` just returned this descriptor.
    Ok(unsafe { owned(new) })
}

/// `connect(2)`; on a non-blocking socket `EINPROGRESS` means "under way".
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    match syscall!(connect(fd.as_raw_fd(), addr.as_ptr(), addr.len())) {
        Ok(_) => Ok(()),
        // An interrupted connect goes on in the background, like EINPROGRESS.
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            Err(io::Error::from_raw_os_error(libc::EINPROGRESS))
        }
        Err(e) => Err(e),
    }
}

/// `recv(2)` without waiting, into raw memory.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes.
pub(crate) unsafe fn recv_raw(fd: BorrowedFd<'_>, ptr: *mut u8, len: usize) -> io::Result<usize> {
    syscall!(recv(fd.as_raw_fd(), ptr.cast(), len, libc::MSG_DONTWAIT)).map(|n| n as usize)
}

/// `send(2)` without waiting and without `SIGPIPE`, from raw memory.
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` bytes.
pub(crate) unsafe fn send_raw(fd: BorrowedFd<'_>, ptr: *const u8, len: usize) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    syscall!(send(fd.as_raw_fd(), ptr.cast(), len, flags)).map(|n| n as usize)
}

/// `recvmsg(2)` without waiting.
///
/// # Safety
///
/// The header's pointers (name, iovecs and the memory they describe) must be
/// valid for the kernel to write, as the ops that build one (`op/msg.rs`) keep
/// them.
pub(crate) unsafe fn recvmsg_raw(fd: BorrowedFd<'_>, msg: &mut libc::msghdr) -> io::Result<usize> {
    syscall!(recvmsg(fd.as_raw_fd(), msg, libc::MSG_DONTWAIT)).map(|n| n as usize)
}

/// `sendmsg(2)` without waiting and without `SIGPIPE`.
///
/// # Safety
///
/// As for [`recvmsg_raw`], for the kernel to read.
pub(crate) unsafe fn sendmsg_raw(fd: BorrowedFd<'_>, msg: &libc::msghdr) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    syscall!(sendmsg(fd.as_raw_fd(), msg, flags)).map(|n| n as usize)
}

/// Sets an integer socket option (`SO_REUSEADDR`, `TCP_NODELAY`, ...).
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: i32,
    name: i32,
    value: i32,
) -> io::Result<()> {
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&value as *const i32).cast(),
        std::mem::size_of::<i32>() as libc::socklen_t
    ))
    .map(drop)
}

/// Reads an integer socket option.
pub(crate) fn getsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    syscall!(getsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&mut value as *mut i32).cast(),
        &mut len
    ))?;
    Ok(value)
}

/// The socket's pending error (`SO_ERROR`), cleared by reading it.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let errno = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((errno != 0).then(|| io::Error::from_raw_os_error(errno)))
}

/// `shutdown(2)`.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    syscall!(shutdown(fd.as_raw_fd(), how)).map(drop)
}

/// The address a socket is bound to.
pub(crate) fn getsockname(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let ptr = addr.as_mut_ptr();
    syscall!(getsockname(fd.as_raw_fd(), ptr, addr.len_mut()))?;
    Ok(addr)
}

/// The address of a connected socket's peer.
pub(crate) fn getpeername(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let ptr = addr.as_mut_ptr();
    syscall!(getpeername(fd.as_raw_fd(), ptr, addr.len_mut()))?;
    Ok(addr)
}

/// The peer's address as `accept4` reports it (`SO_PEERNAME`): unlike
/// `getpeername`, it still answers for a connection the peer reset after the
/// handshake (`getpeername` says `ENOTCONN` once the socket is closed).
pub(crate) fn peername_opt(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    // SO_PEERNAME refuses (EINVAL) a buffer longer than the address; the local
    // address has the peer's family, so its length is the one to ask for.
    let local_len = getsockname(fd)?.len();
    let mut addr = SockAddr::empty();
    *addr.len_mut() = local_len;
    let ptr = addr.as_mut_ptr();
    syscall!(getsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_PEERNAME,
        ptr.cast(),
        addr.len_mut()
    ))?;
    Ok(addr)
}
