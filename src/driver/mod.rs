//! The only code that talks to the kernel.
//!
//! [`IoDriver`] is what a runtime owns: an io_uring instance (`uring/`) or an epoll
//! instance (`epoll/`), chosen at startup, and after shutdown just the table of
//! results that outlived it. Operations (`op/`) are described once and run on
//! either. Plain system calls go through `sys.rs`.

pub(crate) mod buf;
pub(crate) mod epoll;
pub(crate) mod fd;
pub(crate) mod features;
pub(crate) mod op;
pub(crate) mod sockaddr;
pub(crate) mod stash;
pub(crate) mod sys;
pub(crate) mod uring;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::Duration;

use features::{Features, KernelCompat};
use uring::OpTable;

use crate::runtime::Driver;

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

thread_local! {
    /// Multishot ops of descriptors released where their runtime could not cancel
    /// them at once (outside its `block_on`, inside another runtime's, or while its
    /// driver was busy). Until cancelled, such an op keeps its listener open in the
    /// kernel: the port stays taken and connections are still accepted (and closed).
    /// The runtime cancels them at its next turn ([`cancel_released`]).
    static RELEASED_MULTISHOTS: RefCell<Vec<stash::Multishot>> = const { RefCell::new(Vec::new()) };
}

/// Closes a descriptor whose last [`fd::SharedFd`] went away, cancelling the
/// multishot op still armed on it.
///
/// On a running io_uring runtime the close goes through the ring (no system call
/// of its own); elsewhere, or while the driver is busy (a descriptor released by an
/// op's completion), it is a plain `close(2)`. A multishot op that cannot be
/// cancelled now is cancelled by its runtime's next turn (or its shutdown).
///
/// A listening socket is closed at once instead, so that its address can be bound
/// again right away (a server restarted in place, a test binding the same port):
/// its multishot accept, which holds the socket open in the kernel, is cancelled
/// through an immediate `io_uring_enter`, then the descriptor is closed.
pub(crate) fn release_fd(fd: RawFd, multishot: Option<stash::Multishot>, listener: bool) {
    let mut multishot = multishot;
    let closed = crate::runtime::context::with_core(|core| {
        let Ok(mut driver) = core.driver.try_borrow_mut() else {
            return false;
        };
        match &mut *driver {
            IoDriver::Uring(uring) => {
                if let Some(m) = multishot.filter(|m| m.runtime == core.id()) {
                    if listener {
                        uring.cancel_now(m.key);
                    } else {
                        uring.cancel(m.key);
                    }
                    multishot = None;
                }
                !listener && uring.submit_close(fd).is_ok()
            }
            IoDriver::Epoll(epoll) => {
                epoll.forget(fd);
                false
            }
            IoDriver::Closed(_) => false,
        }
    });
    if closed != Some(true) {
        sys::close_raw(fd);
    }
    if let Some(m) = multishot {
        cancel_later(m);
    }
}

/// Queues multishot op `m` for cancellation at its runtime's next turn, for a
/// caller that cannot reach that runtime's driver now. The op must answer
/// [`Orphan::released`](uring::Orphan::released) with `true` by then.
pub(crate) fn cancel_later(m: stash::Multishot) {
    // Ignored only while the thread is exiting, when its runtimes are gone.
    let _ = RELEASED_MULTISHOTS.try_with(|r| r.borrow_mut().push(m));
}

/// Cancels the multishot ops of runtime `runtime` whose descriptors were released
/// where it could not cancel them (see [`release_fd`]); at its shutdown (`driver`
/// closed), just forgets them, since the shutdown cancels everything.
pub(crate) fn cancel_released(runtime: u64, driver: &mut IoDriver) {
    let _ = RELEASED_MULTISHOTS.try_with(|released| {
        let mut released = released.borrow_mut();
        if released.is_empty() {
            return;
        }
        released.retain(|m| {
            if m.runtime != runtime {
                return true;
            }
            if let IoDriver::Uring(uring) = driver {
                // The op may have ended by itself since, and its key gone to
                // another op: cancel only what is still that released op.
                if uring.table().is_released(m.key) {
                    uring.cancel(m.key);
                }
            }
            false
        });
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
    /// when io_uring is unavailable (DESIGN decision 5).
    pub(crate) fn new(
        choice: Driver,
        compat: KernelCompat,
        entries: u32,
        unpark_fd: RawFd,
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

    /// io_uring counters (tests).
    #[cfg(test)]
    pub(crate) fn uring_stats(&self) -> Option<uring::Stats> {
        match self {
            IoDriver::Uring(uring) => Some(uring.stats),
            _ => None,
        }
    }
}
