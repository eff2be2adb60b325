//! Task wakers.
//!
//! A waker is a pointer to the task cell plus this vtable. During a poll the task
//! hands out a *borrowed* waker that owns no reference (so `wake_by_ref` from the
//! task itself costs no atomic operation); `clone` takes an atomic reference.
//!
//! `wake` on the runtime's own thread pushes the task onto the local ready queue; on
//! any other thread, or after the runtime is gone, it goes through the runtime's
//! remote queue, which is a no-op once the runtime has shut down.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{Header, RawTask};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for the task at `ptr` that owns no reference: it must not outlive the
/// poll it is created for, and must not be dropped (the caller wraps it in
/// `ManuallyDrop`); cloning it takes a reference as usual.
pub(super) fn borrowed(ptr: NonNull<Header>) -> Waker {
    let raw = RawWaker::new(ptr.as_ptr() as *const (), &VTABLE);
    // SAFETY: the vtable's functions uphold the `RawWaker` contract for pointers to
    // live task cells: clone takes a reference, drop releases one, and the waker
    // functions are thread-safe (see `RawTask::wake`).
    unsafe { Waker::from_raw(raw) }
}

fn task(data: *const ()) -> RawTask {
    // SAFETY: every `RawWaker` with this vtable was built from a non-null header
    // pointer, in `borrowed` or `clone`.
    RawTask::from_header(unsafe { NonNull::new_unchecked(data as *mut Header) })
}

unsafe fn clone(data: *const ()) -> RawWaker {
    task(data).acquire_atomic();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    let task = task(data);
    task.wake();
    task.release_atomic();
}

unsafe fn wake_by_ref(data: *const ()) {
    task(data).wake();
}

unsafe fn drop_waker(data: *const ()) {
    task(data).release_atomic();
}
