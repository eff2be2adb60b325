//! The type-erased task: a header shared by every task cell, and [`RawTask`], the
//! pointer the scheduler, the ready queue, the join handle and the wakers pass around.
//!
//! # Ownership
//!
//! A task cell is one heap allocation (see `cell.rs`). Its references come in two kinds:
//!
//! * **local** references, counted in `Header::local` without atomics: the runtime's
//!   registry entry (held until the task completes), the [`JoinHandle`] and one per
//!   ready-queue entry. They are only ever taken and released on the owner thread.
//! * **atomic** references, counted in `Header::refs`: one per cloned [`Waker`] and one
//!   per entry in a runtime's remote-wake queue. They may be dropped on any thread.
//!
//! All local references together own a single unit of `refs`, released when the last
//! local reference goes. The cell is freed when `refs` reaches zero. So the common life
//! of a task (spawn, run, complete, join) costs one atomic operation.
//!
//! # Threads
//!
//! Fields documented as *owner-only* are `Cell`s touched only by the thread that runs
//! the task's runtime. Another thread may only touch `refs` and read the immutable
//! fields. When the last reference is dropped off the owner thread, the future
//! and its output are already gone (the owner dropped them when the task completed and
//! when the join handle went), so nothing `!Send` is ever dropped on a foreign thread.
//!
//! [`JoinHandle`]: super::JoinHandle
//! [`Waker`]: std::task::Waker

use std::cell::Cell;
use std::ptr::NonNull;
use std::task::Waker;

use super::refcount::RefCount;
use super::{JoinError, TaskId};

/// The task is in a ready queue (owner-only flag).
const SCHEDULED: u8 = 1 << 0;
/// The task is being polled or cancelled right now.
const RUNNING: u8 = 1 << 1;
/// The future is gone, or being dropped while `RUNNING` is still set; the output is
/// stored, taken, or being produced.
const COMPLETE: u8 = 1 << 2;
/// `cancel()` was called: drop the future at the next opportunity.
const CANCEL: u8 = 1 << 3;
/// A [`JoinHandle`](super::JoinHandle) still exists and may want the output.
const JOIN_INTEREST: u8 = 1 << 4;
/// The task completed with a panic (set with `COMPLETE`, kept after the output is
/// read), so `wait(.., FirstException, ..)` can tell without taking the output.
const PANICKED: u8 = 1 << 5;

/// Functions that know the concrete future type (and scheduler type) of a cell.
pub(super) struct Vtable {
    /// Hands the task to its scheduler (`schedule_as::<S>` for the cell's `S`): the
    /// way [`RawTask::wake`] reaches a scheduler whose type it does not know. The
    /// task's own wakers call `S::schedule` directly (`waker.rs`).
    pub(super) schedule: unsafe fn(RawTask),
    /// The waker vtable of the cell's `S` (`waker.rs`), read from here by every
    /// waker of the task so that all of them carry one address: the compiler may
    /// give each use of a generic constant its own copy, and `Waker::will_wake`
    /// compares vtable addresses.
    pub(super) waker: &'static std::task::RawWakerVTable,
    /// Polls the future once (or drops it when cancelled). Returns `true` when the
    /// task completed: the output is stored and the future is dropped.
    pub(super) poll: unsafe fn(NonNull<Header>) -> bool,
    /// Drops the future now and stores `Err(Cancelled)`. Returns `false` when the
    /// task had already completed.
    pub(super) cancel: unsafe fn(NonNull<Header>) -> bool,
    /// Moves the output into `*dst`, an `Option<Result<T, JoinError>>` that is `None`.
    /// Leaves `*dst` as `None` when there is no output to take. Only for a task that
    /// is complete and not running.
    pub(super) read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops an output nobody will read; returns the panic message when the output was
    /// a panic, so that it can be reported. Only for a task that is complete and not
    /// running.
    pub(super) drop_output: unsafe fn(NonNull<Header>) -> Option<String>,
    /// Frees the cell.
    pub(super) dealloc: unsafe fn(NonNull<Header>),
}

