//! An [`Op`](crate::driver::op::Op) on io_uring: its entry in the ring, the CQE it
//! waits for, the readiness poll it falls back to on `EAGAIN`, and its
//! cancellation when its future is dropped first.
//!
//! ```text
//!   submit ──▶ Op{key} ──CQE──▶ result
//!                │  ▲  -EAGAIN (old kernels, O_NONBLOCK fds)
//!                ▼  │
//!              Poll{key} ── readiness CQE, resubmit
//!   dropped in flight ──▶ data boxed into the op table, ASYNC_CANCEL queued;
//!                         freed (its result discarded) when the CQE arrives
//! ```

use std::io;
use std::task::{ready, Context, Poll, Waker};

use io_uring::{opcode, types};

#[cfg(feature = "fault-injection")]
use super::super::fault::{self, Fault};
use super::super::op::{result_of, shut_down, OpKind, Readiness};
use super::super::{Handle, Interest, IoDriver};
use super::{Orphan, Orphaned};

/// What the kernel holds for an io_uring op.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// The op itself.
    Op,
    /// A `POLL_ADD` waiting for the descriptor to be ready, after the op reported
    /// `EAGAIN`.
    Poll,
}

/// An op in the ring: the driver it was submitted to, its table key, and what the
/// kernel holds.
pub(crate) struct InFlight {
    driver: Handle,
    key: usize,
    stage: Stage,
}

/// An op whose readiness poll was in flight when it was dropped: the op itself never
/// ran, so there is nothing to discard.
struct PollStage<T>(#[allow(dead_code)] T);

impl<T> Orphan for PollStage<T> {
    fn discard(&mut self, _res: i32, _flags: u32, _woken: &mut Vec<Waker>) {}
}

/// Makes an op's call at once, before any entry is queued, for an op that asks
/// ([`OpKind::try_at_once`]) on a quiet loop ([`Uring::quiet`](super::Uring::quiet):
/// its last reap found at most a completion or two). `None`: the op goes to the
/// ring as usual: the loop is busy (its entries ride the turn's one
/// `io_uring_enter`), the poll's op budget is spent, or the call would block
/// (`EAGAIN`) or was interrupted.
///
/// Why: a send queued on a quiet loop completes inline during the turn's
/// `io_uring_enter`, and its completion ends that enter's wait at once, so the
/// loop enters a second time to wait for the next receive; a `send(2)` here
/// costs one plain system call instead, and leaves one enter per request.
pub(crate) fn try_at_once<T: OpKind>(driver: &Handle, data: &mut T) -> Option<io::Result<u32>> {
    match &mut *driver.io() {
        IoDriver::Uring(uring) if uring.quiet() => {}
        _ => return None,
    }
    if !driver.take_op_budget() {
        return None;
    }
    #[cfg(feature = "fault-injection")]
    {
        let decided = data
            .forced_fault()
            .or_else(|| fault::decide(data.faults(), true));
        super::super::op::trace_fault(data, decided);
        match decided {
            Some(Fault::Error(errno)) if errno == libc::EAGAIN => return None,
            Some(Fault::Error(errno)) => return Some(Err(io::Error::from_raw_os_error(errno))),
            Some(Fault::Short(r)) => data.shorten(r),
            None => {}
        }
    }
    let result = match data.perform() {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            return None
        }
        result => result,
    };
    if let IoDriver::Uring(uring) = &mut *driver.io() {
        uring.stats.ops_at_once += 1;
    }
    Some(result)
}

/// Queues `data`'s entry on `driver`'s ring.
pub(crate) fn submit<T: OpKind>(driver: Handle, data: &mut T) -> io::Result<InFlight> {
    let key = submit_stage(&driver, &mut driver.io(), data, Stage::Op)?;
    Ok(InFlight {
        driver,
        key,
        stage: Stage::Op,
    })
}

