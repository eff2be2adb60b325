//! Every plain system call the runtime makes goes through this folder, one file
//! per domain (after mio's `sys/unix/`):
//!
//! | file | calls |
//! |---|---|
//! | `fd.rs` | `close`, `read`/`write` and their positional and vectored forms, `poll`, `fcntl`, `ioctl(FIONREAD)` |
//! | `fs.rs` | `openat`, `statx`, `fsync`, `ftruncate`, `unlinkat`, `renameat`, `mkdirat` |
//! | `socket.rs` | `socket`, `bind`, `listen`, `accept4`, `connect`, `recv`/`send`(`msg`), socket options and names |
//! | `epoll.rs` | `epoll_create1`, `epoll_ctl`, `epoll_wait` |
//! | `eventfd.rs` | `eventfd`, and its signal and drain |
//! | `signal.rs` | signal sets and masks, `sigaction`, `signalfd`, `sigtimedwait` |
//! | `process.rs` | pidfds, `waitid`, `kill`, thread ids, the pre-`exec` hook |
//! | `sched.rs` | `sched_getaffinity`, `sched_setaffinity` |
//!
//! The [`syscall!`] helper (after mio's) turns the C convention "returns -1 and
//! sets errno" into an `io::Result`. Each wrapper is a safe function whose
//! arguments the type system checks: a descriptor is a [`BorrowedFd`] (open for
//! the call) or an [`OwnedFd`] (given up by the call), and a new one comes back as
//! an `OwnedFd`. A name ending in `_raw` means one thing: the call reads or writes
//! memory given as a raw pointer and a length (or iovecs, or a `msghdr` that
//! points to such memory), so it is `unsafe` and its caller vouches for that
//! memory.
//!
//! [`BorrowedFd`]: std::os::fd::BorrowedFd
//! [`OwnedFd`]: std::os::fd::OwnedFd

/// Calls a libc function and maps `-1` to `io::Error::last_os_error()`.
///
/// The caller must pass arguments that satisfy the C function's contract; every use is
/// inside this folder, in a wrapper whose own signature guarantees that.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: every invocation lives in this folder and passes arguments that
        // the enclosing wrapper has checked (open descriptors, pointers derived from
        // live values with their true lengths), or that the caller of an `unsafe fn`
        // wrapper guarantees under the contract stated on it.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

mod epoll;
mod eventfd;
mod fd;
mod fs;
mod process;
mod sched;
mod signal;
mod socket;

pub(crate) use self::epoll::*;
pub(crate) use self::eventfd::*;
pub(crate) use self::fd::*;
pub(crate) use self::fs::*;
pub(crate) use self::process::*;
pub(crate) use self::sched::*;
pub(crate) use self::signal::*;
pub(crate) use self::socket::*;

/// The calling thread's `errno`.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets the calling thread's `errno` (a signal handler restores it).
pub(crate) fn set_errno(value: i32) {
    // SAFETY: `__errno_location` has no preconditions.
    let slot = unsafe { libc::__errno_location() };
    // SAFETY: `slot` is the calling thread's errno, valid for the thread's life;
    // writing an int there is what setting errno means.
    unsafe { *slot = value };
}

/// Takes ownership of a descriptor a system call (or the kernel, in a CQE) just
/// returned.
///
/// # Safety
///
/// `fd` is open and nothing else owns it (a fresh descriptor from a successful
/// call: I/O safety).
pub(crate) unsafe fn owned(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: forwarded from the caller.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// [`owned`] for the two descriptors of a new pair (`pipe2`, `socketpair`).
///
/// # Safety
///
/// As for [`owned`], for both.
pub(crate) unsafe fn owned_pair(
    fds: [std::os::fd::RawFd; 2],
) -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    // SAFETY: forwarded from the caller.
    let a = unsafe { owned(fds[0]) };
    // SAFETY: forwarded from the caller.
    let b = unsafe { owned(fds[1]) };
    (a, b)
}
