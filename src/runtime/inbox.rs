//! What other threads hand to a runtime, and the handshake that tells them when to
//! interrupt its wait: the remote-wake queue, the main future's wake flag, and the
//! `parked`/`notified` flags. No system calls: when a waker must interrupt the loop,
//! [`Inbox::push`] and [`Inbox::wake_main`] say so and the caller interrupts it
//! (`shared.rs`: an eventfd write, or a `MSG_RING` from another ring; either ends
//! the wait, and either left over costs one spurious turn at most, so the argument
//! below holds for both). This is the code the loom models of `src/loom/` check.
//!
//! # Ownership
//!
//! An inbox belongs to one runtime at a time, named by its id ([`open`](Inbox::open));
//! a push or a main wake that names another id (a waker that outlived its runtime)
//! is a no-op, decided under the queue's lock for pushes, so nothing reaches the next
//! owner of a reused inbox. [`close`](Inbox::close) ends the ownership and hands back
//! what was still queued.
//!
//! # Parking
//!
//! The loop calls [`park`](Inbox::park) before it waits: it resets `notified`, sets
//! `parked`, then re-checks for work. A waker publishes its work (the queue and
//! `pending`, or `main_woken`), then reads `parked`; if set, it swaps `notified` to
//! `true` and, if it was the first to do so in this park, writes the eventfd. Every
//! access is `SeqCst`, so of the loop's "set `parked`, read work" and the waker's
//! "publish work, read `parked`" at least one sees the other: either the loop finds
//! the work and does not wait, or the waker sees the park and interrupts it. The loop
//! calls [`unparked`](Inbox::unparked) once its wait is over; the eventfd itself is
//! drained by the driver whenever it reports it readable.
//!
//! `notified` is reset as a park begins, and only then. Reset when the loop woke, it
//! raced with a waker that had read `parked` just before: that waker's `true`
//! survived into the next park, whose wakers then skipped the eventfd while the
//! write it stood for had already been drained in a non-waiting turn: a lost
//! wake-up (`loom::park::wakes_across_two_parks` finds it). A write left over from an
//! earlier park costs one spurious wake at most.

use std::ops::DerefMut;
use std::sync::atomic::Ordering::SeqCst;

use crate::loom::{AtomicBool, AtomicU64, Mutex};

/// The queue and the id of its owner, read and written together under the lock.
struct Queue<T> {
    items: Vec<T>,
    /// The runtime that owns the inbox (0: none, pushes are no-ops).
    owner: u64,
}

/// See the module docs. `T` is a queued wake (`RemoteTask` in the runtime).
pub(crate) struct Inbox<T> {
    queue: Mutex<Queue<T>>,
    /// The owner's id again, for the main waker's lock-free check.
    owner: AtomicU64,
    /// Pushes since the loop last took the queue.
    pending: AtomicBool,
    /// The main future was woken and not polled since.
    main_woken: AtomicBool,
    /// The loop is waiting, or about to (between `park` and `unparked`).
    parked: AtomicBool,
    /// A waker already interrupted the current park.
    notified: AtomicBool,
}

impl<T> Inbox<T> {
    /// An inbox that no runtime owns yet.
    pub(crate) fn new() -> Inbox<T> {
        Inbox {
            queue: Mutex::new(Queue {
                items: Vec::new(),
                owner: 0,
            }),
            owner: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> impl DerefMut<Target = Queue<T>> + '_ {
        // The queue holds plain data, consistent even if a holder panicked.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands the inbox to runtime `id` (not 0), with no work and no park; after a
    /// [`close`](Self::close) when it is reused.
    pub(crate) fn open(&self, id: u64) {
        self.pending.store(false, SeqCst);
        self.main_woken.store(false, SeqCst);
        self.parked.store(false, SeqCst);
        self.notified.store(false, SeqCst);
        self.owner.store(id, SeqCst);
        self.lock().owner = id;
    }

    /// The id of the runtime that owns the inbox (0: none).
    pub(crate) fn owner(&self) -> u64 {
        self.owner.load(SeqCst)
    }

    /// Stops accepting wakes; returns those still queued.
    pub(crate) fn close(&self) -> Vec<T> {
        let mut queue = self.lock();
        queue.owner = 0;
        self.owner.store(0, SeqCst);
        std::mem::take(&mut queue.items)
    }

    /// Queues `item` for runtime `owner` (from any thread). Returns whether the
    /// caller must interrupt the loop's wait (write the eventfd), or, when that
    /// runtime no longer owns the inbox, hands `item` back (so that the caller drops
    /// it outside the lock, or reports the call as refused).
    pub(crate) fn push(&self, owner: u64, item: T) -> Result<bool, T> {
        {
            let mut queue = self.lock();
            if queue.owner != owner {
                return Err(item);
            }
            queue.items.push(item);
        }
        self.pending.store(true, SeqCst);
        Ok(self.must_interrupt())
    }

    /// Whether items were pushed since the last [`take`](Self::take).
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(SeqCst)
    }

    /// Moves the queued items into `into`, which must be empty (owner thread).
    pub(crate) fn take(&self, into: &mut Vec<T>) {
        // Cleared before the queue is taken: a push that comes after the take sets
        // it again, one that came before is in the queue we take.
        if self.pending.load(SeqCst) {
            self.pending.store(false, SeqCst);
            std::mem::swap(&mut self.lock().items, into);
        }
    }

    /// Marks the main future of runtime `owner` woken (from any thread); a no-op
    /// when that runtime no longer owns the inbox. Returns whether the caller must
    /// interrupt the loop's wait.
    #[must_use]
    pub(crate) fn wake_main(&self, owner: u64) -> bool {
        // A stale waker that passes this check just before the inbox changes hands
        // costs the new owner one spurious poll at most.
        if self.owner.load(SeqCst) != owner {
            return false;
        }
        self.set_main_woken();
        self.must_interrupt()
    }

    /// Marks the main future woken (owner thread: no interrupt needed).
    pub(crate) fn set_main_woken(&self) {
        self.main_woken.store(true, SeqCst);
    }

    /// Whether the main future was woken since the last call (clears the flag).
    pub(crate) fn take_main_woken(&self) -> bool {
        self.main_woken.load(SeqCst) && self.main_woken.swap(false, SeqCst)
    }

    /// Whether the main future was woken and not polled since (leaves the flag).
    pub(crate) fn is_main_woken(&self) -> bool {
        self.main_woken.load(SeqCst)
    }

    /// Declares the loop about to wait; returns `false` if work arrived meanwhile, in
    /// which case it must not wait. See "Parking" in the module docs.
    pub(crate) fn park(&self) -> bool {
        // A swap, not a store, though a store would do: the memory model orders it
        // after a late waker's swap that read the previous park's `true`, but loom
        // does not (it lets a later waker read that stale `true` past the reset) and
        // would report a lost wake-up that cannot happen. Same cost: a `SeqCst` store
        // is an `xchg` on x86 too.
        self.notified.swap(false, SeqCst);
        self.parked.store(true, SeqCst);
        !(self.pending.load(SeqCst) || self.main_woken.load(SeqCst))
    }

    /// The loop's wait is over.
    pub(crate) fn unparked(&self) {
        self.parked.store(false, SeqCst);
    }

    /// Called by a waker after publishing its work: whether the loop is parked and
    /// nobody has interrupted this park yet.
    fn must_interrupt(&self) -> bool {
        self.parked.load(SeqCst) && !self.notified.swap(true, SeqCst)
    }
}
