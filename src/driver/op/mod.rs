//! Operations: how a request becomes an SQE (or a system call), and how its result
//! comes back to the task that awaits it.
//!
//! Each file in this folder describes one kind of operation as an [`OpKind`]: the
//! resources it owns, its SQE, the equivalent non-blocking system call for the epoll
//! driver, and how a result becomes its output. [`Op`] is the future that drives any
//! kind: at its first poll it asks the descriptor's stash (`stash.rs`), then hands
//! the op to the current driver, and from then on dispatches to that driver's
//! state machine: `uring/op.rs` (SQE, CQE, the readiness poll after `EAGAIN`, the
//! cancellation of an op dropped in flight) or `epoll/op.rs` (the call, and the
//! wait for readiness).

mod accept;
mod accept_multi;
pub(crate) mod blocking;
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
mod send_now;
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
pub(crate) use send_now::send_now;
pub(crate) use statx::Statx;
pub(crate) use vectored::{ReadV, WriteV};
pub(crate) use waitid::{WaitChild, WaitVia};
pub(crate) use write::Write;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use io_uring::squeue;

#[cfg(feature = "fault-injection")]
use super::fault::{Fault, Faults};
use super::fd::SharedFd;
use super::metrics::OpCode;
use super::uring::Orphan;
use super::{epoll, uring, Handle, Interest, IoDriver};

