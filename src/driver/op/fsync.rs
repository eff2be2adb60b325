//! `fsync`/`fdatasync` (`IORING_OP_FSYNC`, 5.1, with `IORING_FSYNC_DATASYNC`) and
//! `ftruncate` (`IORING_OP_FTRUNCATE`, 6.9).

#[cfg(feature = "fault-injection")]
use crate::driver::fault::Faults;
use std::io;
use std::os::fd::AsFd;

use io_uring::{opcode, squeue, types};

use super::blocking::Blocking;
use super::{OpKind, Readiness};
use crate::driver::fd::SharedFd;
use crate::driver::sys::{self, Flush};

/// Flushes the file's data (and, unless `datasync`, all its metadata) to the device.
pub(crate) struct Fsync {
    fd: SharedFd,
    flush: Flush,
}

impl Fsync {
    pub(crate) fn new(fd: SharedFd, flush: Flush) -> Fsync {
        Fsync { fd, flush }
    }
}

// SAFETY: an fsync entry holds no pointers.
unsafe impl OpKind for Fsync {
    type Output = io::Result<()>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Fsync;

    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.flush == Flush::Data {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
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
        sys::fsync(self.fd.as_fd(), self.flush).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// Sets the file's size to `len`, like `ftruncate(2)` (the ring op exists from 6.9).
pub(crate) struct Ftruncate {
    fd: SharedFd,
    len: u64,
}

impl Ftruncate {
    pub(crate) fn new(fd: SharedFd, len: u64) -> Ftruncate {
        Ftruncate { fd, len }
    }
}

// SAFETY: an ftruncate entry holds no pointers.
unsafe impl OpKind for Ftruncate {
    type Output = io::Result<()>;
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Ftruncate;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.raw()), self.len).build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Never
    }

    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::ANY
    }

    fn perform(&mut self) -> io::Result<u32> {
        sys::ftruncate(self.fd.as_fd(), self.len).map(|()| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

impl Blocking for Fsync {
    type Value = ();
    const OPCODE: u8 = opcode::Fsync::CODE;

    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<()> + Send + 'static> {
        // The descriptor stays with this thread's `SharedFd`: the job gets its own.
        let (fd, flush) = (sys::dup_cloexec(self.fd.as_fd())?, self.flush);
        Ok(move || sys::fsync(fd.as_fd(), flush))
    }
}

impl Blocking for Ftruncate {
    type Value = ();
    const OPCODE: u8 = opcode::Ftruncate::CODE;

    fn job(&self) -> io::Result<impl FnOnce() -> io::Result<()> + Send + 'static> {
        let (fd, len) = (sys::dup_cloexec(self.fd.as_fd())?, self.len);
        Ok(move || sys::ftruncate(fd.as_fd(), len))
    }
}
