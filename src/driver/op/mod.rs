//! Operations: how a request becomes an SQE (or a system call), and how its result
//! comes back to the task that awaits it.
//!
//! Each file in this folder describes one kind of operation as an [`OpKind`]: the
//! resources it owns, its SQE, the equivalent non-blocking system call for the epoll
//! driver, and how a result becomes its output. [`Op`] is the future that drives any
//! kind through either driver:
//!
//! ```text
//!   Idle ──first poll──▶ Uring{key} ──CQE──▶ output
//!                          │  ▲  -EAGAIN (old kernels, O_NONBLOCK fds)
//!                          ▼  │
//!                       Uring{key, Poll} ── readiness CQE, resubmit
//!
//!   Idle ──first poll──▶ Epoll ──EAGAIN──▶ waiting on epoll ──ready──▶ retry
//! ```
//!
//! Dropping an `Op` while the kernel holds it moves the resources into the op table
//! and queues an `ASYNC_CANCEL`; they are freed (and any descriptor the op produced
//! is closed) when the CQE arrives.

mod accept;
mod accept_multi;
mod close;
mod connect;
mod fsync;
mod msg;
#[cfg_attr(not(test), allow(dead_code))]
mod nop;
mod open;
pub(crate) mod path;
mod poll;
mod read;
mod recv;
mod recv_multi;
mod send;
pub(crate) mod statx;
mod vectored;
mod waitid;
mod write;

pub(crate) use accept::accept;
// Used directly by tests; sockets go through `accept`.
#[cfg(test)]
pub(crate) use accept::Accept;
pub(crate) use accept_multi::AcceptMulti;
pub(crate) use close::{close_cancelled, Close};
pub(crate) use connect::Connect;
pub(crate) use fsync::{Fsync, Ftruncate};
pub(crate) use msg::{RecvMsg, SendMsg};
#[cfg(test)]
pub(crate) use nop::Nop;
pub(crate) use open::OpenAt;
pub(crate) use path::{MkDirAt, RenameAt, UnlinkAt};
pub(crate) use poll::PollAdd;
pub(crate) use read::Read;
pub(crate) use recv::Recv;
pub(crate) use recv_multi::{limit_supported as recv_limit_supported, RecvStream};
pub(crate) use send::Send;
pub(crate) use statx::Statx;
pub(crate) use vectored::{ReadV, WriteV};
pub(crate) use waitid::{WaitChild, WaitVia};
pub(crate) use write::Write;

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types};

use super::buf::IoBufMut;
use super::epoll::{Interest, WaitId};
#[cfg(feature = "fault-injection")]
use super::fault::{self, Fault, Faults};
use super::fd::SharedFd;
use super::stash::{Received, StashWait, Take};
use super::uring::{Orphan, Orphaned};
use super::{Handle, IoDriver};

