//! Task wakers.
//!
//! A waker is a pointer to the task cell plus a vtable. During a poll the task
//! hands out a *borrowed* waker that owns no reference (so `wake_by_ref` from the
//! task itself costs no atomic operation); `clone` takes an atomic reference.
//!
//! The vtable is made for the scheduler type `S` the task was spawned with, so a
//! wake calls `S::schedule` directly, with no indirect call between the waker and
//! the ready queue. On the runtime's own thread that pushes the task onto the local
//! ready queue; on any other thread, or after the runtime is gone, it goes through
//! the runtime's remote queue, which is a no-op once the runtime has shut down.
//!
//! Every waker of a task takes its vtable from the task's header (`Vtable::waker`),
//! never from the generic constant directly: copies of a constant may have
//! different addresses, and a task's wakers must compare equal under
//! `Waker::will_wake`.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{self, Header, RawTask, Schedule};

/// The waker vtable of tasks scheduled by an `S` (a task's `Vtable::waker`).
pub(super) struct WakerVtable<S>(PhantomData<S>);

impl<S: Schedule> WakerVtable<S> {
    pub(super) const VTABLE: RawWakerVTable =
        RawWakerVTable::new(clone::<S>, wake::<S>, wake_by_ref::<S>, drop_waker);
}

/// A waker for the task at `ptr` that owns no reference: it must not outlive the
/// poll it is created for, and must not be dropped (the caller wraps it in
/// `ManuallyDrop`); cloning it takes a reference as usual.
///
/// # Safety
///
/// `ptr` points to a live task cell, which stays alive while the waker is used.
pub(super) unsafe fn borrowed(ptr: NonNull<Header>) -> Waker {
    let vtable = RawTask::from_header(ptr).header().vtable.waker;
    let raw = RawWaker::new(ptr.as_ptr() as *const (), vtable);
    // SAFETY: the vtable is the one made for the scheduler type the cell was
    // allocated with (`cell::vtable`), whose functions uphold the `RawWaker`
    // contract for such a cell: clone takes a reference, drop releases one, and
    // the wake functions are thread-safe (`Schedule::schedule` may be called on
    // any thread).
    unsafe { Waker::from_raw(raw) }
}

fn task(data: *const ()) -> RawTask {
    // SAFETY: every `RawWaker` with these vtables was built from a non-null header
    // pointer, in `borrowed` or `clone`.
    RawTask::from_header(unsafe { NonNull::new_unchecked(data as *mut Header) })
}

unsafe fn clone<S: Schedule>(data: *const ()) -> RawWaker {
    let task = task(data);
    task.acquire_atomic();
    RawWaker::new(data, task.header().vtable.waker)
}

unsafe fn wake<S: Schedule>(data: *const ()) {
    let task = task(data);
    // SAFETY: a waker with `S`'s vtable was made for a cell scheduled by an `S`
    // (`borrowed`), and this waker owns the reference released below.
    unsafe { raw::schedule_as::<S>(task) };
    task.release_atomic();
}

unsafe fn wake_by_ref<S: Schedule>(data: *const ()) {
    // SAFETY: as in `wake`; the waker's owner keeps the cell alive meanwhile.
    unsafe { raw::schedule_as::<S>(task(data)) };
}

unsafe fn drop_waker(data: *const ()) {
    task(data).release_atomic();
}