/// The part of a task cell that does not depend on the future's type.
pub(crate) struct Header {
    /// Atomic references (see the module docs).
    refs: RefCount,
    /// Local references (owner-only).
    local: Cell<u32>,
    /// `SCHEDULED | RUNNING | ...` (owner-only).
    state: Cell<u8>,
    /// Key in the runtime's task registry while the task is alive (owner-only).
    registry_key: Cell<u32>,
    /// The task's id, unique within its runtime.
    id: TaskId,
    /// Type-specific operations.
    pub(super) vtable: &'static Vtable,
    /// Which of the scheduler's runtimes the task belongs to (see [`Schedule`]).
    owner: u64,
    /// Where the task goes when it is woken (injected at spawn): a `&'static S` for
    /// the `S: Schedule` the cell was allocated with, its type erased (a thin
    /// pointer, and a wake that calls `S::schedule` statically; see
    /// [`schedule_as`]).
    scheduler: NonNull<()>,
    /// Who awaits the join handle (owner-only).
    join_waker: Cell<Option<Waker>>,
    /// A name set by `set_name` (owner-only); the default is derived from the id.
    // A thin pointer: the header stays one word smaller than with `Box<str>`.
    #[allow(clippy::box_collection)]
    name: Cell<Option<Box<String>>>,
}

impl Header {
    pub(super) fn new(
        id: TaskId,
        vtable: &'static Vtable,
        owner: u64,
        scheduler: NonNull<()>,
    ) -> Header {
        Header {
            refs: RefCount::new(),
            // The registry entry and the join handle.
            local: Cell::new(2),
            state: Cell::new(JOIN_INTEREST),
            registry_key: Cell::new(u32::MAX),
            id,
            vtable,
            owner,
            scheduler,
            join_waker: Cell::new(None),
            name: Cell::new(None),
        }
    }

    pub(super) fn is_cancel_requested(&self) -> bool {
        self.state.get() & CANCEL != 0
    }

    pub(super) fn set_complete(&self) {
        self.state.set(self.state.get() | COMPLETE);
    }

    pub(super) fn set_panicked(&self) {
        self.state.set(self.state.get() | PANICKED);
    }
}

/// A pointer to a task cell. Copying it does not take a reference: each holder
/// (registry, ready queue, join handle, waker) accounts for its own reference through
/// the methods below, and only uses the pointer while its reference is held.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

