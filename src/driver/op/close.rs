//! `close` (`IORING_OP_CLOSE`, 5.6), awaited for its result: the explicit
//! `File::close().await`. (A descriptor that is simply dropped is closed through
//! the ring too, unawaited: `fd.rs`.)

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::sys;

/// Closes a descriptor and reports `close(2)`'s error.
///
/// The descriptor is owned until the entry is built: from then on the kernel owns
/// it (a `CLOSE` releases it whatever its result, as `close(2)` does). If the op
/// never reaches the kernel (polled outside a runtime, or after shutdown), it is
/// closed with `close(2)` when the op completes.
pub(crate) struct Close {
    fd: Option<OwnedFd>,
    /// The number, once handed to the kernel.
    submitted: Option<RawFd>,
}

impl Close {
    pub(crate) fn new(fd: OwnedFd) -> Close {
        Close {
            fd: Some(fd),
            submitted: None,
        }
    }
}

// SAFETY: a close entry holds no pointers.
unsafe impl OpKind for Close {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let fd = match (self.fd.take(), self.submitted) {
            (Some(fd), _) => fd.into_raw_fd(),
            (None, Some(fd)) => fd,
            (None, None) => unreachable!("a close op owns its descriptor until submitted"),
        };
        self.submitted = Some(fd);
        opcode::Close::new(types::Fd(fd)).build()
    }

    fn readiness(&self) -> Readiness<'_> {
        Readiness::Never
    }

    fn perform(&mut self) -> io::Result<u32> {
        match self.fd.take() {
            Some(fd) => sys::close(fd).map(|()| 0),
            None => Ok(0),
        }
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        match self.fd.take() {
            // Never reached the kernel: close it here, with its own result.
            Some(fd) => sys::close(fd),
            None => result.map(drop),
        }
    }
}
