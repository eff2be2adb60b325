//! The task cell: one heap allocation holding the header and either the future or
//! its output, plus the type-specific functions of the task's vtable.
//!
//! ```text
//!  TaskCell<F>
//!  ┌────────────────────┐
//!  │ Header             │  refcounts, state bits, id, vtable, join waker
//!  ├────────────────────┤
//!  │ Stage<F>           │  Running(F) → Finished(Result<F::Output, JoinError>) → Consumed
//!  └────────────────────┘
//! ```
//!
//! Panics are caught here, at the task boundary: a panic while polling becomes
//! `JoinError::Panicked`, and so does a panic in the future's destructor, whether it
//! runs after completion or during cancellation.

use std::alloc::Layout;
use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use super::raw::{self, Header, Schedule, Vtable};
use super::{alloc, waker, JoinError, TaskId};

/// Where the task is in its life.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

// `repr(C)` puts the header first, so a pointer to the cell is a pointer to its header.
#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// Allocates a task cell for `future` and returns a pointer to its header.
pub(super) fn allocate<F, S>(
    future: F,
    id: TaskId,
    owner: u64,
    scheduler: &'static S,
) -> NonNull<Header>
where
    F: Future + 'static,
    S: Schedule,
{
    let layout = Layout::new::<TaskCell<F>>();
    let ptr = alloc::allocate(layout).cast::<TaskCell<F>>();
    // SAFETY: `allocate` returned a block that fits `TaskCell<F>`'s layout.
    unsafe {
        ptr.as_ptr().write(TaskCell {
            header: Header::new(id, vtable::<F, S>(), owner, NonNull::from(scheduler).cast()),
            stage: UnsafeCell::new(Stage::Running(future)),
        })
    };
    ptr.cast()
}

fn vtable<F: Future + 'static, S: Schedule>() -> &'static Vtable {
    &Vtable {
        schedule: raw::schedule_as::<S>,
        waker: &waker::WakerVtable::<S>::VTABLE,
        poll: poll::<F>,
        cancel: cancel::<F>,
        read_output: read_output::<F>,
        drop_output: drop_output::<F>,
        dealloc: dealloc::<F>,
    }
}

/// The message of a panic payload (`&str` or `String`), as std's hook prints it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// The message of a caught panic. The payload is dropped here, and a panic of its
/// own destructor is swallowed (its payload leaked): nothing unwinds out of the task
/// boundary.
fn message_of(payload: Box<dyn Any + Send>) -> String {
    let message = panic_message(&*payload);
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        mem::forget(again);
    }
    message
}

/// Drops `value`, catching a panic from its destructor.
fn drop_catching<T>(value: T) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).map_err(message_of)
}

/// # Safety
/// `ptr` points to a live `TaskCell<F>`; the caller runs on the owner thread and
/// holds a reference.
unsafe fn cell<'a, F: Future>(ptr: NonNull<Header>) -> &'a TaskCell<F> {
    // SAFETY: guaranteed by the caller; the header is the first field (`repr(C)`).
    unsafe { ptr.cast::<TaskCell<F>>().as_ref() }
}

/// Finishes the task with `output`: drops the future where it lies (catching a
/// destructor panic) and stores the output.
///
/// The future was pinned by the first poll, so it must be dropped in place, never
/// moved out first: a future whose destructor relies on its address (an intrusive
/// wait-list node that unlinks itself) would otherwise be unlinked at the wrong one.
///
/// ```text
///   Running(F) ──drop_in_place(F)──▶ Running(F dropped) ──write──▶ Consumed ──▶ Finished
///              (COMPLETE and RUNNING   (never read, never dropped  (a plain write: the
///               are set meanwhile)      again, even if F's drop     dropped F is not
///                                       unwound)                    dropped twice)
/// ```
///
/// # Safety
/// As for [`cell`]; the stage is `Running`; no reference into the stage is live, and
/// the caller has set `RUNNING` (so nothing reads the stage while the destructor runs:
/// see `RawTask::try_read_output` and `RawTask::drop_join_interest`).
unsafe fn complete<F: Future>(ptr: NonNull<Header>, output: Result<F::Output, JoinError>) {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { cell::<F>(ptr) };
    // Self-wakes from the destructor must not requeue the task, and `cancel` from
    // the destructor must see a finished task.
    cell.header.set_complete();
    let stage = cell.stage.get();
    // SAFETY: no reference into the stage is live (caller contract), owner thread.
    let Stage::Running(future) = (unsafe { &mut *stage }) else {
        unreachable!("a task completed twice");
    };
    let future: *mut F = future;
    // SAFETY: `future` points to the live future inside the heap cell, where it was
    // pinned; it is dropped exactly once, here: if its destructor unwinds, the drop
    // glue has still dropped every field, and the stage is overwritten below without
    // dropping it again. The destructor may run any code, but none of it reads the
    // stage: the task is COMPLETE and RUNNING, which makes the join handle leave the
    // stage alone, and a cancel or poll return early on COMPLETE.
    let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(future) }));
    // SAFETY: the stage holds a dropped future, which must not be dropped again: a
    // plain write, before anything else can unwind, so the cell never holds a
    // dropped future once this function returns or unwinds.
    unsafe { stage.write(Stage::Consumed) };
    let output = match dropped.map_err(message_of) {
        Ok(()) => output,
        Err(message) if output.is_ok() || matches!(output, Err(JoinError::Cancelled)) => {
            Err(JoinError::Panicked(message))
        }
        Err(_) => output,
    };
    if matches!(output, Err(JoinError::Panicked(_))) {
        cell.header.set_panicked();
    }
    // SAFETY: as above; the stage holds `Consumed`, which has nothing to drop.
    unsafe { *stage = Stage::Finished(output) };
}

