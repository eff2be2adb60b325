//! [`Handle`]: one driver (io_uring or epoll) as its operations see it, and the
//! thread's current driver.
//!
//! A runtime creates its driver and makes it current while it runs (see
//! `runtime/context.rs`); everything that needs the driver later captures the handle:
//! an op, the driver current at its first poll (where it is submitted); a multishot
//! op, a listener and a released descriptor, the driver their op runs on. So the
//! driver never asks which runtime is running. The driver
//! imports nothing from the runtime: the runtime composes it with its timers and
//! ready queue (see ARCHITECTURE.md, "Layers").

use std::cell::{Cell, RefCell, RefMut};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::rc::{Rc, Weak};
use std::task::Waker;
use std::time::Duration;

use super::features::{Features, KernelCompat};
use super::metrics::{DriverMetrics, OpCounters};
use super::op::blocking::Offload;
use super::release::Released;
use super::{Driver, IoDriver};

/// Operations a future may complete without waiting in one poll (see
/// [`Handle::take_op_budget`]); tokio's cooperative budget has the same size.
const OP_BUDGET: u32 = 128;

struct Inner {
    io: RefCell<IoDriver>,
    features: Features,
    /// Operations the future being polled may still complete without waiting (on
    /// epoll, where a file read or a ready socket's call finishes at its first
    /// poll) before it must yield: reset for each poll of a task.
    op_budget: Cell<u32>,
    /// Multishot ops released where this driver could not cancel them at once, and
    /// the descriptors to close after them (see `release.rs`).
    released: RefCell<Vec<Released>>,
    /// Runs the blocking form of an op the ring cannot run (see `op/blocking.rs`).
    offload: Offload,
    /// Ops in flight and started, by kind (`metrics.rs`).
    ops: OpCounters,
    /// Registered-file slots to empty at the next turn, released while the
    /// driver was busy (`uring/fixed.rs`).
    fixed_later: RefCell<Vec<u32>>,
}

/// A shared reference to one driver (cheap to clone; not `Send`).
#[derive(Clone)]
pub(crate) struct Handle(Rc<Inner>);

/// A reference to a driver that does not keep it alive: what a descriptor's state
/// remembers about the driver holding its multishot op.
#[derive(Clone, Debug)]
pub(crate) struct WeakHandle(Weak<Inner>);

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("kind", &self.features.driver)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The driver of the runtime this thread is running, if any.
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

impl Handle {
    /// Creates the driver `choice` asks for (see [`IoDriver::new`]).
    pub(crate) fn new(
        choice: Driver,
        compat: KernelCompat,
        entries: u32,
        unpark_fd: BorrowedFd<'static>,
        offload: Offload,
    ) -> io::Result<Handle> {
        let (io, features) = IoDriver::new(choice, compat, entries, unpark_fd)?;
        Ok(Handle(Rc::new(Inner {
            io: RefCell::new(io),
            features,
            op_budget: Cell::new(OP_BUDGET),
            released: RefCell::new(Vec::new()),
            offload,
            ops: OpCounters::default(),
            fixed_later: RefCell::new(Vec::new()),
        })))
    }

    /// The thread's current driver (the running runtime's), if any.
    pub(crate) fn current() -> Option<Handle> {
        Handle::with_current(Handle::clone)
    }

    /// Runs `f` with the thread's current driver; `None` when there is none (also
    /// while the thread's locals are being destroyed).
    pub(crate) fn with_current<R>(f: impl FnOnce(&Handle) -> R) -> Option<R> {
        CURRENT
            .try_with(|current| current.borrow().as_ref().map(f))
            .ok()
            .flatten()
    }

    /// Makes `handle` the thread's current driver and returns the one it replaces
    /// (the runtime calls this when it enters and leaves `block_on`).
    pub(crate) fn set_current(handle: Option<Handle>) -> Option<Handle> {
        CURRENT
            .try_with(|current| current.replace(handle))
            .ok()
            .flatten()
    }

