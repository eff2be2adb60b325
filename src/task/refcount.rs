//! The atomic reference count of a task cell (see "Ownership" in `raw.rs`): one
//! unit per waker clone and per remote-queue entry, plus one for all the local
//! references together. Any thread may take or release a reference; the one that
//! releases the last frees the cell. Checked by `loom::task_refs`.

use std::sync::atomic::Ordering;

use crate::loom::{fence, AtomicUsize};

pub(crate) struct RefCount(AtomicUsize);

impl RefCount {
    /// A count of one: the unit the local references share.
    pub(crate) fn new() -> RefCount {
        RefCount(AtomicUsize::new(1))
    }

    /// Takes a reference. The caller holds one already, so the count cannot be
    /// zero, and nothing needs ordering against it: `Relaxed`, as in `Arc::clone`.
    pub(crate) fn acquire(&self) {
        let old = self.0.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            // Same policy as `Arc`: a leaked waker per iteration must not overflow.
            std::process::abort();
        }
    }

    /// Releases a reference; returns `true` when it was the last one, in which case
    /// the caller frees the cell, and everything the other holders did to it before
    /// releasing theirs happened before this return.
    #[must_use]
    pub(crate) fn release(&self) -> bool {
        // If ours is the only reference, nobody can take another (that takes a
        // reference, or a waker borrowed during a poll, which holds a local one), so
        // a load suffices and saves the read-modify-write. Its `Acquire` pairs with
        // the `Release` decrements of the other holders that came before.
        if self.0.load(Ordering::Acquire) != 1 && self.0.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        // The last decrement was ours: the holders that released theirs before us
        // did so with `Release`; this makes their accesses happen before the free.
        fence(Ordering::Acquire);
        true
    }
}
