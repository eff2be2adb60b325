//! `openat` (`IORING_OP_OPENAT`, 5.6): produces a descriptor.

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::blocking::Blocking;
use super::{OpKind, Readiness};
use crate::driver::sys;

/// Opens `path` (relative to the working directory) with `flags | O_CLOEXEC`.
/// If the future is dropped and the open still succeeds, the new descriptor is
/// closed when its CQE arrives.
pub(crate) struct OpenAt {
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpenAt {
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new(path: &Path, flags: i32, mode: u32) -> io::Result<OpenAt> {
        Ok(OpenAt::from_cstring(
            super::path::cstring(path)?,
            flags,
            mode,
        ))
    }

    /// Opens `path`, already checked for NUL bytes.
    pub(crate) fn from_cstring(path: CString, flags: i32, mode: u32) -> OpenAt {
        OpenAt { path, flags, mode }
    }
}

// SAFETY: the entry points at the `CString`'s heap buffer, which does not move when
// `self` moves and lives as long as `self`.
unsafe impl OpKind for OpenAt {
    type Output = io::Result<OwnedFd>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::OpenAt;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags | libc::O_CLOEXEC)
            .mode(self.mode)
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
        sys::open(&self.path, self.flags, self.mode).map(|fd| fd.into_raw_fd() as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<OwnedFd> {
        // SAFETY: a successful open returns a new descriptor that nothing else owns.
        result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn discard(&mut self, res: i32, _flags: u32, _woken: &mut Vec<std::task::Waker>) {
        if res >= 0 {
            // SAFETY: a successful open returns a new descriptor that nothing
            // else owns, and nobody will see this one: dropped, it is closed.
            drop(unsafe { sys::owned(res) });
        }
    }
}

impl Blocking for OpenAt {
    type Value = OwnedFd;
    const OPCODE: u8 = opcode::OpenAt::CODE;

    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<OwnedFd> + Send + 'static> {
        let (path, flags, mode) = (self.path.clone(), self.flags, self.mode);
        Ok(move || sys::open(&path, flags, mode))
    }
}