    /// The driver, mutably. Never held across a call into user code.
    pub(crate) fn io(&self) -> RefMut<'_, IoDriver> {
        self.0.io.borrow_mut()
    }

    /// The driver, unless something up the stack already holds it (a destructor
    /// run from inside the driver).
    pub(crate) fn try_io(&self) -> Option<RefMut<'_, IoDriver>> {
        self.0.io.try_borrow_mut().ok()
    }

    /// What the driver's probe found.
    pub(crate) fn features(&self) -> &Features {
        &self.0.features
    }

    /// How the driver runs a job on the blocking pool.
    pub(crate) fn offload(&self) -> Offload {
        self.0.offload
    }

    pub(crate) fn downgrade(&self) -> WeakHandle {
        WeakHandle(Rc::downgrade(&self.0))
    }

    /// Whether `weak` refers to this driver.
    pub(crate) fn is(&self, weak: &WeakHandle) -> bool {
        std::ptr::eq(Rc::as_ptr(&self.0), weak.0.as_ptr())
    }

    pub(super) fn released(&self) -> RefMut<'_, Vec<Released>> {
        self.0.released.borrow_mut()
    }

    /// A fresh operation budget, for the poll that is about to start.
    pub(crate) fn reset_op_budget(&self) {
        self.0.op_budget.set(OP_BUDGET);
    }

    /// Takes one unit of the polled future's budget of operations that complete
    /// without waiting; `false` when it is spent: the operation must yield (wake
    /// itself and return `Pending`) instead, so that a task reading a file in a
    /// loop on epoll cannot keep the thread from its other tasks and its timers.
    pub(crate) fn take_op_budget(&self) -> bool {
        let left = self.0.op_budget.get();
        if left == 0 {
            return false;
        }
        self.0.op_budget.set(left - 1);
        true
    }

    /// One loop turn: the released multishot ops are cancelled, queued work is
    /// submitted and completions or readiness collected, waiting up to `timeout`
    /// (`None`: until something happens). Wakers of the operations that finished
    /// are appended to `woken`.
    pub(crate) fn turn(&self, timeout: Option<Duration>, woken: &mut Vec<Waker>) -> io::Result<()> {
        super::release::cancel_released(self);
        let mut io = self.io();
        self.release_fixed_slots(&mut io);
        let result = io.turn(timeout, woken);
        // Slots whose descriptors' last clones went in this turn's reap: emptied
        // now, not at a next turn that an idle runtime may never make.
        self.release_fixed_slots(&mut io);
        result
    }

    /// Empties the registered-file slots queued by `release_fixed_later`.
    fn release_fixed_slots(&self, io: &mut IoDriver) {
        if let IoDriver::Uring(uring) = io {
            for slot in self.0.fixed_later.take() {
                let (ring, table) = uring.fixed_parts();
                table.release(ring, slot);
            }
        }
    }

    /// Empties registered-file slot `slot` at the next turn: its descriptor's
    /// last clone went while the driver was busy (`uring/fixed.rs`).
    pub(crate) fn release_fixed_later(&self, slot: u32) {
        self.0.fixed_later.borrow_mut().push(slot);
    }

    /// The io_uring ring's descriptor (`None` on epoll and after shutdown): what
    /// another driver's [`msg_ring_wake`](Self::msg_ring_wake) aims at.
    pub(crate) fn ring_fd(&self) -> Option<RawFd> {
        match &*self.0.io.try_borrow().ok()? {
            IoDriver::Uring(uring) => Some(uring.ring_fd()),
            _ => None,
        }
    }

    /// Ends the wait of the io_uring ring `target_fd` with an `IORING_OP_MSG_RING`
    /// sent from this driver's ring and submitted at once. `false` when it was not
    /// sent: this is no io_uring driver, its probe has no `MSG_RING`, something up
    /// the stack holds the driver (a destructor run from inside it), or the
    /// submission failed; the caller then wakes the target another way. Sent, but
    /// failed by the kernel, its `token` (an opaque value below 2^61) comes back
    /// from [`take_failed_wakes`](Self::take_failed_wakes) after a later turn.
    pub(crate) fn msg_ring_wake(&self, target_fd: RawFd, token: u64) -> bool {
        if !self.0.features.msg_ring {
            return false;
        }
        match self.try_io().as_deref_mut() {
            Some(IoDriver::Uring(uring)) => uring.msg_ring_wake(target_fd, token),
            _ => false,
        }
    }

    /// Moves the tokens of the `MSG_RING` wakes that the kernel failed to `into`
    /// (see [`msg_ring_wake`](Self::msg_ring_wake)).
    pub(crate) fn take_failed_wakes(&self, into: &mut Vec<u64>) {
        if let Some(IoDriver::Uring(uring)) = self.try_io().as_deref_mut() {
            uring.take_failed_wakes(into);
        }
    }

    /// The counters of ops by kind, which the `Op` future keeps.
    #[inline]
    pub(crate) fn op_counters(&self) -> &OpCounters {
        &self.0.ops
    }

    /// A snapshot of the driver's counters (`metrics.rs`). The kernel's side is
    /// left out (as `None`) when something up the stack holds the driver.
    pub(crate) fn metrics(&self) -> DriverMetrics {
        let kernel = self
            .try_io()
            .map(|mut io| io.kernel_counts())
            .unwrap_or_default();
        DriverMetrics::new(self.0.features.driver, &self.0.ops, kernel)
    }

    /// `MSG_RING` wakes this driver sent and received so far (0 on epoll).
    pub(crate) fn msg_ring_counts(&self) -> (u64, u64) {
        match self.0.io.try_borrow().ok().and_then(|io| io.uring_stats()) {
            Some(stats) => (stats.msg_ring_sent, stats.msg_ring_received),
            None => (0, 0),
        }
    }

    /// Hands the entries queued since the last turn to the kernel, without
    /// waiting (when the loop stops running for now).
    pub(crate) fn submit_pending(&self) {
        self.io().submit_pending();
    }

    /// Cancels and completes every operation in flight, closes the ring or the
    /// epoll instance, then the descriptors released meanwhile.
    pub(crate) fn shutdown(&self, woken: &mut Vec<Waker>) {
        self.io().shutdown(woken);
        super::release::cancel_released(self);
    }
}

impl WeakHandle {
    /// The driver, if it still exists.
    pub(crate) fn upgrade(&self) -> Option<Handle> {
        self.0.upgrade().map(Handle)
    }

    /// Whether this is the thread's current driver.
    pub(crate) fn is_current(&self) -> bool {
        Handle::with_current(|h| h.is(self)).unwrap_or(false)
    }

    /// Whether both refer to the same driver.
    pub(crate) fn same(&self, other: &WeakHandle) -> bool {
        self.0.ptr_eq(&other.0)
    }
}
