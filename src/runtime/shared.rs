//! The part of a runtime that other threads may touch: its [`Inbox`] (remote wakes,
//! the main future's wake flag, the park handshake) and the eventfd that interrupts
//! a parked loop (ARCHITECTURE.md, decision 7).
//!
//! # Lifetime
//!
//! A waker can outlive its runtime and be woken from any thread, so what it points
//! to must stay valid forever. `Shared` values are therefore never freed: each is a
//! *slot* that a runtime takes from a global pool when it starts and gives back when
//! it shuts down, and each runtime has a globally unique id. A task records its
//! runtime's slot and id; a remote wake names that id and the inbox ignores it when
//! the slot has another owner (see `inbox.rs`). So no per-task reference count keeps
//! the runtime alive, and a wake after shutdown is a no-op. The pool holds at most as
//! many slots (and eventfds) as runtimes ever ran at once.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use super::calls::{Call, CallGate, Remote};
use super::inbox::Inbox;
use crate::driver::sys;
use crate::task::RemoteTask;

/// Runtime ids; 0 means "no runtime".
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

/// Slots no runtime uses right now.
static POOL: Mutex<Vec<&'static Shared>> = Mutex::new(Vec::new());

pub(crate) struct Shared {
    inbox: Inbox<Remote>,
    unpark: OwnedFd,
    /// The bound on calls queued from other threads (`calls.rs`).
    gate: CallGate,
}

/// A runtime's claim on a slot; returns it to the pool when dropped.
pub(crate) struct SharedSlot {
    shared: &'static Shared,
    id: u64,
}

impl SharedSlot {
    /// Takes a slot from the pool (or creates one) for a new runtime.
    pub(crate) fn acquire(call_capacity: usize) -> std::io::Result<SharedSlot> {
        let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let shared = match pooled {
            Some(shared) => shared,
            None => Box::leak(Box::new(Shared {
                inbox: Inbox::new(),
                unpark: sys::eventfd()?,
                gate: CallGate::new(),
            })),
        };
        let id = NEXT_RUNTIME_ID.fetch_add(1, SeqCst);
        // Wake-ups meant for the previous owner must not reach this one.
        let _ = sys::eventfd_drain(shared.unpark.as_fd());
        shared.gate.set_capacity(call_capacity);
        shared.inbox.open(id);
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
    pub(crate) fn close(&self) -> Vec<Remote> {
        self.shared.inbox.close()
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
    pub(crate) fn unpark_fd(&'static self) -> BorrowedFd<'static> {
        self.unpark.as_fd()
    }

    /// The queue, flags and park handshake (the owner thread uses them directly).
    pub(crate) fn inbox(&self) -> &Inbox<Remote> {
        &self.inbox
    }

    /// The bound on calls from other threads.
    pub(crate) fn gate(&'static self) -> &'static CallGate {
        &self.gate
    }

    /// Queues a wake for a task of runtime `runtime` from another thread (or from
    /// outside the runtime); a no-op if that runtime is gone.
    pub(crate) fn push_remote(&self, runtime: u64, task: RemoteTask) {
        match self.inbox.push(runtime, Remote::Wake(task)) {
            Ok(true) => self.interrupt(),
            Ok(false) => {}
            // Dropped outside the inbox's lock.
            Err(stale) => drop(stale),
        }
    }

    /// Queues a call on runtime `runtime`; hands it back if that runtime is gone.
    pub(crate) fn push_call(&self, runtime: u64, call: Call) -> Result<(), Call> {
        match self.inbox.push(runtime, Remote::Call(call)) {
            Ok(interrupt) => {
                if interrupt {
                    self.interrupt();
                }
                Ok(())
            }
            Err(Remote::Call(call)) => Err(call),
            Err(Remote::Wake(_)) => unreachable!("the inbox hands back what it was given"),
        }
    }

    /// Ends the loop's wait.
    fn interrupt(&self) {
        if let Err(e) = sys::eventfd_signal(self.unpark.as_fd()) {
            // Cannot happen for a valid eventfd; if it did, the loop would only
            // notice this wake at its next timer or completion.
            eprintln!("ringloop: failed to wake a parked runtime: {e}");
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
        // A stale waker (its runtime gone, the slot maybe reused) is a no-op.
        if self.shared.inbox.wake_main(self.id) {
            self.shared.interrupt();
        }
    }
}