/// The stash step of a stream read (`OpKind::poll_stash`; see `stash.rs`): waits
/// through `wait` while a cancelled read's result is due.
fn take_stashed<B: IoBufMut>(
    fd: &SharedFd,
    bufs: &mut [B],
    wait: &mut StashWait,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<u32>>> {
    let take = fd.state().take_bytes(bufs);
    stash_step(take, fd, wait, cx)
}

/// What an op does with the stash's answer: goes on (leaving the list of waiters
/// if it was in it), or waits for the next stash event.
fn stash_step(
    take: Take,
    fd: &SharedFd,
    wait: &mut StashWait,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<u32>>> {
    match take {
        Take::Submit => {
            wait.leave();
            Poll::Ready(None)
        }
        Take::Done(result) => {
            wait.leave();
            Poll::Ready(Some(result))
        }
        Take::Wait => {
            wait.wait(fd, cx);
            Poll::Pending
        }
    }
}

/// Whether a cancelled receive's error is news for the next reader (a reset, a
/// timeout), not an artefact of the cancellation or of a non-blocking retry.
fn stashable_error(res: i32) -> bool {
    res < 0 && ![libc::ECANCELED, libc::EINTR, libc::EAGAIN].contains(&-res)
}

/// The CQE of a cancelled stream read: keep what it received (`bytes(n)` copies
/// the `n` bytes out of its buffers) for the next read, and count it done.
fn stash_stream_result(
    fd: &SharedFd,
    res: i32,
    bytes: impl FnOnce(usize) -> Vec<u8>,
    woken: &mut Vec<Waker>,
) {
    stash_result(
        fd,
        res,
        false,
        |n| Received::Bytes {
            data: bytes(n),
            taken: 0,
        },
        woken,
    );
}

/// The CQE of a cancelled read: keep `received(n)` (when `n > 0`, or `n == 0` for
/// a `datagram` receive, where 0 is an empty datagram rather than the end of a
/// stream) or the error for the next read, and count it done.
fn stash_result(
    fd: &SharedFd,
    res: i32,
    datagram: bool,
    received: impl FnOnce(usize) -> Received,
    woken: &mut Vec<Waker>,
) {
    let mut state = fd.state();
    if res > 0 || (res == 0 && datagram) {
        state.stash(received(res as usize));
    } else if stashable_error(res) {
        state.stash(Received::Error(-res));
    }
    state.remove_pending(woken);
}

/// With `RINGLOOP_FAULT_TRACE` set, reports each fault injected into an op, with
/// the op's kind and descriptor.
#[cfg(feature = "fault-injection")]
fn trace_fault<T: OpKind>(data: &T, fault: Option<Fault>) {
    if let Some(fault) = fault {
        if std::env::var_os("RINGLOOP_FAULT_TRACE").is_some() {
            let fd = match data.readiness() {
                Readiness::Fd(fd, _) => fd.raw(),
                Readiness::Never => -1,
            };
            eprintln!(
                "ringloop fault: {} fd {fd}: {fault:?}",
                std::any::type_name::<T>()
            );
        }
    }
}

/// When an op can wait for readiness instead of blocking.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Readiness<'a> {
    /// The system call never reports `EAGAIN` (files, `nop`): just make it.
    Never,
    /// On `EAGAIN`, wait until `fd` is ready in this direction and retry.
    Fd(&'a SharedFd, Interest),
}

/// One kind of operation.
///
/// # Safety
///
/// Every pointer in the entry returned by [`sqe`](Self::sqe) must point into memory
/// owned by `self` that stays valid, in place, for as long as `self` lives, even when
/// `self` is moved: heap memory (a `Vec`'s buffer, a `Box`, a `CString`), never a
/// field of `self` itself.
pub(crate) unsafe trait OpKind: Unpin + 'static {
    /// What awaiting the op gives.
    type Output;

    /// The submission entry (the driver sets its `user_data`).
    fn sqe(&mut self) -> squeue::Entry;

    /// How the epoll driver waits when [`perform`](Self::perform) would block.
    fn readiness(&self) -> Readiness<'_>;

    /// The same operation as a plain system call, for the epoll driver; must not
    /// block when [`readiness`](Self::readiness) names a descriptor.
    fn perform(&mut self) -> io::Result<u32>;

    /// Turns the kernel's result into the output, giving back owned resources.
    fn complete(self, result: io::Result<u32>, flags: u32) -> Self::Output;

    /// On epoll, whether a successful call with result `n` drained the kernel's
    /// buffer (a short read or write on a stream), so that the next op waits for
    /// an event instead of making a call that would fail with `EAGAIN`.
    fn drained(&self, n: u32) -> bool {
        let _ = n;
        false
    }

    /// Before the op is submitted (on either driver): whether it can finish at once
    /// from what a cancelled op on the same descriptor received (`Ready(Some)`, the
    /// result as the kernel would give it), must wait for such an op's CQE
    /// (`Pending`, woken later), or should go to the kernel (`Ready(None)`). See
    /// `stash.rs`.
    fn poll_stash(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<u32>>> {
        let _ = cx;
        Poll::Ready(None)
    }

    /// Whether a dropped op should be cancelled before the drop returns (an
    /// `io_uring_enter` of its own) rather than at the next loop turn: an accept,
    /// whose listener may be dropped next and must then be closed at once.
    fn cancel_at_once(&self) -> bool {
        false
    }

    /// The op's future was dropped while the kernel holds the op; its result will
    /// reach [`discard`](Self::discard).
    fn orphaned(&mut self) {}

    /// The op finished with result `res` but nobody will read it: hand on or release
    /// what it produced (stash received bytes, close a descriptor it returned).
    fn discard(&mut self, res: i32, flags: u32, woken: &mut Vec<Waker>) {
        let _ = (res, flags, woken);
    }

    /// Whether an `EINTR` from the kernel means the op did nothing and is to be
    /// made again (as the epoll path makes the call again): all but a close.
    fn retry_interrupted(&self) -> bool {
        true
    }

    /// The faults the injector may give this op: the errors the kernel really
    /// gives such an op, and a short count where it moves bytes (see
    /// `driver/fault.rs`).
    #[cfg(feature = "fault-injection")]
    fn faults(&self) -> Faults {
        Faults::NONE
    }

    /// A fault a test forced on this op (`fault::fail_next_send`), taken as the
    /// op starts; the seeded injector decides only when there is none.
    #[cfg(feature = "fault-injection")]
    fn forced_fault(&self) -> Option<Fault> {
        None
    }

    /// Caps the bytes the op moves (a short read or write) with random number `r`
    /// (see `fault::short_len`); only called for ops whose [`faults`] have `SHORT`.
    ///
    /// [`faults`]: Self::faults
    #[cfg(feature = "fault-injection")]
    fn shorten(&mut self, r: u32) {
        let _ = r;
    }
}

impl<T: OpKind> Orphan for T {
    fn discard(&mut self, res: i32, flags: u32, woken: &mut Vec<Waker>) {
        OpKind::discard(self, res, flags, woken);
    }
}

/// An op whose readiness poll was in flight when it was dropped: the op itself never
/// ran, so there is nothing to discard.
struct PollStage<T>(#[allow(dead_code)] T);

impl<T> Orphan for PollStage<T> {
    fn discard(&mut self, _res: i32, _flags: u32, _woken: &mut Vec<Waker>) {}
}

/// What the kernel holds for an io_uring op.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// The op itself.
    Op,
    /// A `POLL_ADD` waiting for the descriptor to be ready, after the op reported
    /// `EAGAIN`.
    Poll,
}

enum State {
    Idle,
    Uring {
        driver: Handle,
        key: usize,
        stage: Stage,
    },
    Epoll {
        driver: Handle,
        wait: Option<(RawFd, Interest, WaitId)>,
    },
    Done,
}

/// The future of one operation.
pub(crate) struct Op<T: OpKind> {
    data: Option<T>,
    state: State,
}

fn shut_down() -> io::Error {
    io::Error::other("the ringloop runtime that ran this operation has shut down")
}

fn result_of(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

impl<T: OpKind> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            data: Some(data),
            state: State::Idle,
        }
    }

    fn data(&mut self) -> &mut T {
        self.data
            .as_mut()
            .expect("op data is present until completion")
    }

    fn finish(&mut self, result: io::Result<u32>, flags: u32) -> T::Output {
        self.state = State::Done;
        self.data
            .take()
            .expect("op data is present until completion")
            .complete(result, flags)
    }

    /// Queues the op (or its readiness poll) on the ring.
    fn submit_uring(&mut self, driver: &mut IoDriver, stage: Stage) -> io::Result<usize> {
        let IoDriver::Uring(uring) = driver else {
            return Err(shut_down());
        };
        #[cfg(feature = "fault-injection")]
        if stage == Stage::Op {
            let decided = self
                .data()
                .forced_fault()
                .or_else(|| fault::decide(self.data().faults(), true));
            trace_fault::<T>(self.data(), decided);
            match decided {
                Some(Fault::Error(errno)) => return uring.submit_fault(errno),
                Some(Fault::Short(r)) => self.data().shorten(r),
                None => {}
            }
        }
        let sqe = match stage {
            Stage::Op => self.data().sqe(),
            Stage::Poll => match self.data().readiness() {
                Readiness::Fd(fd, interest) => {
                    let events = match interest {
                        Interest::Read => libc::POLLIN,
                        Interest::Write => libc::POLLOUT,
                    };
                    opcode::PollAdd::new(types::Fd(fd.raw()), events as u32).build()
                }
                Readiness::Never => unreachable!("only fd ops wait for readiness"),
            },
        };
        // SAFETY: `OpKind`'s contract: the entry only points into memory owned by
        // the op data, which stays in place while the data lives. The data lives in
        // this future until the CQE (`finish`), or moves, boxed, into the op table
        // when the future is dropped first (`Drop`), until the CQE.
        unsafe { uring.submit_op(sqe) }
    }

    fn poll_idle(&mut self) -> Option<T::Output> {
        let Some(handle) = Handle::current() else {
            return Some(self.finish(
                Err(io::Error::other(
                    "ringloop operation polled outside of a runtime",
                )),
                0,
            ));
        };
        let mut driver = handle.io();
        match &mut *driver {
            IoDriver::Uring(_) => match self.submit_uring(&mut driver, Stage::Op) {
                Ok(key) => {
                    drop(driver);
                    self.state = State::Uring {
                        driver: handle,
                        key,
                        stage: Stage::Op,
                    };
                    None
                }
                Err(e) => {
                    drop(driver);
                    Some(self.finish(Err(e), 0))
                }
            },
            IoDriver::Epoll(_) => {
                drop(driver);
                self.state = State::Epoll {
                    driver: handle,
                    wait: None,
                };
                None
            }
            IoDriver::Closed(_) => {
                drop(driver);
                Some(self.finish(Err(shut_down()), 0))
            }
        }
    }
}

