//! The io_uring driver: one ring per runtime, owned by the runtime's thread.
//!
//! A loop turn (`turn`) makes at most one `io_uring_enter`, which submits every entry
//! queued since the last turn and, when the loop has nothing else to do, waits in the
//! same call for the first completion or the nearest timer (ARCHITECTURE.md, decision 2). The
//! timed wait uses `EXT_ARG` where the kernel has it and a `TIMEOUT` entry otherwise
//! (5.10). Then `reap` walks the completion queue and routes each CQE by its
//! `user_data`: an op slot key (see `table.rs`), or one of the driver's own tags.
//!
//! Remote wake-ups arrive through an eventfd that the runtime's other threads write
//! to; the driver keeps a one-shot `POLL_ADD` armed on it. Where the probe reports
//! `IORING_OP_MSG_RING`, another ring may also post a `MSG_WAKE` completion straight
//! into this one ([`Uring::msg_ring_wake`] on the sender's side): it ends a wait like
//! any completion and leaves nothing to drain or re-arm. Whom to wake that way, and
//! when, is the runtime's business; the driver only sends and receives.

pub(crate) mod buf_ring;
pub(crate) mod fixed;
pub(crate) mod op;
mod setup;
mod table;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{opcode, squeue, types, IoUring};

pub(crate) use buf_ring::BufRing;
pub(crate) use table::{OpTable, Orphan, Orphaned};

use super::features::{Features, KernelCompat};
use super::sys;

/// `user_data` of the eventfd poll.
const WAKE: u64 = u64::MAX;
/// `user_data` of entries whose completion means nothing (cancels, timeout removal).
const IGNORE: u64 = u64::MAX - 1;
/// `user_data` of the completion another ring posts here to end a wait (`MSG_RING`).
const MSG_WAKE: u64 = u64::MAX - 2;
/// Tag bit of park timeouts (5.10 path); the low bits are a sequence number.
const PARK: u64 = 1 << 62;
/// Tag bit of the `MSG_RING` wakes sent from this ring (whose completion comes only
/// on failure where the kernel can skip it); the low bits are the sender's token.
const MSG_SENT: u64 = 1 << 61;

/// The most tasks a reap may wake for the loop to count as quiet
/// ([`Uring::quiet`]).
const QUIET_REAP: usize = 1;

/// How often shutdown re-sends cancellations, and when it gives up.
const SHUTDOWN_RETRY: Duration = Duration::from_secs(1);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl Drop for Uring {
    /// `shutdown` unregisters and frees the buffer ring once no op can use it; a
    /// ring dropped without it (ops maybe in flight, the kernel tearing the ring
    /// down in the background) leaks the pool instead of freeing it under them.
    fn drop(&mut self) {
        if let Some(ring) = self.buf_ring.take() {
            std::mem::forget(ring);
        }
    }
}

/// The orphan of an asynchronous close, with the descriptor's number. A close the
/// kernel ran leaves nothing open, whatever its result; one cancelled before it ran
/// (at shutdown) leaves the descriptor open, and it is closed here
/// ([`op::close_cancelled`](crate::driver::op::close_cancelled)).
struct CloseDone(RawFd);

impl Orphan for CloseDone {
    fn discard(&mut self, res: i32, _flags: u32, _woken: &mut Vec<std::task::Waker>) {
        crate::driver::op::close_cancelled(self.0, res);
    }
}

/// Counters that tests use to check which path ran.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Stats {
    /// `io_uring_enter` calls.
    pub(crate) enters: u64,
    /// Submission entries those calls took.
    pub(crate) sqes_submitted: u64,
    /// `TIMEOUT` entries queued to bound a park (the path without `EXT_ARG`).
    pub(crate) park_timeouts: u64,
    /// `MSG_RING` wakes sent to other rings ([`Uring::msg_ring_wake`]).
    pub(crate) msg_ring_sent: u64,
    /// `MSG_WAKE` completions other rings posted here.
    pub(crate) msg_ring_received: u64,
    /// Completions of the eventfd poll: another thread ended a wait.
    pub(crate) eventfd_wakes: u64,
    /// `MSG_RING` wakes sent from here that the kernel failed.
    pub(crate) msg_ring_failed: u64,
    /// Ops made as a system call at their first poll (`op::try_at_once`).
    pub(crate) ops_at_once: u64,
}

