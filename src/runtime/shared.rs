//! The part of a runtime that other threads may touch: the remote-wake queue, the
//! main future's wake flag, and the eventfd that interrupts a parked loop
//! (DESIGN decision 7).
//!
//! # Lifetime
//!
//! A waker can outlive its runtime and be woken from any thread, so what it points
//! to must stay valid forever. `Shared` values are therefore never freed: each is a
//! *slot* that a runtime takes from a global pool when it starts and gives back when
//! it shuts down, and each runtime has a globally unique id. A task records its
//! runtime's slot and id; a remote wake compares the id with the slot's current owner
//! under the queue's lock and does nothing when they differ. So no per-task
//! reference count keeps the runtime alive, and a wake after shutdown is a no-op.
//! The pool holds at most as many slots (and eventfds) as runtimes ever ran at once.
//!
//! # Parking
//!
//! The loop sets `parked`, re-checks for remote work, then waits in the kernel. A
//! remote waker publishes its work, then reads `parked`; if set, it writes the eventfd
//! (once per park, thanks to `notified`, which each park resets before setting
//! `parked`). Both sides use `SeqCst`, so at least one sees the other: either the
//! loop finds the work before waiting, or the waker sees the park and interrupts it.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use crate::driver::sys;
use crate::task::RemoteTask;

/// Runtime ids; 0 means "no runtime".
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

/// Slots no runtime uses right now.
static POOL: Mutex<Vec<&'static Shared>> = Mutex::new(Vec::new());

struct RemoteQueue {
    tasks: Vec<RemoteTask>,
    /// The runtime that owns the slot (0: none, wakes are no-ops).
    owner: u64,
}

pub(crate) struct Shared {
    remote: Mutex<RemoteQueue>,
    /// Id of the owning runtime, for the main waker's lock-free check.
    owner: AtomicU64,
    remote_pending: AtomicBool,
    main_woken: AtomicBool,
    parked: AtomicBool,
    notified: AtomicBool,
    unpark: OwnedFd,
}

/// A runtime's claim on a slot; returns it to the pool when dropped.
pub(crate) struct SharedSlot {
    shared: &'static Shared,
    id: u64,
}

impl SharedSlot {
    /// Takes a slot from the pool (or creates one) for a new runtime.
    pub(crate) fn acquire() -> std::io::Result<SharedSlot> {
        let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let shared = match pooled {
            Some(shared) => shared,
            None => Box::leak(Box::new(Shared {
                remote: Mutex::new(RemoteQueue {
                    tasks: Vec::new(),
                    owner: 0,
                }),
                owner: AtomicU64::new(0),
                remote_pending: AtomicBool::new(false),
                main_woken: AtomicBool::new(false),
                parked: AtomicBool::new(false),
                notified: AtomicBool::new(false),
                unpark: sys::eventfd()?,
            })),
        };
        let id = NEXT_RUNTIME_ID.fetch_add(1, SeqCst);
        // Wake-ups meant for the previous owner must not reach this one.
        let _ = sys::eventfd_drain(shared.unpark.as_raw_fd());
        shared.remote_pending.store(false, SeqCst);
        shared.main_woken.store(false, SeqCst);
        shared.parked.store(false, SeqCst);
        shared.notified.store(false, SeqCst);
        shared.owner.store(id, SeqCst);
        shared.lock().owner = id;
        Ok(SharedSlot { shared, id })
    }

    pub(crate) fn shared(&self) -> &'static Shared {
        self.shared
    }

    /// This runtime's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Stops accepting remote wakes; returns those still queued.
    pub(crate) fn close(&self) -> Vec<RemoteTask> {
        let mut queue = self.shared.lock();
        queue.owner = 0;
        self.shared.owner.store(0, SeqCst);
        std::mem::take(&mut queue.tasks)
    }

    /// The main future's waker.
    pub(crate) fn main_waker(&self) -> std::task::Waker {
        std::task::Waker::from(Arc::new(MainWaker {
            shared: self.shared,
            id: self.id,
        }))
    }
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        let leftovers = self.close();
        drop(leftovers);
        POOL.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.shared);
    }
}

impl Shared {
    /// The eventfd the driver watches.
    pub(crate) fn unpark_fd(&self) -> RawFd {
        self.unpark.as_raw_fd()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RemoteQueue> {
        // The queue holds plain data, consistent even if a holder panicked.
        self.remote.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a wake for a task of runtime `runtime` from another thread (or from
    /// outside the runtime); a no-op if that runtime is gone.
    pub(crate) fn push_remote(&self, runtime: u64, task: RemoteTask) {
        {
            let mut queue = self.lock();
            if queue.owner != runtime {
                drop(queue);
                drop(task);
                return;
            }
            queue.tasks.push(task);
        }
        self.remote_pending.store(true, SeqCst);
        self.unpark();
    }

    /// Whether other threads queued wakes since the last [`take_remote`](Self::take_remote).
    pub(crate) fn has_remote(&self) -> bool {
        self.remote_pending.load(SeqCst)
    }

    /// Moves the queued remote wakes into `into` (owner thread).
    pub(crate) fn take_remote(&self, into: &mut Vec<RemoteTask>) {
        if self.remote_pending.load(SeqCst) {
            self.remote_pending.store(false, SeqCst);
            std::mem::swap(&mut self.lock().tasks, into);
        }
    }

    /// Whether the main future was woken since the last call (clears the flag).
    pub(crate) fn take_main_woken(&self) -> bool {
        self.main_woken.load(SeqCst) && self.main_woken.swap(false, SeqCst)
    }

    /// Whether the main future was woken and not polled since (leaves the flag).
    pub(crate) fn is_main_woken(&self) -> bool {
        self.main_woken.load(SeqCst)
    }

    pub(crate) fn set_main_woken(&self) {
        self.main_woken.store(true, SeqCst);
    }

    /// Declares the loop about to wait; returns `false` if work arrived meanwhile, in
    /// which case it must not wait.
    pub(crate) fn park(&self) -> bool {
        // `notified` is reset here, as the park begins, and only here. (Reset when
        // the loop woke, it raced with a waker that had read `parked` just before:
        // that waker's `true` survived into the next park, whose wakers then skipped
        // the eventfd while the write it stood for had already been drained — a
        // lost wake-up.) A write from an earlier park costs one spurious wake at most.
        self.notified.store(false, SeqCst);
        self.parked.store(true, SeqCst);
        !(self.remote_pending.load(SeqCst) || self.main_woken.load(SeqCst))
    }

    pub(crate) fn unparked(&self) {
        self.parked.store(false, SeqCst);
    }

    fn unpark(&self) {
        if self.parked.load(SeqCst) && !self.notified.swap(true, SeqCst) {
            if let Err(e) = sys::eventfd_signal(self.unpark.as_raw_fd()) {
                // Cannot happen for a valid eventfd; if it did, the loop would only
                // notice this wake at its next timer or completion.
                eprintln!("ringloop: failed to wake a parked runtime: {e}");
            }
        }
    }
}

/// The waker of the future given to `block_on`.
struct MainWaker {
    shared: &'static Shared,
    id: u64,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A stale waker (its runtime gone, the slot maybe reused) must not disturb
        // the slot's new owner beyond, at worst, one spurious poll.
        if self.shared.owner.load(SeqCst) == self.id {
            self.shared.set_main_woken();
            self.shared.unpark();
        }
    }
}
