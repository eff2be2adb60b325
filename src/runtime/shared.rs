//! The part of a runtime that other threads may touch: its [`Inbox`] (remote wakes,
//! the main future's wake flag, the park handshake), the eventfd that interrupts
//! a parked loop, and the descriptor of its ring, which lets another io_uring loop
//! interrupt it with `IORING_OP_MSG_RING` instead (ARCHITECTURE.md, decision 7).
//!
//! # Interrupting a parked loop
//!
//! The inbox says when a waker must interrupt the loop's wait (at most once per
//! park); [`Shared::interrupt`] decides how. The eventfd always works: from a plain
//! thread, from an epoll runtime, under the 5.10 mask. But when the waker runs on a
//! thread whose current runtime is an io_uring one whose probe has `MSG_RING`, and
//! the target has published its ring's descriptor, the waker's own ring posts a
//! completion straight into the target's (`Handle::msg_ring_wake`): no write to
//! drain on the other side, no poll to re-arm. A runtime publishes its descriptor
//! when it is created, if its own probe has `MSG_RING` (so it expects such
//! completions) and it was not told otherwise (`Builder::msg_ring_wakes`,
//! `RINGLOOP_MSG_RING=0`); it withdraws it when it closes its inbox at shutdown,
//! before its ring is closed. Where the message cannot be sent (the waker's driver
//! is busy up the stack, its queue is full), the eventfd is written instead; one
//! the kernel fails (no memory, say) comes back to the sender's loop, which writes
//! the target's eventfd after its next driver turn, so no wake is lost.
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

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use super::calls::{Call, CallGate, Remote};
use super::context;
use super::inbox::Inbox;
use crate::driver::sys;
use crate::task::RemoteTask;

/// Runtime ids; 0 means "no runtime".
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

/// Slots no runtime uses right now.
static POOL: Mutex<Vec<&'static Shared>> = Mutex::new(Vec::new());

/// Every slot ever made, by index (its [`token`](Shared::token)).
static SLOTS: Mutex<Vec<&'static Shared>> = Mutex::new(Vec::new());

pub(crate) struct Shared {
    inbox: Inbox<Remote>,
    unpark: OwnedFd,
    /// The descriptor of the owner's ring while it takes `MSG_RING` wakes; -1
    /// otherwise (see the module docs).
    ring_fd: AtomicI32,
    /// Threads between reading `ring_fd` and submitting their `MSG_RING`.
    msg_senders: AtomicUsize,
    /// The bound on calls queued from other threads (`calls.rs`).
    gate: CallGate,
    /// This slot's place in `SLOTS`.
    index: usize,
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
            None => {
                let unpark = sys::eventfd()?;
                let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
                let shared: &'static Shared = Box::leak(Box::new(Shared {
                    inbox: Inbox::new(),
                    unpark,
                    ring_fd: AtomicI32::new(-1),
                    msg_senders: AtomicUsize::new(0),
                    gate: CallGate::new(),
                    index: slots.len(),
                }));
                slots.push(shared);
                shared
            }
        };
        let id = NEXT_RUNTIME_ID.fetch_add(1, SeqCst);
        // Wake-ups meant for the previous owner must not reach this one.
        let _ = sys::eventfd_drain(shared.unpark.as_fd());
        shared.ring_fd.store(-1, SeqCst);
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

    /// Lets other io_uring runtimes wake this one's parked loop with `MSG_RING`
    /// aimed at `ring_fd`, its ring (see the module docs).
    pub(crate) fn publish_ring_fd(&self, ring_fd: RawFd) {
        self.shared.ring_fd.store(ring_fd, SeqCst);
    }

    /// Stops accepting remote wakes (and `MSG_RING` wakes: the ring's descriptor
    /// is withdrawn); returns the wakes still queued. Shutdown calls this before it
    /// closes the ring.
    ///
    /// A waker may have read the descriptor just before it is withdrawn and send
    /// its `MSG_RING` after the ring is closed. That is harmless: by then the inbox
    /// is closed, so the wake had nothing to deliver anyway; and the entry carries
    /// only a `user_data` and a length, never a pointer, so whatever the number now
    /// names, no memory is touched. Closed, or reused by anything but a ring, the
    /// message fails with an error completion on the *sender's* ring, whose only
    /// effect is a write to this slot's eventfd (`Core::redeliver_failed_wakes`):
    /// a spurious wake of whoever owns the slot then; reused by another ring (a
    /// runtime started since), that ring gets a spurious `MSG_WAKE`, which costs it
    /// one loop turn. A waker that
    /// reads the slot after it changed hands sees -1 or the new owner's ring
    /// (the withdrawal precedes the hand-over), never the old one.
    pub(crate) fn close(&self) -> Vec<Remote> {
        self.shared.ring_fd.store(-1, SeqCst);
        // A sender that read the descriptor before the store submits within a
        // system call; after this, none uses it (see `Shared::interrupt`). Both
        // sides are `SeqCst`: a sender either sees -1 or is counted here.
        while self.shared.msg_senders.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
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

    /// Ends the loop's wait: with `MSG_RING` from the current runtime's ring where
    /// both ends take it, else by writing the eventfd (see the module docs).
    fn interrupt(&self) {
        // Registered as a sender before reading the descriptor, and until the
        // message is submitted (the kernel takes its own reference to the target
        // ring then): `close` waits for the senders it may have raced with, so
        // the number is never used after the ring behind it is closed, when it
        // could name another ring of the process (one that is not ringloop's).
        self.msg_senders.fetch_add(1, SeqCst);
        let ring_fd = self.ring_fd.load(SeqCst);
        let sent = ring_fd >= 0
            && context::with_core(|core| core.msg_ring_wake(ring_fd, self.token())) == Some(true);
        self.msg_senders.fetch_sub(1, SeqCst);
        if !sent {
            self.signal_eventfd();
        }
    }

    /// This slot as a number: what a `MSG_RING` wake of its runtime carries on
    /// the sender's ring, handed back if the kernel fails it (`from_token`).
    pub(crate) fn token(&self) -> u64 {
        self.index as u64
    }

    /// The slot whose [`token`](Self::token) is `token`, if there is one.
    pub(crate) fn from_token(token: u64) -> Option<&'static Shared> {
        let slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        usize::try_from(token)
            .ok()
            .and_then(|i| slots.get(i).copied())
    }

    /// Ends the loop's wait by writing the eventfd.
    pub(crate) fn signal_eventfd(&self) {
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

#[cfg(test)]
mod tests {
    use super::{Shared, SharedSlot};

    #[test]
    fn a_token_names_its_slot() {
        let a = SharedSlot::acquire(1).unwrap();
        let b = SharedSlot::acquire(1).unwrap();
        for slot in [&a, &b] {
            let found = Shared::from_token(slot.shared().token()).unwrap();
            assert!(std::ptr::eq(found, slot.shared()));
        }
        assert_ne!(a.shared().token(), b.shared().token());
        assert!(Shared::from_token(u64::MAX).is_none());
    }
}