impl<T: OpKind> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Idle => {
                    match this.data().poll_stash(cx) {
                        Poll::Ready(Some(result)) => return Poll::Ready(this.finish(result, 0)),
                        Poll::Ready(None) => {}
                        Poll::Pending => return Poll::Pending,
                    }
                    if let Some(output) = this.poll_idle() {
                        return Poll::Ready(output);
                    }
                }
                State::Uring {
                    driver: handle,
                    key,
                    stage,
                } => {
                    let (handle, key, stage) = (handle.clone(), *key, *stage);
                    let mut driver = handle.io();
                    let (res, flags) = match driver.table() {
                        Some(table) => match table.poll(key, cx) {
                            Poll::Ready(done) => done,
                            Poll::Pending => return Poll::Pending,
                        },
                        None => unreachable!("an io_uring op on an epoll driver"),
                    };
                    let retry_interrupted = this.data().retry_interrupted();
                    let retry = match (stage, this.data().readiness()) {
                        // The fd is O_NONBLOCK and the kernel (5.10 for reads and
                        // writes) reported EAGAIN instead of polling: poll, then retry.
                        (Stage::Op, Readiness::Fd(..)) if res == -libc::EAGAIN => Stage::Poll,
                        // Interrupted before it did anything: again, as on epoll.
                        (Stage::Op, _) if res == -libc::EINTR && retry_interrupted => Stage::Op,
                        (Stage::Poll, _) if res >= 0 => Stage::Op,
                        (Stage::Poll, _) => {
                            drop(driver);
                            return Poll::Ready(this.finish(result_of(res), 0));
                        }
                        (Stage::Op, _) => {
                            drop(driver);
                            return Poll::Ready(this.finish(result_of(res), flags));
                        }
                    };
                    let submitted = this.submit_uring(&mut driver, retry);
                    drop(driver);
                    match submitted {
                        Ok(key) => {
                            this.state = State::Uring {
                                driver: handle,
                                key,
                                stage: retry,
                            };
                        }
                        Err(e) => return Poll::Ready(this.finish(Err(e), 0)),
                    }
                }
                State::Epoll {
                    driver: handle,
                    wait,
                } => {
                    let handle = handle.clone();
                    let mut driver = handle.io();
                    let IoDriver::Epoll(epoll) = &mut *driver else {
                        drop(driver);
                        return Poll::Ready(this.finish(Err(shut_down()), 0));
                    };
                    if let Some((fd, interest, id)) = *wait {
                        if !epoll.poll_wait(fd, interest, id, cx.waker()) {
                            return Poll::Pending;
                        }
                        *wait = None;
                    }
                    let data = this.data.as_mut().expect("op data is present");
                    let readiness = match data.readiness() {
                        Readiness::Fd(fd, interest) => {
                            epoll.adopt(fd);
                            Some((fd.raw(), interest))
                        }
                        Readiness::Never => None,
                    };
                    if let Readiness::Fd(shared, interest) = data.readiness() {
                        let fd = shared.raw();
                        if !epoll.may_be_ready(fd, interest) {
                            // Known not ready: wait without a failing call first.
                            match epoll.wait_ready(shared.as_fd(), interest, cx.waker()) {
                                Ok(id) => {
                                    *wait = Some((fd, interest, id));
                                    return Poll::Pending;
                                }
                                Err(e) => {
                                    drop(driver);
                                    return Poll::Ready(this.finish(Err(e), 0));
                                }
                            }
                        }
                    }
                    if !handle.take_op_budget() {
                        // This poll completed enough ops without waiting: let the
                        // loop run the others first (the op starts over, unharmed).
                        drop(driver);
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    #[cfg(feature = "fault-injection")]
                    let decided = data
                        .forced_fault()
                        .or_else(|| fault::decide(data.faults(), false));
                    #[cfg(feature = "fault-injection")]
                    trace_fault::<T>(data, decided);
                    #[cfg(feature = "fault-injection")]
                    let performed = match decided {
                        Some(Fault::Error(errno)) => Err(io::Error::from_raw_os_error(errno)),
                        Some(Fault::Short(r)) => {
                            data.shorten(r);
                            data.perform()
                        }
                        None => data.perform(),
                    };
                    #[cfg(not(feature = "fault-injection"))]
                    let performed = data.perform();
                    let result = match performed {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => match data.readiness() {
                            Readiness::Fd(shared, interest) => {
                                let fd = shared.raw();
                                match epoll.wait_ready(shared.as_fd(), interest, cx.waker()) {
                                    Ok(id) => {
                                        *wait = Some((fd, interest, id));
                                        return Poll::Pending;
                                    }
                                    Err(e) => Err(e),
                                }
                            }
                            Readiness::Never => Err(e),
                        },
                        Ok(n) => {
                            if let Some((fd, interest)) = readiness {
                                if data.drained(n) {
                                    epoll.not_ready(fd, interest);
                                }
                            }
                            Ok(n)
                        }
                        other => other,
                    };
                    drop(driver);
                    return Poll::Ready(this.finish(result, 0));
                }
                State::Done => panic!("a ringloop operation was polled after it completed"),
            }
        }
    }
}

