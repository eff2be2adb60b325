//! An [`Op`](crate::driver::op::Op) on epoll: the op's plain system call, made
//! when the descriptor may be ready, and a wait for readiness when it is not.
//!
//! ```text
//!   known not ready ─────────────────▶ waiting ──event──▶ call again
//!                                                        (or, for a readiness
//!                                                        poll, done: `on_event`)
//!   may be ready ──call──▶ result
//!                    └──EAGAIN──▶ waiting ──event──▶ call again
//!   dropped while waiting ──▶ the waiter leaves the descriptor's list
//! ```

use std::io;
use std::os::fd::{AsFd, RawFd};
use std::task::{Context, Poll};

#[cfg(feature = "fault-injection")]
use super::super::fault::{self, Fault};
use super::super::op::{shut_down, OpKind, Readiness};
use super::super::{Handle, Interest, IoDriver};
use super::{Epoll, WaitId};

/// An op on an epoll driver: the driver, and its place among the waiters of its
/// descriptor while it waits for readiness.
pub(crate) struct Waiting {
    driver: Handle,
    wait: Option<(RawFd, Interest, WaitId)>,
}

impl Waiting {
    pub(crate) fn new(driver: Handle) -> Waiting {
        Waiting { driver, wait: None }
    }

    /// The driver the op runs on.
    pub(crate) fn driver(&self) -> &Handle {
        &self.driver
    }

    /// Makes the op's call when the descriptor may be ready, else waits for an
    /// event; gives the call's result.
    pub(crate) fn poll<T: OpKind>(
        &mut self,
        data: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<u32>> {
        let driver = self.driver.clone();
        let mut io = driver.io();
        let IoDriver::Epoll(epoll) = &mut *io else {
            return Poll::Ready(Err(shut_down()));
        };
        if let Some((fd, interest, id)) = self.wait {
            if !epoll.poll_wait(fd, interest, id, cx.waker()) {
                return Poll::Pending;
            }
            self.wait = None;
            if let Some(result) = data.on_event() {
                // An event woke the op and that is its answer: no call to confirm it.
                return Poll::Ready(Ok(result));
            }
        }
        if let Readiness::Fd(fd, interest) = data.readiness() {
            epoll.adopt(fd);
            if !epoll.may_be_ready(fd.raw(), interest) {
                // Known not ready: wait without a failing call first.
                return self.wait_for(epoll, fd.as_fd(), interest, cx);
            }
        }
        if !driver.take_op_budget() {
            // This poll completed enough ops without waiting: let the loop run the
            // others first (the op starts over, unharmed).
            drop(io);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match call(epoll, data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match data.readiness() {
                Readiness::Fd(fd, interest) => self.wait_for(epoll, fd.as_fd(), interest, cx),
                Readiness::Never => Poll::Ready(Err(e)),
            },
            result => Poll::Ready(result),
        }
    }

    /// Waits until `fd` may be ready for `interest`.
    fn wait_for(
        &mut self,
        epoll: &mut Epoll,
        fd: std::os::fd::BorrowedFd<'_>,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<u32>> {
        use std::os::fd::AsRawFd;
        match epoll.wait_ready(fd, interest, cx.waker()) {
            Ok(id) => {
                self.wait = Some((fd.as_raw_fd(), interest, id));
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for Waiting {
    /// The op's future is dropped: its waiter leaves the descriptor's list.
    fn drop(&mut self) {
        let Some((fd, interest, id)) = self.wait else {
            return;
        };
        if let Some(mut io) = self.driver.try_io() {
            if let IoDriver::Epoll(epoll) = &mut *io {
                epoll.cancel_wait(fd, interest, id);
            }
        }
    }
}

/// The op's system call, made again when interrupted; a call that drained the
/// descriptor's buffer marks it not ready, so that the next op waits for an event.
fn call<T: OpKind>(epoll: &mut Epoll, data: &mut T) -> io::Result<u32> {
    loop {
        match perform(data) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(n) => {
                if let Readiness::Fd(fd, interest) = data.readiness() {
                    if data.drained(n) {
                        epoll.not_ready(fd.raw(), interest);
                    }
                }
                return Ok(n);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The op's system call, or the fault a test injects in its place.
fn perform<T: OpKind>(data: &mut T) -> io::Result<u32> {
    #[cfg(feature = "fault-injection")]
    {
        let decided = data
            .forced_fault()
            .or_else(|| fault::decide(data.faults(), false));
        super::super::op::trace_fault(data, decided);
        match decided {
            Some(Fault::Error(errno)) => return Err(io::Error::from_raw_os_error(errno)),
            Some(Fault::Short(r)) => data.shorten(r),
            None => {}
        }
    }
    data.perform()
}
