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
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::raw::{Header, Vtable};
use super::{alloc, waker, JoinError, TaskId};
use crate::runtime::Shared;

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
pub(super) fn allocate<F>(
    future: F,
    id: TaskId,
    runtime: u64,
    shared: &'static Shared,
) -> NonNull<Header>
where
    F: Future + 'static,
{
    let layout = Layout::new::<TaskCell<F>>();
    let ptr = alloc::allocate(layout).cast::<TaskCell<F>>();
    // SAFETY: `allocate` returned a block that fits `TaskCell<F>`'s layout.
    unsafe {
        ptr.as_ptr().write(TaskCell {
            header: Header::new(id, vtable::<F>(), runtime, shared),
            stage: UnsafeCell::new(Stage::Running(future)),
        })
    };
    ptr.cast()
}

fn vtable<F: Future + 'static>() -> &'static Vtable {
    &Vtable {
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

/// Drops `value`, catching a panic from its destructor.
fn drop_catching<T>(value: T) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).map_err(|p| panic_message(&*p))
}

/// # Safety
/// `ptr` points to a live `TaskCell<F>`; the caller runs on the owner thread and
/// holds a reference.
unsafe fn cell<'a, F: Future>(ptr: NonNull<Header>) -> &'a TaskCell<F> {
    // SAFETY: guaranteed by the caller; the header is the first field (`repr(C)`).
    unsafe { ptr.cast::<TaskCell<F>>().as_ref() }
}

/// Finishes the task with `output`: drops the future (catching a destructor panic)
/// and stores the output.
///
/// # Safety
/// As for [`cell`], and no reference into the stage is live.
unsafe fn complete<F: Future>(ptr: NonNull<Header>, output: Result<F::Output, JoinError>) {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { cell::<F>(ptr) };
    // Self-wakes from the destructor must not requeue the task.
    cell.header.set_complete();
    let stage = cell.stage.get();
    // SAFETY: no reference into the stage is live (caller contract), owner thread.
    let old = unsafe { mem::replace(&mut *stage, Stage::Consumed) };
    let output = match drop_catching(old) {
        Ok(()) => output,
        Err(message) if output.is_ok() || matches!(output, Err(JoinError::Cancelled)) => {
            Err(JoinError::Panicked(message))
        }
        Err(_) => output,
    };
    if matches!(output, Err(JoinError::Panicked(_))) {
        cell.header.set_panicked();
    }
    // SAFETY: as above; the destructor we ran may have looked at the stage (through
    // the join handle) but holds no reference into it any more.
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
    let waker = ManuallyDrop::new(waker::borrowed(ptr));
    let mut cx = Context::from_waker(&waker);
    // SAFETY: the future lives inside the heap cell, which never moves, and it is
    // dropped in place (by `complete`), so it stays pinned.
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
        Err(payload) => Err(JoinError::Panicked(panic_message(&*payload))),
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
/// As for [`poll`], and `dst` points to a `None` of type
/// `Option<Result<F::Output, JoinError>>`.
unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { cell::<F>(ptr) };
    // SAFETY: owner thread; a reference into the stage is only live during a poll,
    // and then the stage is `Running`, which we do not touch.
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
