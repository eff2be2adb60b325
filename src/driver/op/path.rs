//! Operations on names: `unlinkat` and `renameat` (`IORING_OP_UNLINKAT`/`RENAMEAT`,
//! 5.11) and `mkdirat` (`IORING_OP_MKDIRAT`, 5.15), relative to the working
//! directory. Each owns its paths (`CString`s) until the kernel is done with them.

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::blocking::Blocking;
use super::{OpKind, Readiness};
use crate::driver::sys;

/// `path` as a C string; a path with a NUL byte is `InvalidInput`.
pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Removes a name (`AT_REMOVEDIR` in `flags`: an empty directory).
pub(crate) struct UnlinkAt {
    path: CString,
    flags: i32,
}

impl UnlinkAt {
    pub(crate) fn new(path: CString, flags: i32) -> UnlinkAt {
        UnlinkAt { path, flags }
    }
}

// SAFETY: the entry points at the `CString`'s heap buffer, which does not move when
// `self` moves and lives as long as `self`.
unsafe impl OpKind for UnlinkAt {
    type Output = io::Result<()>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::UnlinkAt;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
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
        sys::unlinkat(&self.path, self.flags).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// Renames `from` to `to`, replacing `to` if it exists (like `rename(2)`).
pub(crate) struct RenameAt {
    from: CString,
    to: CString,
}

impl RenameAt {
    pub(crate) fn new(from: CString, to: CString) -> RenameAt {
        RenameAt { from, to }
    }
}

// SAFETY: the entry points at the two `CString`s' heap buffers, which do not move
// when `self` moves and live as long as `self`.
unsafe impl OpKind for RenameAt {
    type Output = io::Result<()>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::RenameAt;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::RenameAt::new(
            types::Fd(libc::AT_FDCWD),
            self.from.as_ptr(),
            types::Fd(libc::AT_FDCWD),
            self.to.as_ptr(),
        )
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
        sys::renameat(&self.from, &self.to).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// Creates a directory with permission bits `mode` (before the umask).
pub(crate) struct MkDirAt {
    path: CString,
    mode: u32,
}

impl MkDirAt {
    pub(crate) fn new(path: CString, mode: u32) -> MkDirAt {
        MkDirAt { path, mode }
    }
}

// SAFETY: the entry points at the `CString`'s heap buffer, which does not move when
// `self` moves and lives as long as `self`.
unsafe impl OpKind for MkDirAt {
    type Output = io::Result<()>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::MkDirAt;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode as libc::mode_t)
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
        sys::mkdirat(&self.path, self.mode).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

impl Blocking for UnlinkAt {
    type Value = ();
    const OPCODE: u8 = opcode::UnlinkAt::CODE;

    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<()> + Send + 'static> {
        let (path, flags) = (self.path.clone(), self.flags);
        Ok(move || sys::unlinkat(&path, flags))
    }
}

impl Blocking for RenameAt {
    type Value = ();
    const OPCODE: u8 = opcode::RenameAt::CODE;

    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<()> + Send + 'static> {
        let (from, to) = (self.from.clone(), self.to.clone());
        Ok(move || sys::renameat(&from, &to))
    }
}

impl Blocking for MkDirAt {
    type Value = ();
    const OPCODE: u8 = opcode::MkDirAt::CODE;

    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<()> + Send + 'static> {
        let (path, mode) = (self.path.clone(), self.mode);
        Ok(move || sys::mkdirat(&path, mode))
    }
}