/// # Safety
/// `ptr` points to a live `TaskCell<F>`; owner thread; reference held; not re-entrant.
unsafe fn poll<F: Future>(ptr: NonNull<Header>) -> bool {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { cell::<F>(ptr) };
    if cell.header.is_cancel_requested() {
        // SAFETY: forwarded from the caller.
        return unsafe { cancel::<F>(ptr) };
    }
    // SAFETY: owner thread and not re-entrant, so this is the only reference into the
    // stage until the poll returns; the join handle does not touch a stage whose task
    // is not complete.
    let Stage::Running(future) = (unsafe { &mut *cell.stage.get() }) else {
        return false;
    };
    // SAFETY: the cell is live (caller contract), and the borrowed waker is
    // forgotten before this poll ends, while the caller's reference still holds it.
    let waker = ManuallyDrop::new(unsafe { waker::borrowed(ptr) });
    let mut cx = Context::from_waker(&waker);
    // SAFETY: the future lives inside the heap cell, which is never moved or freed
    // while the future is in it, and `complete` drops it in place (`drop_in_place`,
    // never a move), so the pinning guarantee holds from this poll until its drop.
    let future = unsafe { Pin::new_unchecked(future) };
    let output = match panic::catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))) {
        Ok(Poll::Pending) => {
            if cell.header.is_cancel_requested() {
                // The task cancelled itself (through its own handle) while running.
                // SAFETY: forwarded from the caller; the poll is over.
                return unsafe { cancel::<F>(ptr) };
            }
            return false;
        }
        Ok(Poll::Ready(value)) => Ok(value),
        Err(payload) => Err(JoinError::Panicked(message_of(payload))),
    };
    // SAFETY: forwarded from the caller; the poll (and its borrow) is over.
    unsafe { complete::<F>(ptr, output) };
    true
}

/// # Safety
/// As for [`poll`].
unsafe fn cancel<F: Future>(ptr: NonNull<Header>) -> bool {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { cell::<F>(ptr) };
    // SAFETY: owner thread, no reference into the stage is live.
    if !matches!(unsafe { &*cell.stage.get() }, Stage::Running(_)) {
        return false;
    }
    // SAFETY: forwarded from the caller.
    unsafe { complete::<F>(ptr, Err(JoinError::Cancelled)) };
    true
}

/// # Safety
/// `ptr` points to a live `TaskCell<F>`; owner thread; reference held; the task is
/// complete and not running (so `complete` is over: nothing borrows the stage and it
/// holds no half-dropped future); `dst` points to a `None` of type
/// `Option<Result<F::Output, JoinError>>`.
unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { cell::<F>(ptr) };
    // SAFETY: owner thread, and polls and `complete` (the only other borrowers of the
    // stage) happen while the task is running, which it is not (caller contract).
    let stage = unsafe { &mut *cell.stage.get() };
    if matches!(stage, Stage::Finished(_)) {
        if let Stage::Finished(output) = mem::replace(stage, Stage::Consumed) {
            // SAFETY: the caller guarantees `dst`'s type; it holds `None`, so
            // overwriting it without dropping leaks nothing.
            unsafe {
                dst.cast::<Option<Result<F::Output, JoinError>>>()
                    .write(Some(output))
            };
        }
    }
}

/// # Safety
/// As for [`read_output`] (without `dst`).
unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) -> Option<String> {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { cell::<F>(ptr) };
    // SAFETY: as in `read_output`.
    let stage = unsafe { &mut *cell.stage.get() };
    if !matches!(stage, Stage::Finished(_)) {
        return None;
    }
    match mem::replace(stage, Stage::Consumed) {
        Stage::Finished(Err(JoinError::Panicked(message))) => Some(message),
        other => drop_catching(other).err(),
    }
}

/// # Safety
/// `ptr` points to a `TaskCell<F>` whose last reference was just released.
unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<TaskCell<F>>();
    // SAFETY: this is the only remaining pointer to the cell, which is still live.
    let cell_ref = unsafe { cell.as_ref() };
    // SAFETY: no reference can reach the stage once the last task reference is gone.
    let stage = unsafe { &*cell_ref.stage.get() };
    debug_assert!(
        matches!(stage, Stage::Consumed),
        "a task cell was freed while holding its future or output"
    );
    // SAFETY: the cell was initialised in `allocate` and is dropped once, here.
    unsafe { std::ptr::drop_in_place(cell.as_ptr()) };
    // SAFETY: the block came from `alloc::allocate` with this layout.
    unsafe { alloc::deallocate(cell.cast(), Layout::new::<TaskCell<F>>()) };
}