impl RawTask {
    pub(super) fn from_header(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(super) fn header(&self) -> &Header {
        // SAFETY: a `RawTask` is only used by a holder of a reference to the cell
        // (module docs), so the allocation is live; the header is never mutably
        // borrowed (all its mutable fields are `Cell`s or atomics).
        unsafe { self.ptr.as_ref() }
    }

    /// The task's id.
    pub(crate) fn id(self) -> TaskId {
        self.header().id
    }

    /// The task's name: the one set with `set_name`, or `Task-<id>` like asyncio.
    pub(crate) fn name(self) -> String {
        let header = self.header();
        let name = header.name.take();
        let result = match &name {
            Some(n) => n.as_str().to_owned(),
            None => format!("Task-{}", header.id.as_u64()),
        };
        header.name.set(name);
        result
    }

    pub(crate) fn set_name(self, name: String) {
        self.header().name.set(Some(Box::new(name)));
    }

    pub(crate) fn registry_key(self) -> usize {
        self.header().registry_key.get() as usize
    }

    pub(crate) fn set_registry_key(self, key: usize) {
        let key = u32::try_from(key).expect("more than 4 billion live tasks on one core");
        self.header().registry_key.set(key);
    }

    pub(crate) fn is_complete(self) -> bool {
        self.header().state.get() & COMPLETE != 0
    }

    /// Whether the task completed with a panic.
    pub(crate) fn is_panicked(self) -> bool {
        self.header().state.get() & PANICKED != 0
    }

    pub(crate) fn is_running(self) -> bool {
        self.header().state.get() & RUNNING != 0
    }

    pub(crate) fn is_scheduled(self) -> bool {
        self.header().state.get() & SCHEDULED != 0
    }

    pub(crate) fn is_cancel_requested(self) -> bool {
        self.header().is_cancel_requested()
    }

    // ----- owner-thread scheduling -------------------------------------------------

    /// Marks the task scheduled and takes a local reference for the ready-queue entry
    /// the caller is about to push. Returns `false` (taking nothing) when the task is
    /// already queued or complete.
    pub(crate) fn schedule_local(self) -> bool {
        let header = self.header();
        let state = header.state.get();
        if state & (SCHEDULED | COMPLETE) != 0 {
            return false;
        }
        header.state.set(state | SCHEDULED);
        header.local.set(header.local.get() + 1);
        true
    }

    /// Runs one step of the task: a poll, or the drop of its future if it was
    /// cancelled. Returns `true` when the task completed during this step.
    pub(crate) fn run(self) -> bool {
        let header = self.header();
        let state = header.state.get();
        if state & COMPLETE != 0 {
            header.state.set(state & !SCHEDULED);
            return false;
        }
        header.state.set((state & !SCHEDULED) | RUNNING);
        // SAFETY: the cell is live (the ready queue holds a reference), we are on the
        // owner thread, and RUNNING was clear, so this is not a re-entrant poll.
        let done = unsafe { (header.vtable.poll)(self.ptr) };
        header.state.set(header.state.get() & !RUNNING);
        done
    }

    /// Drops the future right away (runtime shutdown). Returns `true` when this
    /// completed the task.
    pub(crate) fn cancel_now(self) -> bool {
        let header = self.header();
        header.state.set(header.state.get() | CANCEL | RUNNING);
        // SAFETY: the registry holds a reference; owner thread; see `run`.
        let done = unsafe { (header.vtable.cancel)(self.ptr) };
        header.state.set(header.state.get() & !RUNNING);
        done
    }

    /// Records a cancellation request. Returns `false` when the task is complete.
    pub(crate) fn request_cancel(self) -> bool {
        let header = self.header();
        let state = header.state.get();
        if state & COMPLETE != 0 {
            return false;
        }
        header.state.set(state | CANCEL);
        true
    }

    /// Called once the task completed and left the registry: hands the output to
    /// whoever awaits the join handle, or drops it (reporting a panic) when nobody can.
    pub(crate) fn finish(self) {
        let header = self.header();
        if header.state.get() & JOIN_INTEREST != 0 {
            if let Some(waker) = header.join_waker.take() {
                waker.wake();
            }
        } else {
            self.drop_output();
        }
    }

    /// Drops the output. The caller holds a reference and has checked that the task
    /// is complete and not running.
    fn drop_output(self) {
        let header = self.header();
        // SAFETY: owner thread, the caller holds a reference, the task is complete
        // and not running (caller contract), which is `drop_output`'s contract.
        if let Some(message) = unsafe { (header.vtable.drop_output)(self.ptr) } {
            report_unretrieved_panic(self, &message);
        }
    }

    /// Releases one local reference.
    pub(crate) fn release_local(self) {
        let header = self.header();
        let local = header.local.get() - 1;
        header.local.set(local);
        if local == 0 {
            self.release_atomic();
        }
    }

    // ----- join handle ---------------------------------------------------------------

    /// Takes the output if the task completed and the output is still there.
    pub(super) fn try_read_output<T>(self, dst: &mut Option<Result<T, JoinError>>) {
        let header = self.header();
        // COMPLETE but still RUNNING: the future is being dropped (a handle polled
        // from its own destructor); the output comes after, with a wake from `finish`.
        if header.state.get() & (COMPLETE | RUNNING) != COMPLETE {
            return;
        }
        // SAFETY: `dst` has the output type of this cell (the join handle that calls
        // us was created with it); owner thread; the task is complete and not
        // running, which is `read_output`'s contract.
        unsafe { (header.vtable.read_output)(self.ptr, (dst as *mut Option<_>).cast()) }
    }

    pub(super) fn set_join_waker(self, waker: &Waker) {
        let header = self.header();
        let current = header.join_waker.take();
        let new = match current {
            Some(w) if w.will_wake(waker) => w,
            _ => waker.clone(),
        };
        header.join_waker.set(Some(new));
    }

    /// The join handle is going away.
    pub(super) fn drop_join_interest(self) {
        let header = self.header();
        header.state.set(header.state.get() & !JOIN_INTEREST);
        drop(header.join_waker.take());
        if header.state.get() & (COMPLETE | RUNNING) == COMPLETE {
            self.drop_output();
        }
        self.release_local();
    }

    // ----- wakers and cross-thread references ---------------------------------------

    /// Takes an atomic reference (a waker clone, or a remote-queue entry).
    pub(super) fn acquire_atomic(self) {
        self.header().refs.acquire();
    }

    /// Releases an atomic reference; frees the cell when it was the last reference.
    pub(crate) fn release_atomic(self) {
        let header = self.header();
        if !header.refs.release() {
            return;
        }
        let dealloc = header.vtable.dealloc;
        // SAFETY: that was the last reference, and `release` ordered every other
        // holder's use of the cell before this point; no other pointer to the cell is
        // used after it. The stage holds no future and no output (module docs).
        unsafe { dealloc(self.ptr) };
    }

    /// Wakes the task: hands it to the scheduling step it was spawned with (on
    /// any thread).
    pub(crate) fn wake(self) {
        let schedule = self.header().vtable.schedule;
        // SAFETY: the vtable was built for this cell, with the scheduler type its
        // `scheduler` pointer was erased from (`cell::allocate`).
        unsafe { schedule(self) }
    }
}

/// Hands `task` to its scheduler, known to be an `S`.
///
/// # Safety
/// `task`'s cell was allocated with a scheduler of type `S` (`cell::allocate::<F, S>`),
/// and the caller holds a reference to it.
#[inline]
pub(super) unsafe fn schedule_as<S: Schedule>(task: RawTask) {
    let header = task.header();
    // SAFETY: `scheduler` was made from a `&'static S` (caller contract), so it
    // points to a live `S` for the rest of the process, and `S: Sync` lets any
    // thread borrow it.
    let scheduler: &'static S = unsafe { header.scheduler.cast::<S>().as_ref() };
    scheduler.schedule(header.owner, task);
}

/// The scheduling step a task is spawned with: what its runtime does with it when
/// it is woken (async-task's `schedule` function, tokio's `Schedule` trait). The
/// task layer calls it and knows nothing else of the runtime.
///
/// A scheduler lives for the whole process (a runtime's pooled slot, see
/// `runtime/shared.rs`) and may serve one runtime after another: `owner` is the
/// runtime the task was spawned on, so that a wake for a runtime that has gone is
/// dropped rather than given to its successor.
pub(crate) trait Schedule: Sync + 'static {
    /// Schedules `task` of runtime `owner`. Called on any thread: on the owner's
    /// thread the task may go straight onto the ready queue, elsewhere it must go
    /// through a [`RemoteTask`] (see the module docs).
    fn schedule(&'static self, owner: u64, task: RawTask);
}

/// An atomic reference to a task, sent to its runtime's remote-wake queue from any
/// thread. Dropping it releases the reference.
pub(crate) struct RemoteTask {
    raw: RawTask,
}

// SAFETY: a `RemoteTask` owns an atomic reference. Off the owner thread it is only
// dropped, which touches the atomic count and, for the last reference, frees a cell
// whose future and output were already dropped on the owner thread (module docs).
// Everything else is done by the owner thread after `into_local`.
unsafe impl Send for RemoteTask {}

impl RemoteTask {
    /// Takes an atomic reference to `task`, for its runtime's remote queue (any
    /// thread).
    pub(crate) fn new(task: RawTask) -> RemoteTask {
        task.acquire_atomic();
        RemoteTask { raw: task }
    }

    /// On the owner thread: hands the task to `schedule` (which takes a local
    /// reference if it queues it), then drops this reference.
    pub(crate) fn schedule_with(self, schedule: impl FnOnce(RawTask)) {
        let raw = self.raw;
        std::mem::forget(self);
        schedule(raw);
        raw.release_atomic();
    }
}

impl Drop for RemoteTask {
    fn drop(&mut self) {
        self.raw.release_atomic();
    }
}

fn report_unretrieved_panic(task: RawTask, message: &str) {
    eprintln!(
        "ringloop: Task exception was never retrieved: {} (id {}) panicked: {}",
        task.name(),
        task.id(),
        message
    );
}
