//! Calls on paths and files: what the blocking pool runs where the ring has no
//! opcode for it, and the epoll driver always.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::owned;

/// `openat(2)` relative to the working directory, with `O_CLOEXEC` added.
pub(crate) fn open(path: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let fd = syscall!(openat(
        libc::AT_FDCWD,
        path.as_ptr(),
        flags | libc::O_CLOEXEC,
        mode as libc::c_uint
    ))?;
    // SAFETY: `openat` just returned this descriptor.
    Ok(unsafe { owned(fd) })
}

/// `statx(2)`: the status of `path` relative to `dir` (the working directory when
/// `None`; with `AT_EMPTY_PATH` and an empty path, of `dir` itself).
pub(crate) fn statx(
    dir: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: i32,
    mask: u32,
    buf: &mut libc::statx,
) -> io::Result<()> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    syscall!(statx(dirfd, path.as_ptr(), flags, mask, buf)).map(drop)
}

/// What an `fsync` flushes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flush {
    /// The data and all the metadata (`fsync(2)`).
    All,
    /// The data, and only the metadata needed to read it back (`fdatasync(2)`).
    Data,
}

/// `fsync(2)`, or `fdatasync(2)` when `datasync`.
pub(crate) fn fsync(fd: BorrowedFd<'_>, flush: Flush) -> io::Result<()> {
    if flush == Flush::Data {
        syscall!(fdatasync(fd.as_raw_fd())).map(drop)
    } else {
        syscall!(fsync(fd.as_raw_fd())).map(drop)
    }
}

/// `ftruncate(2)`.
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file size out of range"))?;
    syscall!(ftruncate(fd.as_raw_fd(), len)).map(drop)
}

/// `unlinkat(2)` relative to the working directory (`AT_REMOVEDIR` in `flags`
/// removes a directory).
pub(crate) fn unlinkat(path: &CStr, flags: i32) -> io::Result<()> {
    syscall!(unlinkat(libc::AT_FDCWD, path.as_ptr(), flags)).map(drop)
}

/// `renameat(2)` relative to the working directory.
pub(crate) fn renameat(from: &CStr, to: &CStr) -> io::Result<()> {
    syscall!(renameat(
        libc::AT_FDCWD,
        from.as_ptr(),
        libc::AT_FDCWD,
        to.as_ptr()
    ))
    .map(drop)
}

/// `mkdirat(2)` relative to the working directory.
pub(crate) fn mkdirat(path: &CStr, mode: u32) -> io::Result<()> {
    syscall!(mkdirat(libc::AT_FDCWD, path.as_ptr(), mode as libc::mode_t)).map(drop)
}
