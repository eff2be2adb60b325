//! `close` (`IORING_OP_CLOSE`, 5.6), awaited for its result: the explicit
//! `File::close().await`. (A descriptor that is simply dropped is closed through
//! the ring too, unawaited: `fd.rs`.)

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::task::Waker;

use io_uring::{opcode, squeue, types};

use super::{OpKind, Readiness};
use crate::driver::sys;

/// Closes a descriptor and reports `close(2)`'s error.
///
/// The descriptor is owned until the entry is built: from then on the kernel owns
/// it (a `CLOSE` that runs releases it whatever its result, as `close(2)` does). If
/// the op never reaches the kernel (polled outside a runtime, or after shutdown), it
/// is closed with `close(2)` when the op completes; if the kernel cancelled it
/// before it ran, likewise ([`close_cancelled`]).
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
    const CODE: crate::driver::metrics::OpCode = crate::driver::metrics::OpCode::Close;

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

    fn retry_interrupted(&self) -> bool {
        // The descriptor is released even when close reports EINTR: a second
        // close could close a descriptor opened since under the same number.
        false
    }

    fn perform(&mut self) -> io::Result<u32> {
        match self.fd.take() {
            Some(fd) => sys::close(fd).map(|()| 0),
            None => Ok(0),
        }
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        match (self.fd.take(), self.submitted, result) {
            // Never reached the kernel: close it here, with its own result.
            (Some(fd), _, _) => sys::close(fd),
            // Cancelled before it ran (shutdown): close it here.
            (None, Some(fd), Err(e)) if e.raw_os_error() == Some(libc::ECANCELED) => {
                // SAFETY: the kernel did not run the close, so `fd` is still open and
                // still this op's: nothing else closed it or took its number.
                sys::close(unsafe { OwnedFd::from_raw_fd(fd) })
            }
            (None, _, result) => result.map(drop),
        }
    }

    fn discard(&mut self, res: i32, _flags: u32, _woken: &mut Vec<Waker>) {
        if let Some(fd) = self.submitted {
            close_cancelled(fd, res);
        }
    }
}

/// After the CQE of a `CLOSE` of `fd` that nobody awaits: if the kernel cancelled
/// it before it ran (`res` is `-ECANCELED`), the descriptor is still open, and is
/// closed here with `close(2)`.
///
/// A `CLOSE` normally runs at once, in the submitting `io_uring_enter`, where no
/// cancellation can reach it. But the kernel hands the close of a file with a
/// `flush` method (overlayfs, the usual `/tmp` of a container; NFS, FUSE) to an
/// io-wq worker, and a cancellation that arrives while it waits in io-wq's queue
/// (its future dropped, or the runtime shut down) takes it out: it completes with
/// `ECANCELED`, and the descriptor stays open.
pub(crate) fn close_cancelled(fd: RawFd, res: i32) {
    if res == -libc::ECANCELED {
        // SAFETY: the kernel did not run this close, so `fd` is still open and owned
        // by the op that handed it over: nothing else closed it or reuses its number.
        let _ = sys::close(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}