pub(crate) struct Uring {
    ring: IoUring,
    /// The provided-buffer ring of multishot receives, made at first use (kept
    /// until shutdown, which frees it once no op can use it, or leaks it).
    buf_ring: Option<Rc<BufRing>>,
    /// Registering the buffer ring failed (memlock, a seccomp filter on
    /// `io_uring_register`): streams receive one read at a time instead.
    buf_ring_failed: bool,
    table: OpTable,
    /// The registered files (`fixed.rs`).
    fixed: fixed::FixedFiles,
    features: Features,
    /// The kernel drops the completion of a successful entry flagged
    /// `IOSQE_CQE_SKIP_SUCCESS` (`IORING_FEAT_CQE_SKIP`, 5.17).
    cqe_skip: bool,
    unpark_fd: BorrowedFd<'static>,
    /// Whether the eventfd poll is in the kernel.
    wake_armed: bool,
    /// The park timeout in flight, if any: its sequence number and deadline.
    park_current: Option<(u64, Instant)>,
    /// Timespecs of park timeouts until their CQE (the kernel reads them at submission;
    /// they are kept to the end so no entry can ever point to freed memory).
    park_specs: Vec<(u64, Box<Timespec>)>,
    next_park_seq: u64,
    /// Wakers of ops that completed, handed to the runtime at the end of the turn.
    woken: Vec<std::task::Waker>,
    /// The tokens of `MSG_RING` wakes that failed, for the sender to wake their
    /// targets another way ([`Uring::take_failed_wakes`]).
    failed_wakes: Vec<u64>,
    pub(crate) stats: Stats,
    /// The tasks woken by the last reap that found completions (see
    /// [`Uring::quiet`]).
    last_reaped: usize,
    /// Ops the fault injector failed: their NOP's CQE carries this errno instead.
    #[cfg(feature = "fault-injection")]
    faulted: std::collections::HashMap<usize, i32>,
}

impl Uring {
    pub(crate) fn new(
        entries: u32,
        compat: KernelCompat,
        unpark_fd: BorrowedFd<'static>,
    ) -> io::Result<Uring> {
        let (ring, features) = setup::create(entries, compat)?;
        let cqe_skip = ring.params().is_feature_skip_cqe_on_success();
        Ok(Uring {
            ring,
            buf_ring: None,
            buf_ring_failed: false,
            table: OpTable::default(),
            fixed: fixed::FixedFiles::default(),
            features,
            cqe_skip,
            unpark_fd,
            wake_armed: false,
            park_current: None,
            park_specs: Vec::new(),
            next_park_seq: 0,
            woken: Vec::new(),
            failed_wakes: Vec::new(),
            stats: Stats::default(),
            last_reaped: 0,
            #[cfg(feature = "fault-injection")]
            faulted: std::collections::HashMap::new(),
        })
    }

    /// Whether the loop is quiet: its last reap that found completions woke at
    /// most [`QUIET_REAP`] tasks (one serving a connection, typically). On a
    /// quiet loop a stream's send is made at once
    /// (`op::try_at_once`); on a busy one, sends ride the turn's one enter.
    pub(crate) fn quiet(&self) -> bool {
        self.last_reaped <= QUIET_REAP
    }

    pub(crate) fn features(&self) -> &Features {
        &self.features
    }

    pub(crate) fn table(&mut self) -> &mut OpTable {
        &mut self.table
    }

    /// The ring and its table of registered files (`fixed.rs`).
    pub(crate) fn fixed_parts(&mut self) -> (&IoUring, &mut fixed::FixedFiles) {
        (&self.ring, &mut self.fixed)
    }

