//! `statx` (`IORING_OP_STATX`, 5.6): the status of a path, or of an open file.

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::ffi::CString;
use std::io;
use std::os::fd::AsFd;

use io_uring::{opcode, squeue, types};

use super::blocking::Blocking;
use super::{OpKind, Readiness};
use crate::driver::fd::SharedFd;
use crate::driver::sys;

/// What `statx` is asked for: the basic `stat` fields and the birth time.
pub(crate) const STATX_MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

/// A zeroed `statx` buffer.
pub(crate) fn empty_statx() -> Box<libc::statx> {
    // SAFETY: `statx` is plain old data (integers and nested integer structs), for
    // which all-zero bytes are a valid value.
    Box::new(unsafe { std::mem::zeroed() })
}

/// What a path's last component is when it is a symbolic link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Links {
    /// The link is followed: the status is its target's (`stat`).
    Follow,
    /// The link itself (`lstat`).
    Keep,
}

/// The status of `path` (relative to the working directory), or with `fd` and an
/// empty path, of the open file `fd` (`AT_EMPTY_PATH`).
pub(crate) struct Statx {
    /// Held open while the kernel uses it.
    fd: Option<SharedFd>,
    path: CString,
    flags: i32,
    /// Where the kernel writes the result (boxed: the entry points into it).
    buf: Box<libc::statx>,
}

impl Statx {
    /// The status of `path` (with [`Links::Keep`], of a symbolic link itself).
    pub(crate) fn path(path: CString, links: Links) -> Statx {
        let flags = match links {
            Links::Follow => 0,
            Links::Keep => libc::AT_SYMLINK_NOFOLLOW,
        };
        Statx {
            fd: None,
            path,
            flags,
            buf: empty_statx(),
        }
    }

    /// The status of the open file `fd`.
    pub(crate) fn fd(fd: SharedFd) -> Statx {
        Statx {
            fd: Some(fd),
            path: CString::default(),
            flags: libc::AT_EMPTY_PATH,
            buf: empty_statx(),
        }
    }

    fn dirfd(&self) -> i32 {
        self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw)
    }
}

// SAFETY: the entry points at the `CString`'s heap buffer and at the boxed `statx`,
// neither of which moves when `self` moves; both live as long as `self`.
unsafe impl OpKind for Statx {
    type Output = io::Result<Box<libc::statx>>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Statx;

    fn sqe(&mut self) -> squeue::Entry {
        let buf: *mut libc::statx = &mut *self.buf;
        opcode::Statx::new(
            types::Fd(self.dirfd()),
            self.path.as_ptr(),
            buf.cast::<types::statx>(),
        )
        .flags(self.flags)
        .mask(STATX_MASK)
        .build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Never
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::ANY
    }

    fn perform(&mut self) -> io::Result<u32> {
        let dir = self.fd.as_ref().map(AsFd::as_fd);
        sys::statx(dir, &self.path, self.flags, STATX_MASK, &mut self.buf).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        result.map(|_| self.buf)
    }
}

impl Blocking for Statx {
    type Value = Box<libc::statx>;
    const OPCODE: u8 = opcode::Statx::CODE;

    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<Box<libc::statx>> + Send + 'static> {
        // The descriptor stays with this thread's `SharedFd`: the job gets its own.
        let dir = self
            .fd
            .as_ref()
            .map(|fd| sys::dup_cloexec(fd.as_fd()))
            .transpose()?;
        let (path, flags) = (self.path.clone(), self.flags);
        Ok(move || {
            let mut stx = empty_statx();
            let dir = dir.as_ref().map(AsFd::as_fd);
            sys::statx(dir, &path, flags, STATX_MASK, &mut stx)?;
            Ok(stx)
        })
    }
}
