//! The driver's own counters, and their public snapshot [`DriverMetrics`].
//!
//! The driver knows no runtime (ARCHITECTURE.md, "Layers"): it counts what only it
//! sees, and the runtime puts the snapshot into its
//! [`RuntimeMetrics`](crate::metrics::RuntimeMetrics).
//!
//! * Ops in flight by [`OpCode`]: a `Cell<u64>` per kind in the driver's handle,
//!   raised when an op's future hands the op to the driver (its first poll) and
//!   lowered when the future completes or is dropped: two plain increments per op.
//! * `io_uring_enter` calls and the submission entries they took (the kernel's
//!   answer to each enter, added up): one addition per enter, in the driver.
//! * Completion-queue overflows: the kernel's own counter (`cq.koverflow`), read
//!   when a snapshot is taken; nothing is counted on the way.
//! * Provided-buffer exhaustion: `ENOBUFS` completions of the multishot
//!   receives that pick from the runtime's buffer ring, counted where such a
//!   completion is handled (a rare path).
//! * `epoll_wait` calls on epoll, one addition per call.
//! * Waits ended by the eventfd or by another ring's `MSG_RING`: one addition
//!   where the driver handles that completion or event.

use std::cell::Cell;
use std::fmt;

use super::features::DriverKind;

/// The kinds of operation the driver runs, for [`DriverMetrics::ops_in_flight`].
///
/// Each names the io_uring opcode the op uses; on epoll, the system call that
/// does the same (`ReadV` is `readv(2)`, `Statx` is `statx(2)`, and so on).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum OpCode {
    /// `IORING_OP_ACCEPT` (a single accept; a listener's multishot accept is not
    /// counted, see [`DriverMetrics::ops_in_flight`]).
    Accept,
    /// `IORING_OP_CONNECT`.
    Connect,
    /// `IORING_OP_RECV` (a single receive).
    Recv,
    /// `IORING_OP_SEND`.
    Send,
    /// `IORING_OP_RECVMSG`.
    RecvMsg,
    /// `IORING_OP_SENDMSG`.
    SendMsg,
    /// `IORING_OP_READ`.
    Read,
    /// `IORING_OP_WRITE`.
    Write,
    /// `IORING_OP_READV`.
    ReadV,
    /// `IORING_OP_WRITEV`.
    WriteV,
    /// `IORING_OP_OPENAT`.
    OpenAt,
    /// `IORING_OP_CLOSE` (an explicit close that is awaited).
    Close,
    /// `IORING_OP_FSYNC`.
    Fsync,
    /// `IORING_OP_FTRUNCATE` (where the kernel lacks it, `ftruncate(2)` runs on
    /// the blocking pool, uncounted).
    Ftruncate,
    /// `IORING_OP_STATX`.
    Statx,
    /// `IORING_OP_MKDIRAT`.
    MkDirAt,
    /// `IORING_OP_RENAMEAT`.
    RenameAt,
    /// `IORING_OP_UNLINKAT`.
    UnlinkAt,
    /// `IORING_OP_POLL_ADD` (a wait for readiness).
    PollAdd,
    /// `IORING_OP_WAITID` (a wait for a child process).
    WaitId,
    /// `IORING_OP_NOP`, and ops of the crate's own tests.
    Nop,
}

impl OpCode {
    /// How many kinds there are.
    pub const COUNT: usize = 21;

    /// Every kind, in the order of their indices.
    pub const ALL: [OpCode; OpCode::COUNT] = [
        OpCode::Accept,
        OpCode::Connect,
        OpCode::Recv,
        OpCode::Send,
        OpCode::RecvMsg,
        OpCode::SendMsg,
        OpCode::Read,
        OpCode::Write,
        OpCode::ReadV,
        OpCode::WriteV,
        OpCode::OpenAt,
        OpCode::Close,
        OpCode::Fsync,
        OpCode::Ftruncate,
        OpCode::Statx,
        OpCode::MkDirAt,
        OpCode::RenameAt,
        OpCode::UnlinkAt,
        OpCode::PollAdd,
        OpCode::WaitId,
        OpCode::Nop,
    ];

