//! The atomic reference count of a task cell (`task/refcount.rs`), with the remote
//! wakes that take and drop references on other threads (`RawTask::wake` off the
//! owner thread, `RemoteTask`, the inbox): the cell is freed exactly once, after
//! every other holder's last use of it, whoever releases last, the load-only
//! shortcut for the last reference included.
//!
//! A remote wake touches no other part of the cell: the task's state bits are
//! owner-only `Cell`s (see `raw.rs`), read and written by the owner thread alone.

use ::loom::cell::UnsafeCell;
use ::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use ::loom::sync::Arc;
use ::loom::thread;

use crate::runtime::inbox::Inbox;
use crate::task::refcount::RefCount;

/// A task cell reduced to what the count protects. Loom reports any access to the
/// `UnsafeCell`s that the free does not come after.
struct TaskCell {
    refs: RefCount,
    /// What any holder reads: the id, the runtime, the vtable.
    header: UnsafeCell<u64>,
    /// The future or the output: the owner drops it before releasing its unit.
    stage: UnsafeCell<u64>,
    /// How many times the cell was freed.
    frees: AtomicUsize,
}

impl TaskCell {
    /// A new task: one unit, held by its local references.
    fn new() -> Arc<TaskCell> {
        Arc::new(TaskCell {
            refs: RefCount::new(),
            header: UnsafeCell::new(7),
            stage: UnsafeCell::new(7),
            frees: AtomicUsize::new(0),
        })
    }

    /// `RawTask::release_atomic`: the last release frees (here: overwrites) it.
    fn release(&self) {
        if self.refs.release() {
            // SAFETY: the `Arc` keeps the pointee alive; whether this access (or
            // any below) races with another is what loom checks.
            self.header.with_mut(|header| unsafe { *header = 0 });
            // SAFETY: as above.
            self.stage.with_mut(|stage| unsafe { *stage = 0 });
            self.frees.fetch_add(1, SeqCst);
        }
    }

    /// The owner completes the task (drops its future, stores and drops the
    /// output), then the last local reference goes.
    fn complete_and_release_local(&self) {
        // SAFETY: as in `release`.
        self.stage.with_mut(|stage| unsafe { *stage = 1 });
        self.release();
    }
}

/// An atomic reference: a cloned waker, or a `RemoteTask` in the inbox.
struct TaskRef(Arc<TaskCell>);

impl TaskRef {
    /// `RawTask::acquire_atomic` by a holder of a reference.
    fn clone_of(cell: &Arc<TaskCell>) -> TaskRef {
        cell.refs.acquire();
        TaskRef(cell.clone())
    }

    /// `waker.wake()` off the owner thread: reads the header, queues a new
    /// reference in the inbox (dropped there if the runtime is gone), then drops
    /// the waker's own.
    fn wake(self, inbox: &Inbox<TaskRef>) {
        // SAFETY: as in `TaskCell::release`.
        let runtime = self.0.header.with(|header| unsafe { *header });
        assert_eq!(runtime, 7);
        let _ = inbox.push(1, TaskRef::clone_of(&self.0));
    }

    /// `RemoteTask::schedule_with`: the owner reads the task's state.
    fn schedule_here(self) {
        // SAFETY: as in `TaskCell::release`.
        self.0.stage.with(|stage| unsafe { *stage });
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        self.0.release();
    }
}

fn open_inbox() -> Arc<Inbox<TaskRef>> {
    let inbox = Arc::new(Inbox::new());
    inbox.open(1);
    inbox
}

/// A waker woken on another thread while the task completes on its own: the
/// owner schedules what the inbox holds and releases its unit; the cell goes once.
#[test]
fn a_remote_wake_racing_completion() {
    super::check(|| {
        let inbox = open_inbox();
        let cell = TaskCell::new();
        let waker = TaskRef::clone_of(&cell);
        let remote = {
            let inbox = inbox.clone();
            thread::spawn(move || waker.wake(&inbox))
        };
        let mut buf = Vec::new();
        inbox.take(&mut buf);
        for entry in buf.drain(..) {
            entry.schedule_here();
        }
        cell.complete_and_release_local();
        remote.join().unwrap();
        drop(inbox.close());
        assert_eq!(cell.frees.load(SeqCst), 1);
    });
}

/// A wake after the runtime shut down: the push drops its reference on the waker's
/// thread, which may be the last one.
#[test]
fn a_remote_wake_racing_shutdown() {
    super::check(|| {
        let inbox = open_inbox();
        let cell = TaskCell::new();
        let waker = TaskRef::clone_of(&cell);
        let remote = {
            let inbox = inbox.clone();
            thread::spawn(move || waker.wake(&inbox))
        };
        cell.complete_and_release_local();
        drop(inbox.close());
        remote.join().unwrap();
        assert_eq!(cell.frees.load(SeqCst), 1);
    });
}

/// Two wakers dropped on two threads while the owner releases its unit: any of the
/// three may be last, by the `fetch_sub` or by the load-only shortcut.
#[test]
fn wakers_dropped_on_other_threads() {
    super::check(|| {
        let cell = TaskCell::new();
        let wakers = [TaskRef::clone_of(&cell), TaskRef::clone_of(&cell)];
        let threads = wakers.map(|waker| {
            thread::spawn(move || {
                // SAFETY: as in `TaskCell::release`.
                waker.0.header.with(|header| unsafe { *header });
                drop(waker);
            })
        });
        cell.complete_and_release_local();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(cell.frees.load(SeqCst), 1);
    });
}