/// Queues the op's entry (or its readiness poll) on the ring of `driver` (whose
/// `io` is borrowed).
fn submit_stage<T: OpKind>(
    driver: &Handle,
    io: &mut IoDriver,
    data: &mut T,
    stage: Stage,
) -> io::Result<usize> {
    let IoDriver::Uring(uring) = io else {
        return Err(shut_down());
    };
    #[cfg(feature = "fault-injection")]
    if stage == Stage::Op {
        let decided = data
            .forced_fault()
            .or_else(|| fault::decide(data.faults(), true));
        super::super::op::trace_fault(data, decided);
        match decided {
            Some(Fault::Error(errno)) => return uring.submit_fault(errno),
            Some(Fault::Short(r)) => data.shorten(r),
            None => {}
        }
    }
    // A descriptor many reads went through is named by its registered slot.
    let slot = match (T::FIXED_FILE, stage, data.readiness()) {
        (true, Stage::Op, Readiness::Fd(fd, _)) => fd.fixed().slot_for(driver, uring, fd.raw()),
        _ => None,
    };
    let sqe = match (stage, data.readiness()) {
        (Stage::Op, _) => match slot {
            Some(slot) => data.sqe_fixed(slot),
            None => data.sqe(),
        },
        (Stage::Poll, Readiness::Fd(fd, interest)) => {
            let events = match interest {
                Interest::Read => libc::POLLIN,
                Interest::Write => libc::POLLOUT,
            };
            opcode::PollAdd::new(types::Fd(fd.raw()), events as u32).build()
        }
        (Stage::Poll, Readiness::Never) => unreachable!("only fd ops wait for readiness"),
    };
    // SAFETY: `OpKind`'s contract: the entry only points into memory owned by the op
    // data, which stays in place while the data lives. The data lives in the `Op`
    // future until the CQE, or moves, boxed, into the op table when the future is
    // dropped first (`InFlight::orphan`), until the CQE.
    unsafe { uring.submit_op(sqe) }
}

impl InFlight {
    /// The driver the op was submitted to.
    pub(crate) fn driver(&self) -> &Handle {
        &self.driver
    }

    /// Waits for the CQE; on `EAGAIN` polls for readiness and resubmits, on `EINTR`
    /// resubmits. Gives the op's result and the CQE's flags.
    pub(crate) fn poll<T: OpKind>(
        &mut self,
        data: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<(io::Result<u32>, u32)> {
        loop {
            let (res, flags) = {
                let mut io = self.driver.io();
                let table = io.table().expect("an io_uring op on an epoll driver");
                ready!(table.poll(self.key, cx))
            };
            let next = match (self.stage, data.readiness()) {
                // The fd is O_NONBLOCK and the kernel (5.10 for reads and writes)
                // reported EAGAIN instead of polling: poll, then retry.
                (Stage::Op, Readiness::Fd(..)) if res == -libc::EAGAIN => Stage::Poll,
                // Interrupted before it did anything: again, as on epoll.
                (Stage::Op, _) if res == -libc::EINTR && data.retry_interrupted() => Stage::Op,
                (Stage::Poll, _) if res >= 0 => Stage::Op,
                (Stage::Poll, _) => return Poll::Ready((result_of(res), 0)),
                (Stage::Op, _) => return Poll::Ready((result_of(res), flags)),
            };
            match submit_stage(&self.driver, &mut self.driver.io(), data, next) {
                Ok(key) => (self.key, self.stage) = (key, next),
                Err(e) => return Poll::Ready((Err(e), 0)),
            }
        }
    }

    /// The op's future is dropped before its CQE: the data moves into the op table
    /// until the CQE, and the op is cancelled (at once for an op that asks, else at
    /// the next submission). A CQE already reaped is discarded here.
    pub(crate) fn orphan<T: OpKind>(self, mut data: T) {
        let Some(mut io) = self.driver.try_io() else {
            // Only reachable if a driver method re-entered user code, which none
            // does; leaking is the safe answer if it ever happens.
            std::mem::forget(data);
            return;
        };
        let urgent = data.cancel_at_once();
        let orphan: Box<dyn Orphan> = match self.stage {
            Stage::Op => {
                data.orphaned();
                Box::new(data)
            }
            Stage::Poll => Box::new(PollStage(data)),
        };
        let Some(table) = io.table() else { return };
        match table.orphan(self.key, orphan) {
            Orphaned::StillInFlight => match &mut *io {
                IoDriver::Uring(uring) if urgent => uring.cancel_now(self.key),
                IoDriver::Uring(uring) => uring.cancel(self.key),
                _ => {}
            },
            Orphaned::Completed(res, flags, mut orphan) => {
                drop(io);
                let mut woken = Vec::new();
                orphan.discard(res, flags, &mut woken);
                woken.into_iter().for_each(Waker::wake);
            }
            Orphaned::Lost => {}
        }
    }
}