    /// The kind's place in [`ALL`](Self::ALL).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kind's name, as the kernel's header spells the opcode (`"ACCEPT"`,
    /// `"READV"`, ...).
    ///
    /// ```
    /// assert_eq!(ringloop::metrics::OpCode::RecvMsg.name(), "RECVMSG");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            OpCode::Accept => "ACCEPT",
            OpCode::Connect => "CONNECT",
            OpCode::Recv => "RECV",
            OpCode::Send => "SEND",
            OpCode::RecvMsg => "RECVMSG",
            OpCode::SendMsg => "SENDMSG",
            OpCode::Read => "READ",
            OpCode::Write => "WRITE",
            OpCode::ReadV => "READV",
            OpCode::WriteV => "WRITEV",
            OpCode::OpenAt => "OPENAT",
            OpCode::Close => "CLOSE",
            OpCode::Fsync => "FSYNC",
            OpCode::Ftruncate => "FTRUNCATE",
            OpCode::Statx => "STATX",
            OpCode::MkDirAt => "MKDIRAT",
            OpCode::RenameAt => "RENAMEAT",
            OpCode::UnlinkAt => "UNLINKAT",
            OpCode::PollAdd => "POLL_ADD",
            OpCode::WaitId => "WAITID",
            OpCode::Nop => "NOP",
        }
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The counters the driver's handle keeps for every kind of op (owner thread
/// only: plain cells).
#[derive(Default)]
pub(crate) struct OpCounters {
    in_flight: [Cell<u64>; OpCode::COUNT],
    started: [Cell<u64>; OpCode::COUNT],
}

impl OpCounters {
    /// An op of kind `code` was handed to the driver.
    #[inline]
    pub(crate) fn started(&self, code: OpCode) {
        let i = code.index();
        self.in_flight[i].set(self.in_flight[i].get() + 1);
        self.started[i].set(self.started[i].get() + 1);
    }

    /// An op of kind `code` handed to the driver completed or was dropped.
    #[inline]
    pub(crate) fn ended(&self, code: OpCode) {
        let cell = &self.in_flight[code.index()];
        cell.set(cell.get().saturating_sub(1));
    }

    /// Ops of kind `code` handed to the driver and not ended yet.
    #[inline]
    pub(crate) fn in_flight(&self, code: OpCode) -> u64 {
        self.in_flight[code.index()].get()
    }

    fn snapshot(&self) -> ([u64; OpCode::COUNT], [u64; OpCode::COUNT]) {
        (
            std::array::from_fn(|i| self.in_flight[i].get()),
            std::array::from_fn(|i| self.started[i].get()),
        )
    }
}

/// What the io_uring or epoll driver adds to the counters of the handle.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct KernelCounts {
    pub(crate) enters: Option<u64>,
    pub(crate) sqes_submitted: Option<u64>,
    pub(crate) cq_overflow: Option<u64>,
    pub(crate) buffer_exhaustion: Option<u64>,
    pub(crate) epoll_waits: Option<u64>,
    pub(crate) msg_ring_received: u64,
    pub(crate) eventfd_wakes: u64,
    pub(crate) ops_at_once: Option<u64>,
}

/// A snapshot of a runtime's driver counters: part of
/// [`RuntimeMetrics`](crate::metrics::RuntimeMetrics).
///
/// What does not exist on the runtime's driver is `None`: on epoll, the
/// io_uring-only fields; on io_uring, [`epoll_waits`](Self::epoll_waits).
/// `Debug` shows the ops by name, only the kinds that have some.
#[derive(Clone)]
pub struct DriverMetrics {
    /// The driver the runtime uses.
    pub kind: DriverKind,
    ops_in_flight: [u64; OpCode::COUNT],
    ops_started: [u64; OpCode::COUNT],
    /// `io_uring_enter` calls (each loop turn makes at most one; a cancellation
    /// that must take effect at once, or a `MSG_RING` wake sent to another
    /// runtime, makes its own). `None` on epoll.
    pub enters: Option<u64>,
    /// Submission entries the kernel took in those calls (ops, cancellations,
    /// timeouts, polls). `sqes_submitted / enters` is the batching the loop
    /// achieves ([`sqes_per_enter`](Self::sqes_per_enter)). `None` on epoll.
    pub sqes_submitted: Option<u64>,
    /// Completions the kernel could not post because the completion queue was
    /// full (its `overflow` counter; they are dropped on kernels without
    /// `IORING_FEAT_NODROP`, held back and posted later on the others). `None`
    /// on epoll.
    pub cq_overflow: Option<u64>,
    /// `ENOBUFS` completions of multishot receives: the provided-buffer pool
    /// (256 buffers of 16 KiB) ran dry within one reap; the receive is re-armed
    /// and the data waits in the socket. `None` on epoll, and where the ring has
    /// no provided-buffer pool (kernels before 6.17, the 5.10 mask), where
    /// streams receive one read at a time.
    pub buffer_exhaustion: Option<u64>,
    /// `epoll_wait` calls (each loop turn that has something to wait for makes
    /// one). `None` on io_uring.
    pub epoll_waits: Option<u64>,
    /// `MSG_RING` completions other runtimes' rings posted here to end a wait
    /// (0 on epoll and where `MSG_RING` is not used).
    pub msg_ring_wakes_received: u64,
    /// Waits ended by a write to the runtime's eventfd: a wake or a call from
    /// another thread (or from an epoll or 5.10-masked runtime) while the loop
    /// was parked, or about to park.
    pub eventfd_wakes_received: u64,
    /// Ops made as a plain system call at their first poll, with no entry in the
    /// ring: a stream's send on a quiet loop (ARCHITECTURE.md, "Fast paths"). They
    /// are counted in [`ops_started`](Self::ops_started) too. `None` on epoll,
    /// where every op is a system call.
    pub ops_at_once: Option<u64>,
}