/// With `RINGLOOP_FAULT_TRACE` set, reports each fault injected into an op, with
/// the op's kind and descriptor.
#[cfg(feature = "fault-injection")]
pub(crate) fn trace_fault<T: OpKind>(data: &T, fault: Option<Fault>) {
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

    /// The kind of op, for the driver's metrics (`driver/metrics.rs`).
    const CODE: OpCode;

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

    /// On epoll, the op's result when an event for its [`readiness`] woke it, if
    /// the event is the whole answer (a readiness poll whose caller retries its
    /// own call and copes with `EAGAIN`); `None` (the default) makes the call
    /// again.
    ///
    /// [`readiness`]: Self::readiness
    fn on_event(&self) -> Option<u32> {
        None
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

    /// Whether the op's entry may name its descriptor (the one of
    /// [`readiness`](Self::readiness)) by a registered-file slot instead
    /// ([`sqe_fixed`](Self::sqe_fixed), `uring/fixed.rs`).
    const FIXED_FILE: bool = false;

    /// The submission entry naming the descriptor by registered-file slot
    /// `slot` (`IOSQE_FIXED_FILE`); only asked of kinds whose
    /// [`FIXED_FILE`](Self::FIXED_FILE) is `true`.
    fn sqe_fixed(&mut self, slot: u32) -> squeue::Entry {
        let _ = slot;
        self.sqe()
    }

    /// Whether [`try_now`](Self::try_now) may finish the op (so that other kinds
    /// pay nothing for it).
    const TRY_NOW: bool = false;

    /// On io_uring, before the op is submitted: its result at once, if the op
    /// can finish without blocking and without the ring (a positional read of
    /// page-cached data, `nowait.rs`); `None` (the default) submits it. Only a
    /// result the ring would give too may be returned. Asked only of kinds whose
    /// [`TRY_NOW`](Self::TRY_NOW) is `true`.
    fn try_now(&mut self) -> Option<u32> {
        None
    }

    /// On io_uring, whether the first poll should make the call at once
    /// ([`perform`](Self::perform), which must not block) when the loop is quiet,
    /// and queue an entry only if the call would block (`EAGAIN`) or was
    /// interrupted: a stream's send when nothing of its writer is in flight (see
    /// `uring/op.rs`, `try_at_once`). `false` (the default): always an entry.
    fn try_at_once(&self) -> bool {
        false
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

/// Where an op is.
enum State {
    /// Not started: the stash may answer, or the op goes to the current driver.
    Idle,
    Uring(uring::op::InFlight),
    Epoll(epoll::op::Waiting),
    Done,
}

/// The future of one operation.
pub(crate) struct Op<T: OpKind> {
    data: Option<T>,
    state: State,
}

pub(crate) fn shut_down() -> io::Error {
    io::Error::other("the ringloop runtime that ran this operation has shut down")
}

pub(crate) fn result_of(res: i32) -> io::Result<u32> {
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
}

/// The first poll: the stash's answer (`Ready(Some)`), or the op handed to the
/// current driver (`Ready(None)`, `state` set).
fn start<T: OpKind>(
    data: &mut T,
    state: &mut State,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<u32>>> {
    if let Some(result) = ready!(data.poll_stash(cx)) {
        return Poll::Ready(Some(result));
    }
    let Some(driver) = Handle::current() else {
        let outside = io::Error::other("ringloop operation polled outside of a runtime");
        return Poll::Ready(Some(Err(outside)));
    };
    let on_ring = match &*driver.io() {
        IoDriver::Uring(_) => true,
        IoDriver::Epoll(_) => false,
        IoDriver::Closed(_) => return Poll::Ready(Some(Err(shut_down()))),
    };
    if T::TRY_NOW && on_ring && try_now_allowed(&driver, T::CODE) {
        if let Some(n) = data.try_now() {
            // Done without the ring: counted as started and ended at once.
            driver.op_counters().started(T::CODE);
            driver.op_counters().ended(T::CODE);
            return Poll::Ready(Some(Ok(n)));
        }
    }
    if on_ring && data.try_at_once() {
        if let Some(result) = uring::op::try_at_once(&driver, data) {
            // Counted as an op that started and ended at once.
            driver.op_counters().started(T::CODE);
            driver.op_counters().ended(T::CODE);
            return Poll::Ready(Some(result));
        }
    }
    *state = if on_ring {
        match uring::op::submit(driver, data) {
            Ok(in_flight) => State::Uring(in_flight),
            Err(e) => return Poll::Ready(Some(Err(e))),
        }
    } else {
        State::Epoll(epoll::op::Waiting::new(driver))
    };
    if let Some(driver) = state.driver() {
        driver.op_counters().started(T::CODE);
    }
    Poll::Ready(None)
}

/// Whether an op on io_uring may first try to finish without the ring
/// ([`OpKind::try_now`]): where the driver allows it, while few ops of its kind
/// are in the ring (`nowait::worth_trying`: many share the loop's
/// `io_uring_enter`, and the ring is then cheaper), while the polled future has
/// op budget left (like a call on epoll, so that a task whose reads all finish at
/// once still yields; without budget the op just goes to the ring), and never
/// while faults are injected (they are injected on the ring's path).
fn try_now_allowed(driver: &Handle, code: OpCode) -> bool {
    #[cfg(feature = "fault-injection")]
    if super::fault::active() {
        return false;
    }
    driver.features().nowait_reads
        && super::nowait::worth_trying(driver.op_counters().in_flight(code))
        && driver.take_op_budget()
}

impl State {
    /// The driver an op was handed to, while it is there.
    fn driver(&self) -> Option<&Handle> {
        match self {
            State::Uring(in_flight) => Some(in_flight.driver()),
            State::Epoll(waiting) => Some(waiting.driver()),
            State::Idle | State::Done => None,
        }
    }
}

impl<T: OpKind> Future for Op<T> {
    type Output = T::Output;

    /// Dispatches to the driver the op runs on (`uring/op.rs`, `epoll/op.rs`).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let Op { data, state } = self.get_mut();
        let Some(op) = data.as_mut() else {
            panic!("a ringloop operation was polled after it completed");
        };
        let (result, flags) = loop {
            break match state {
                State::Idle => match ready!(start(op, state, cx)) {
                    Some(result) => (result, 0),
                    None => continue,
                },
                State::Uring(in_flight) => ready!(in_flight.poll(op, cx)),
                State::Epoll(waiting) => (ready!(waiting.poll(op, cx)), 0),
                State::Done => unreachable!("an op's data goes with its state"),
            };
        };
        if let Some(driver) = state.driver() {
            driver.op_counters().ended(T::CODE);
        }
        *state = State::Done;
        let op = data.take().expect("op data is present until completion");
        Poll::Ready(op.complete(result, flags))
    }
}

impl<T: OpKind> Drop for Op<T> {
    /// An op dropped in the ring is cancelled there, its data kept until its CQE
    /// (`uring/op.rs`); one waiting on epoll leaves its waiters' list (`Waiting`'s
    /// own drop).
    fn drop(&mut self) {
        if let Some(driver) = self.state.driver() {
            driver.op_counters().ended(T::CODE);
        }
        if let (State::Uring(in_flight), Some(data)) = (
            std::mem::replace(&mut self.state, State::Done),
            self.data.take(),
        ) {
            in_flight.orphan(data);
        }
    }
}