    /// The ring's descriptor: what another ring aims a `MSG_RING` wake at.
    pub(crate) fn ring_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// Ends the wait of the ring `target` (another runtime's, on another thread)
    /// by posting a `MSG_WAKE` completion to it with `IORING_OP_MSG_RING`, queued on
    /// this ring and submitted now (one `io_uring_enter`, no waiting; entries
    /// queued before it go to the kernel with it, early but otherwise as they would
    /// at the next turn). Returns `false`, having posted nothing that counts, where
    /// the probe has no `MSG_RING`, the submission queue is full or the enter
    /// fails: the caller then wakes the target another way.
    ///
    /// On success this ring gets no completion where the kernel can skip it
    /// (`IOSQE_CQE_SKIP_SUCCESS`, ignored otherwise). If the kernel fails the
    /// message (`target` no ring any more; no memory), `token` (an opaque value of
    /// the caller's, below 2^61) is kept for [`take_failed_wakes`](Self::take_failed_wakes),
    /// so that the caller can wake the target another way: the wake is delivered
    /// or handed back, never lost. An entry holds no pointer: the target gets only
    /// a `user_data` and a zero result, so a `target` closed or reused meanwhile
    /// costs at most an error completion here or a spurious turn there.
    pub(crate) fn msg_ring_wake(&mut self, target: RawFd, token: u64) -> bool {
        if !self.features.msg_ring || token >= MSG_SENT {
            return false;
        }
        let mut sqe = opcode::MsgRingData::new(types::Fd(target), 0, MSG_WAKE, None)
            .build()
            .user_data(MSG_SENT | token);
        if self.cqe_skip {
            sqe = sqe.flags(squeue::Flags::SKIP_SUCCESS);
        }
        // SAFETY: a MSG_RING data entry holds no pointers: the kernel reads the
        // target's descriptor number when it runs it, nothing in our memory.
        if unsafe { self.ring.submission().push(&sqe) }.is_err() {
            return false;
        }
        self.stats.enters += 1;
        let submitted = self.ring.submitter().submit();
        if let Ok(n) = submitted {
            self.stats.sqes_submitted += n as u64;
        }
        match submitted {
            // Everything queued was taken, the wake with it.
            Ok(_) if self.ring.submission().is_empty() => {
                self.stats.msg_ring_sent += 1;
                true
            }
            // What stays queued goes at the next turn: at worst a late, spurious
            // wake after the caller's own.
            _ => false,
        }
    }

    /// What this driver counted, for a metrics snapshot (`driver/metrics.rs`).
    pub(crate) fn kernel_counts(&mut self) -> crate::driver::metrics::KernelCounts {
        let f = &self.features;
        let has_pool =
            !self.buf_ring_failed && f.multishot_recv() && f.multishot_recv_limit && f.buf_ring();
        crate::driver::metrics::KernelCounts {
            enters: Some(self.stats.enters),
            sqes_submitted: Some(self.stats.sqes_submitted),
            cq_overflow: Some(u64::from(self.ring.completion().overflow())),
            buffer_exhaustion: has_pool
                .then(|| self.buf_ring.as_ref().map_or(0, |ring| ring.exhausted())),
            epoll_waits: None,
            msg_ring_received: self.stats.msg_ring_received,
            eventfd_wakes: self.stats.eventfd_wakes,
            ops_at_once: Some(self.stats.ops_at_once),
        }
    }

    /// The runtime's provided-buffer ring, registered at the first call; `None`
    /// if that failed (it is not tried again).
    pub(crate) fn buf_ring(&mut self) -> Option<Rc<BufRing>> {
        if let Some(ring) = &self.buf_ring {
            return Some(ring.clone());
        }
        if self.buf_ring_failed {
            return None;
        }
        match BufRing::register(&self.ring) {
            Ok(ring) => {
                let ring = Rc::new(ring);
                self.buf_ring = Some(ring.clone());
                Some(ring)
            }
            Err(_) => {
                self.buf_ring_failed = true;
                None
            }
        }
    }