/// The kinds with a non-zero count, by name.
struct ByName<'a>(&'a [u64; OpCode::COUNT]);

impl fmt::Debug for ByName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                OpCode::ALL
                    .iter()
                    .map(|code| (code.name(), self.0[code.index()]))
                    .filter(|(_, n)| *n > 0),
            )
            .finish()
    }
}

impl fmt::Debug for DriverMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverMetrics")
            .field("kind", &self.kind)
            .field("ops_in_flight", &ByName(&self.ops_in_flight))
            .field("ops_started", &ByName(&self.ops_started))
            .field("enters", &self.enters)
            .field("sqes_submitted", &self.sqes_submitted)
            .field("cq_overflow", &self.cq_overflow)
            .field("buffer_exhaustion", &self.buffer_exhaustion)
            .field("epoll_waits", &self.epoll_waits)
            .field("msg_ring_wakes_received", &self.msg_ring_wakes_received)
            .field("eventfd_wakes_received", &self.eventfd_wakes_received)
            .field("ops_at_once", &self.ops_at_once)
            .finish()
    }
}

impl DriverMetrics {
    pub(crate) fn new(kind: DriverKind, ops: &OpCounters, kernel: KernelCounts) -> DriverMetrics {
        let (ops_in_flight, ops_started) = ops.snapshot();
        DriverMetrics {
            kind,
            ops_in_flight,
            ops_started,
            enters: kernel.enters,
            sqes_submitted: kernel.sqes_submitted,
            cq_overflow: kernel.cq_overflow,
            buffer_exhaustion: kernel.buffer_exhaustion,
            epoll_waits: kernel.epoll_waits,
            msg_ring_wakes_received: kernel.msg_ring_received,
            eventfd_wakes_received: kernel.eventfd_wakes,
            ops_at_once: kernel.ops_at_once,
        }
    }

    /// Ops of kind `code` whose futures wait for the driver now: handed to it at
    /// their first poll, not completed, not dropped. An op dropped while the
    /// kernel still holds it leaves this count at once (it is being cancelled).
    /// The multishot accept of a listener and the multishot receive of a stream
    /// have no future and are not counted.
    pub fn ops_in_flight(&self, code: OpCode) -> u64 {
        self.ops_in_flight[code.index()]
    }

    /// Ops of kind `code` handed to the driver since the runtime started (a
    /// read that finished without the ring,
    /// [`Features::nowait_reads`](crate::Features::nowait_reads), counts too).
    pub fn ops_started(&self, code: OpCode) -> u64 {
        self.ops_started[code.index()]
    }

    /// Every kind with ops in flight, and how many.
    ///
    /// ```
    /// let rt = ringloop::Runtime::new().unwrap();
    /// let m = rt.metrics();
    /// assert_eq!(m.driver.in_flight().count(), 0);
    /// ```
    pub fn in_flight(&self) -> impl Iterator<Item = (OpCode, u64)> + '_ {
        OpCode::ALL
            .iter()
            .map(|code| (*code, self.ops_in_flight[code.index()]))
            .filter(|(_, n)| *n > 0)
    }

    /// Ops in flight, all kinds together.
    pub fn total_in_flight(&self) -> u64 {
        self.ops_in_flight.iter().sum()
    }

    /// Submission entries per `io_uring_enter`, on average since the runtime
    /// started; `None` on epoll and before the first enter.
    pub fn sqes_per_enter(&self) -> Option<f64> {
        match (self.sqes_submitted, self.enters) {
            (Some(sqes), Some(enters)) if enters > 0 => Some(sqes as f64 / enters as f64),
            _ => None,
        }
    }
}
