//! The part of a runtime that other threads may touch: the remote-wake queue, the
//! main future's wake flag, and the eventfd that interrupts a parked loop
//! (DESIGN decision 7).
//!
//! Parking protocol: the loop sets `parked`, then re-checks for remote work, then
//! waits in the kernel. A remote waker publishes its work, then reads `parked`; if
//! set, it writes the eventfd (once per park, thanks to `notified`). Both sides use
//! `SeqCst`, so at least one sees the other: either the loop finds the work before
//! waiting, or the waker sees the park and interrupts it.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use crate::driver::sys;
use crate::task::RemoteTask;

struct RemoteQueue {
    tasks: Vec<RemoteTask>,
    /// The runtime shut down: wakes are no-ops.
    closed: bool,
}

pub(crate) struct Shared {
    remote: Mutex<RemoteQueue>,
    remote_pending: AtomicBool,
    main_woken: AtomicBool,
    parked: AtomicBool,
    notified: AtomicBool,
    unpark: OwnedFd,
}

impl Shared {
    pub(crate) fn new() -> std::io::Result<Shared> {
        Ok(Shared {
            remote: Mutex::new(RemoteQueue {
                tasks: Vec::new(),
                closed: false,
            }),
            remote_pending: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
            unpark: sys::eventfd()?,
        })
    }

    /// The eventfd the driver watches.
    pub(crate) fn unpark_fd(&self) -> RawFd {
        self.unpark.as_raw_fd()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RemoteQueue> {
        // The queue holds plain data, consistent even if a holder panicked.
        self.remote.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a wake from another thread (or from outside the runtime).
    pub(crate) fn push_remote(&self, task: RemoteTask) {
        {
            let mut queue = self.lock();
            if queue.closed {
                drop(queue);
                drop(task);
                return;
            }
            queue.tasks.push(task);
        }
        self.remote_pending.store(true, SeqCst);
        self.unpark();
    }

    /// Moves the queued remote wakes into `into` (owner thread).
    pub(crate) fn take_remote(&self, into: &mut Vec<RemoteTask>) {
        if self.remote_pending.load(SeqCst) {
            self.remote_pending.store(false, SeqCst);
            std::mem::swap(&mut self.lock().tasks, into);
        }
    }

    /// Stops accepting remote wakes; returns those still queued.
    pub(crate) fn close(&self) -> Vec<RemoteTask> {
        let mut queue = self.lock();
        queue.closed = true;
        std::mem::take(&mut queue.tasks)
    }

    /// Whether the main future was woken since the last call (clears the flag).
    pub(crate) fn take_main_woken(&self) -> bool {
        self.main_woken.load(SeqCst) && self.main_woken.swap(false, SeqCst)
    }

    pub(crate) fn set_main_woken(&self) {
        self.main_woken.store(true, SeqCst);
    }

    /// Declares the loop about to wait; returns `false` if work arrived meanwhile, in
    /// which case it must not wait.
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, SeqCst);
        !(self.remote_pending.load(SeqCst) || self.main_woken.load(SeqCst))
    }

    pub(crate) fn unparked(&self) {
        self.parked.store(false, SeqCst);
        self.notified.store(false, SeqCst);
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

/// The main future's waker: `block_on` polls the main future when this fired.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.set_main_woken();
        self.unpark();
    }
}
