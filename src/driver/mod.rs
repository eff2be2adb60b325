//! The only code that talks to the kernel.
//!
//! [`IoDriver`] is what a runtime owns: an io_uring instance (`uring/`) or an epoll
//! instance (`epoll/`), chosen at startup, and after shutdown just the table of
//! results that outlived it. Operations (`op/`) are described once and run on
//! either. Plain system calls go through `sys/` (one file per domain, one
//! `syscall!` helper).

pub(crate) mod epoll;
#[cfg(feature = "fault-injection")]
pub(crate) mod fault;
pub(crate) mod fd;
pub(crate) mod features;
mod handle;
pub(crate) mod metrics;
mod nowait;
pub(crate) mod op;
mod release;
pub(crate) mod signal;
pub(crate) mod sigpipe;
pub(crate) mod sockaddr;
pub(crate) mod stash;
pub(crate) mod sys;
pub(crate) mod uring;

#[cfg(test)]
pub(crate) mod tests;

use std::io;
use std::os::fd::BorrowedFd;
use std::task::Waker;
use std::time::Duration;

pub(crate) use handle::{Handle, WeakHandle};
pub(crate) use release::{cancel_elsewhere, cancel_later, release_fd};

use features::{Features, KernelCompat};
use uring::OpTable;

/// Which driver a runtime should use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Driver {
    /// io_uring, or epoll where io_uring is unavailable (old kernel, seccomp,
    /// `kernel.io_uring_disabled`, memlock limits). The default.
    #[default]
    Auto,
    /// io_uring only: building the runtime fails if it is unavailable.
    IoUring,
    /// epoll, even where io_uring works (for comparisons, or to avoid io_uring).
    Epoll,
}

/// The direction an op waits for (epoll's readiness, io_uring's `POLL_ADD`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// A runtime's connection to the kernel.
// There is one per runtime, so the size of the io_uring variant costs nothing; boxing
// it would add an indirection to every submission.
#[allow(clippy::large_enum_variant)]
pub(crate) enum IoDriver {
    Uring(uring::Uring),
    Epoll(epoll::Epoll),
    /// After shutdown: results of io_uring ops whose futures outlived the runtime.
    Closed(OpTable),
}

/// Forgets `fd` in the current runtime's epoll driver, if any: for a descriptor
/// about to be closed other than by [`release_fd`] (an explicit close).
pub(crate) fn forget_fd(fd: BorrowedFd<'_>) {
    Handle::with_current(|driver| {
        if let Some(mut io) = driver.try_io() {
            if let IoDriver::Epoll(epoll) = &mut *io {
                epoll.forget(fd);
            }
        }
    });
}

/// Tells the current runtime's epoll driver, if any, that `fd` is not ready for
/// `interest`: a call made outside the driver (the compat layer's own `recv` or
/// `send`) reported `EAGAIN` or drained the kernel's buffer. A readiness op armed
/// next then waits for the descriptor's next event without probing it with
/// `poll(2)` first. To be called right after the call, within the same poll: an
/// event the driver took between the call and this mark would be forgotten.
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
pub(crate) fn mark_not_ready(fd: &fd::SharedFd, interest: Interest) {
    Handle::with_current(|driver| {
        if let Some(mut io) = driver.try_io() {
            if let IoDriver::Epoll(epoll) = &mut *io {
                epoll.adopt(fd);
                epoll.not_ready(fd.raw(), interest);
            }
        }
    });
}

/// Whether an io_uring setup error means "io_uring is unavailable here" (so `Auto`
/// falls back to epoll) rather than a bad argument.
fn uring_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        // No syscall (old kernel, or seccomp returning ENOSYS); refused by seccomp,
        // kernel.io_uring_disabled=2, or a group restriction; memlock limit (before
        // 5.12 rings are charged to RLIMIT_MEMLOCK) or no memory.
        Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOMEM)
    )
}

impl IoDriver {
    /// Creates the driver `choice` asks for; `Auto` falls back from io_uring to epoll
    /// when io_uring is unavailable (ARCHITECTURE.md, decision 5).
    pub(crate) fn new(
        choice: Driver,
        compat: KernelCompat,
        entries: u32,
        unpark_fd: BorrowedFd<'static>,
    ) -> io::Result<(IoDriver, Features)> {
        let epoll = || -> io::Result<(IoDriver, Features)> {
            Ok((
                IoDriver::Epoll(epoll::Epoll::new(unpark_fd)?),
                Features::epoll(),
            ))
        };
        match choice {
            Driver::Epoll => epoll(),
            Driver::IoUring => {
                let uring = uring::Uring::new(entries, compat, unpark_fd)?;
                let features = uring.features().clone();
                Ok((IoDriver::Uring(uring), features))
            }
            Driver::Auto => match uring::Uring::new(entries, compat, unpark_fd) {
                Ok(uring) => {
                    let features = uring.features().clone();
                    Ok((IoDriver::Uring(uring), features))
                }
                Err(e) if uring_unavailable(&e) => epoll(),
                Err(e) => Err(e),
            },
        }
    }

    /// One loop turn: submit queued work and collect completions or readiness,
    /// waiting up to `timeout` (`None`: until something happens). Wakers of the
    /// operations that finished are appended to `woken`.
    pub(crate) fn turn(
        &mut self,
        timeout: Option<Duration>,
        woken: &mut Vec<Waker>,
    ) -> io::Result<()> {
        match self {
            IoDriver::Uring(uring) => uring.turn(timeout, woken),
            IoDriver::Epoll(epoll) => epoll.turn(timeout, woken),
            IoDriver::Closed(_) => Ok(()),
        }
    }

    /// Hands the entries queued since the last turn to the kernel, without
    /// waiting (when the loop stops running for now).
    pub(crate) fn submit_pending(&mut self) {
        if let IoDriver::Uring(uring) = self {
            uring.submit_pending();
        }
    }

    /// Cancels and completes every operation in flight, then closes the ring or the
    /// epoll instance.
    pub(crate) fn shutdown(&mut self, woken: &mut Vec<Waker>) {
        let table = match std::mem::replace(self, IoDriver::Closed(OpTable::default())) {
            IoDriver::Uring(uring) => uring.shutdown(woken),
            IoDriver::Epoll(epoll) => {
                epoll.shutdown(woken);
                OpTable::default()
            }
            IoDriver::Closed(table) => table,
        };
        *self = IoDriver::Closed(table);
    }

    /// The io_uring op table (also after shutdown); `None` on epoll.
    pub(crate) fn table(&mut self) -> Option<&mut OpTable> {
        match self {
            IoDriver::Uring(uring) => Some(uring.table()),
            IoDriver::Closed(table) => Some(table),
            IoDriver::Epoll(_) => None,
        }
    }

    /// What the io_uring or epoll instance counted, for a metrics snapshot.
    pub(crate) fn kernel_counts(&mut self) -> metrics::KernelCounts {
        match self {
            IoDriver::Uring(uring) => uring.kernel_counts(),
            IoDriver::Epoll(epoll) => epoll.kernel_counts(),
            IoDriver::Closed(_) => metrics::KernelCounts::default(),
        }
    }

    /// io_uring counters (tests, and the `MSG_RING` wake counts).
    pub(crate) fn uring_stats(&self) -> Option<uring::Stats> {
        match self {
            IoDriver::Uring(uring) => Some(uring.stats),
            _ => None,
        }
    }
}