impl<T: OpKind> Drop for Op<T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Uring {
                driver: handle,
                key,
                stage,
            } => {
                let Some(mut data) = self.data.take() else {
                    return;
                };
                let Some(mut driver) = handle.try_io() else {
                    // Only reachable if a driver method re-entered user code, which
                    // none does; leaking is the safe answer if it ever happens.
                    std::mem::forget(data);
                    return;
                };
                let urgent = data.cancel_at_once();
                let orphan: Box<dyn Orphan> = match stage {
                    Stage::Op => {
                        data.orphaned();
                        Box::new(data)
                    }
                    Stage::Poll => Box::new(PollStage(data)),
                };
                let Some(table) = driver.table() else { return };
                match table.orphan(key, orphan) {
                    Orphaned::StillInFlight => {
                        if let IoDriver::Uring(uring) = &mut *driver {
                            if urgent {
                                uring.cancel_now(key);
                            } else {
                                uring.cancel(key);
                            }
                        }
                    }
                    Orphaned::Completed(res, flags, mut orphan) => {
                        drop(driver);
                        let mut woken = Vec::new();
                        orphan.discard(res, flags, &mut woken);
                        woken.into_iter().for_each(Waker::wake);
                    }
                    Orphaned::Lost => {}
                }
            }
            State::Epoll {
                driver: handle,
                wait: Some((fd, interest, id)),
            } => {
                if let Some(mut driver) = handle.try_io() {
                    if let IoDriver::Epoll(epoll) = &mut *driver {
                        epoll.cancel_wait(fd, interest, id);
                    }
                }
            }
            State::Idle | State::Epoll { wait: None, .. } | State::Done => {}
        }
    }
}