    /// Queues an entry, submitting what is queued first if the ring is full.
    ///
    /// # Safety
    ///
    /// Every pointer in `sqe` must stay valid until its completion arrives.
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.enter(0, None)?;
        }
    }

    /// Queues an operation and returns its slot key.
    ///
    /// # Safety
    ///
    /// Every pointer in `sqe` must stay valid until the op's CQE arrives, also after
    /// the op is handed to [`OpTable::orphan`] (whose box then keeps the memory).
    pub(crate) unsafe fn submit_op(&mut self, sqe: squeue::Entry) -> io::Result<usize> {
        let key = self.table.insert();
        let sqe = sqe.user_data(key as u64);
        // SAFETY: forwarded from the caller.
        match unsafe { self.push(&sqe) } {
            Ok(()) => Ok(key),
            Err(e) => {
                self.table.remove_unsubmitted(key);
                Err(e)
            }
        }
    }

    /// Queues an op that no future awaits: `orphan` receives its CQEs (all of them,
    /// for a multishot op) and owns its resources until the last one.
    ///
    /// # Safety
    ///
    /// Every pointer in `sqe` must point into memory that `orphan` owns and keeps in
    /// place while it lives.
    pub(crate) unsafe fn submit_detached(
        &mut self,
        sqe: squeue::Entry,
        orphan: Box<dyn Orphan>,
    ) -> io::Result<usize> {
        let key = self.table.insert_orphan(orphan);
        let sqe = sqe.user_data(key as u64);
        // SAFETY: forwarded from the caller; the table keeps `orphan` until the
        // op's last CQE.
        match unsafe { self.push(&sqe) } {
            Ok(()) => Ok(key),
            Err(e) => {
                self.table.remove_unsubmitted(key);
                Err(e)
            }
        }
    }

    /// Queues an op the fault injector failed: a NOP whose CQE comes back with
    /// `-errno`, through the op table like any op's (`driver/fault.rs`).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn submit_fault(&mut self, errno: i32) -> io::Result<usize> {
        // SAFETY: a nop entry holds no pointers.
        let key = unsafe { self.submit_op(opcode::Nop::new().build()) }?;
        self.faulted.insert(key, errno);
        Ok(key)
    }

    /// [`submit_fault`](Self::submit_fault) for an op no future awaits (a
    /// multishot op's arming): `orphan` receives the one CQE, without `F_MORE`.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn submit_detached_fault(
        &mut self,
        orphan: Box<dyn Orphan>,
        errno: i32,
    ) -> io::Result<usize> {
        // SAFETY: a nop entry holds no pointers.
        let key = unsafe { self.submit_detached(opcode::Nop::new().build(), orphan) }?;
        self.faulted.insert(key, errno);
        Ok(key)
    }

    /// Closes `fd` through the ring (`IORING_OP_CLOSE`, 5.6): no system call of its
    /// own. Shutdown waits for the close like for any op, so it is never lost.
    /// Where the entry cannot be queued, it is closed with `close(2)`.
    pub(crate) fn submit_close(&mut self, fd: OwnedFd) {
        let fd = fd.into_raw_fd();
        let sqe = opcode::Close::new(types::Fd(fd)).build();
        // SAFETY: a close entry holds no pointers.
        if unsafe { self.submit_detached(sqe, Box::new(CloseDone(fd))) }.is_err() {
            // SAFETY: the entry never reached the kernel, so the descriptor is
            // still open and still ours (it was given to this call).
            drop(unsafe { sys::owned(fd) });
        }
    }

    /// Submits what is queued and runs the completions the kernel holds back
    /// (`DEFER_TASKRUN`), without waiting: for a cancellation that must take effect
    /// before the caller goes on. The CQEs are reaped at the next turn.
    pub(crate) fn flush_now(&mut self) {
        const IORING_ENTER_GETEVENTS: u32 = 1;
        self.stats.enters += 1;
        let to_submit = self.ring.submission().len() as u32;
        // SAFETY: no argument is passed (`None`), and the queued entries were
        // pushed under `push`'s contract.
        let result = unsafe {
            self.ring.submitter().enter::<libc::sigset_t>(
                to_submit,
                0,
                IORING_ENTER_GETEVENTS,
                None,
            )
        };
        // On EINTR/EAGAIN/EBUSY the entries stay queued for the next turn.
        if let Ok(n) = result {
            self.stats.sqes_submitted += n as u64;
        }
    }

    /// Submits what is queued, if anything (one `io_uring_enter`, no waiting).
    pub(crate) fn submit_pending(&mut self) {
        if self.needs_enter() {
            let _ = self.enter(0, None);
        }
    }

    /// Cancels an op before returning: submits the cancellation and reaps what
    /// completed (the op's resources are released now; wakers are handed to the
    /// runtime at the next turn).
    pub(crate) fn cancel_now(&mut self, key: usize) {
        self.cancel(key);
        self.flush_now();
        self.reap();
    }

    /// Moves the tokens of the `MSG_RING` wakes that failed since the last call
    /// ([`msg_ring_wake`](Self::msg_ring_wake)) to `into`.
    pub(crate) fn take_failed_wakes(&mut self, into: &mut Vec<u64>) {
        into.append(&mut self.failed_wakes);
    }

    /// Moves the wakers of completions reaped outside a turn (`cancel_now`) to
    /// `into`, for a caller that wakes them itself (the runtime is not running).
    pub(crate) fn take_woken(&mut self, into: &mut Vec<std::task::Waker>) {
        into.append(&mut self.woken);
    }

    /// Asks the kernel to cancel an op whose future was dropped.
    pub(crate) fn cancel(&mut self, key: usize) {
        let sqe = opcode::AsyncCancel::new(key as u64)
            .build()
            .user_data(IGNORE);
        // SAFETY: a cancel entry holds no pointers.
        if let Err(e) = unsafe { self.push(&sqe) } {
            // The op still completes by itself; its resources stay in the table
            // until then, so nothing is lost, only the cancellation is late.
            eprintln!("ringloop: could not queue a cancellation: {e}");
        }
    }

    /// One loop turn: submit what is queued, wait as told, reap completions.
    /// `timeout`: `None` waits for a completion, `Some(ZERO)` does not wait.
    pub(crate) fn turn(
        &mut self,
        timeout: Option<Duration>,
        woken: &mut Vec<std::task::Waker>,
    ) -> io::Result<()> {
        if !self.wake_armed {
            self.arm_wake()?;
        }
        // Completions reaped outside a turn (`cancel_now`) have wakers waiting:
        // hand them over without sleeping.
        let timeout = if self.woken.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        match timeout {
            Some(t) if t.is_zero() => {
                if self.needs_enter() {
                    self.enter(0, None)?;
                }
            }
            None => self.enter(1, None)?,
            Some(t) if self.features.ext_arg => self.enter(1, Some(t))?,
            Some(t) => {
                self.arm_park_timeout(t)?;
                self.enter(1, None)?;
            }
        }
        self.reap();
        self.cancel_requested();
        woken.append(&mut self.woken);
        Ok(())
    }

    /// Cancels the multishot ops that asked for it while being reaped.
    fn cancel_requested(&mut self) {
        for key in self.table.take_cancels() {
            self.cancel(key);
        }
    }

    /// Whether `io_uring_enter` has work: queued entries, completions the kernel has
    /// not posted yet (`IORING_SQ_TASKRUN`), or an overflowed completion queue.
    fn needs_enter(&mut self) -> bool {
        let sq = self.ring.submission();
        !sq.is_empty() || sq.taskrun() || sq.cq_overflow()
    }

    /// `io_uring_enter`: submits everything queued and waits for `want` completions,
    /// at most `timeout` (through `EXT_ARG`). Interruptions and timeouts are normal
    /// returns; `EAGAIN`/`EBUSY` (the kernel wants completions reaped first) reap and
    /// return, so that the loop comes back.
    fn enter(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<()> {
        self.stats.enters += 1;
        let submitter = self.ring.submitter();
        let result = match timeout {
            Some(t) => {
                let ts = Timespec::from(t);
                let args = SubmitArgs::new().timespec(&ts);
                submitter.submit_with_args(want, &args)
            }
            None => submitter.submit_and_wait(want),
        };
        match result {
            Ok(n) => {
                self.stats.sqes_submitted += n as u64;
                Ok(())
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) => Ok(()),
                Some(libc::EAGAIN) | Some(libc::EBUSY) => {
                    self.reap();
                    Ok(())
                }
                _ => Err(e),
            },
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(self.unpark_fd.as_raw_fd()), libc::POLLIN as u32)
            .build()
            .user_data(WAKE);
        // SAFETY: a poll entry holds no pointers.
        unsafe { self.push(&sqe) }?;
        self.wake_armed = true;
        Ok(())
    }

    /// Makes sure a `TIMEOUT` entry will end the coming wait within `t`.
    fn arm_park_timeout(&mut self, t: Duration) -> io::Result<()> {
        let deadline = Instant::now() + t;
        if let Some((seq, current)) = self.park_current {
            if current <= deadline {
                // The one in flight wakes us no later than needed.
                return Ok(());
            }
            let remove = opcode::TimeoutRemove::new(PARK | seq)
                .build()
                .user_data(IGNORE);
            // SAFETY: a timeout-remove entry holds no pointers.
            unsafe { self.push(&remove) }?;
        }
        let seq = self.next_park_seq;
        self.next_park_seq += 1;
        let spec = Box::new(Timespec::from(t));
        let sqe = opcode::Timeout::new(&*spec).build().user_data(PARK | seq);
        // SAFETY: the timespec is boxed and kept in `park_specs` until the entry's
        // completion arrives or the ring is closed.
        unsafe { self.push(&sqe) }?;
        self.park_specs.push((seq, spec));
        self.park_current = Some((seq, deadline));
        self.stats.park_timeouts += 1;
        Ok(())
    }

    /// Routes every available CQE.
    fn reap(&mut self) {
        let Uring {
            ring,
            table,
            woken,
            wake_armed,
            unpark_fd,
            park_current,
            park_specs,
            stats,
            failed_wakes,
            last_reaped,
            #[cfg(feature = "fault-injection")]
            faulted,
            ..
        } = self;
        let (mut reaped, first_woken) = (0, woken.len());
        for cqe in ring.completion() {
            reaped += 1;
            match cqe.user_data() {
                WAKE => {
                    *wake_armed = false;
                    stats.eventfd_wakes += 1;
                    // A failed read leaves the counter set: the next poll fires at
                    // once and we come back here, so nothing is lost.
                    let _ = sys::eventfd_drain(*unpark_fd);
                }
                IGNORE => {}
                // Another ring woke us (`MSG_RING`): the wait is over, and there
                // is nothing to drain or re-arm.
                MSG_WAKE => stats.msg_ring_received += 1,
                tag if tag & PARK != 0 => {
                    let seq = tag & !PARK;
                    park_specs.retain(|(s, _)| *s != seq);
                    if park_current.is_some_and(|(s, _)| s == seq) {
                        *park_current = None;
                    }
                }
                // A wake we sent: a completion on success only where the kernel
                // cannot skip it; a failed one goes back to the sender.
                tag if tag & MSG_SENT != 0 => {
                    if cqe.result() < 0 {
                        stats.msg_ring_failed += 1;
                        failed_wakes.push(tag & !MSG_SENT);
                    }
                }
                key => {
                    let (res, flags) = (cqe.result(), cqe.flags());
                    #[cfg(feature = "fault-injection")]
                    let (res, flags) = match faulted.remove(&(key as usize)) {
                        Some(errno) => (-errno, 0),
                        None => (res, flags),
                    };
                    table.complete(key as usize, res, flags, woken)
                }
            }
        }
        if reaped > 0 {
            // The tasks the reap woke, each counted once however many of its
            // completions came in a row (a stream's multishot receive posts one
            // per provided buffer).
            let new = &woken[first_woken..];
            *last_reaped = new
                .iter()
                .zip(std::iter::once(None).chain(new.iter().map(Some)))
                .filter(|(w, prev)| !prev.is_some_and(|p| p.will_wake(w)))
                .count();
        }
    }

    /// Cancels everything the kernel holds and waits for every op's CQE, so that no
    /// buffer or descriptor is freed while the kernel may use it (ARCHITECTURE.md, decision 9).
    /// Returns the table, where the results of ops whose futures still exist wait.
    pub(crate) fn shutdown(mut self, woken: &mut Vec<std::task::Waker>) -> OpTable {
        let start = Instant::now();
        let mut last_cancel = None;
        loop {
            self.reap();
            woken.append(&mut self.woken);
            let pending = self.table.in_flight();
            if pending.is_empty() {
                break;
            }
            if start.elapsed() > SHUTDOWN_GRACE {
                let lost = self.table.give_up();
                eprintln!(
                    "ringloop: {lost} io_uring operation(s) did not complete within {SHUTDOWN_GRACE:?} \
                     of shutdown; their buffers are leaked rather than freed under the kernel"
                );
                break;
            }
            if last_cancel.is_none_or(|t: Instant| t.elapsed() >= SHUTDOWN_RETRY) {
                for key in pending {
                    self.cancel(key);
                }
                last_cancel = Some(Instant::now());
            }
            let wait = Duration::from_millis(100);
            let waited = if self.features.ext_arg {
                self.enter(1, Some(wait))
            } else {
                self.arm_park_timeout(wait)
                    .and_then(|()| self.enter(1, None))
            };
            if let Err(e) = waited {
                eprintln!("ringloop: io_uring_enter failed during shutdown: {e}");
                let lost = self.table.give_up();
                if lost > 0 {
                    eprintln!("ringloop: leaking the buffers of {lost} unfinished operation(s)");
                }
                break;
            }
        }
        if let Some(ring) = self.buf_ring.take() {
            // No op selects buffers any more; a lost one (shutdown gave up on it)
            // may still hold the pool, which is then leaked rather than freed.
            let _ = self.ring.submitter().unregister_buf_ring(buf_ring::GROUP);
            if Rc::strong_count(&ring) > 1 {
                std::mem::forget(ring);
            }
        }
        // Dropping the ring closes it; the kernel cancels the eventfd poll and any
        // park timeout, neither of which points to memory.
        std::mem::take(&mut self.table)
    }
}
