//! Calls from other threads: what [`LoopHandle`](super::LoopHandle) queues on a
//! runtime, and the gate that bounds how many may wait there.
//!
//! A call is a boxed `FnOnce() + Send` that travels through the runtime's inbox,
//! next to remote wakes ([`Remote`]). The loop takes both at the same point of its
//! turn (`Core::drain_remote`) and runs each call there, like a callback queued on
//! the loop itself (asyncio's `call_soon_threadsafe`; a panic is reported and the
//! loop goes on), and a batch of calls from any
//! number of threads costs the parked target one eventfd wake (`inbox.rs`).
//!
//! # Back-pressure
//!
//! Each slot has a [`CallGate`]: a count of the calls that hold a [`CallPermit`]
//! and the wakers of callers waiting for one. A permit is taken before a call is
//! queued and travels with it; it is released when the call has run, and for
//! `run_coroutine_threadsafe` only when the task it started has finished, so a
//! target that is slow to finish its work makes its callers wait instead of
//! growing its memory. Dropped unrun (the target stopped), a call releases its
//! permit too. The count lives in the slot, which outlives every runtime that
//! uses it, and each permit is released exactly once by its `Drop`, so the count
//! stays exact across runtimes that reuse the slot.
//!
//! A waiting caller registers its waker under the waiters' lock after a failed
//! try, and a release decrements the count before taking that lock: either the
//! caller's try sees the decrement, or the release sees the waker.

use std::collections::BTreeMap;
use std::ops::DerefMut;
use std::sync::atomic::Ordering::SeqCst;
use std::task::Waker;

use crate::loom::{AtomicUsize, Mutex};
use crate::task::RemoteTask;

/// A call queued on a runtime from another thread; it owns the permit it holds.
pub(crate) type Call = Box<dyn FnOnce() + Send>;

/// What other threads hand to a runtime's inbox.
pub(crate) enum Remote {
    /// A task of this runtime woken elsewhere.
    Wake(RemoteTask),
    /// A callback to run on this runtime.
    Call(Call),
}

/// The bound on a slot's queued calls (see the module docs).
pub(crate) struct CallGate {
    /// Calls holding a permit.
    held: AtomicUsize,
    /// How many may (set by the runtime that owns the slot).
    capacity: AtomicUsize,
    /// Callers waiting for a permit, oldest first.
    waiters: Mutex<Waiters>,
}

struct Waiters {
    next: u64,
    wakers: BTreeMap<u64, Waker>,
}

/// A caller's place among the waiters, to leave it when the caller goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaiterKey(u64);

impl CallGate {
    pub(crate) fn new() -> CallGate {
        CallGate {
            held: AtomicUsize::new(0),
            capacity: AtomicUsize::new(usize::MAX),
            waiters: Mutex::new(Waiters {
                next: 0,
                wakers: BTreeMap::new(),
            }),
        }
    }

    /// Sets how many calls may hold a permit at once (at least one).
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), SeqCst);
        let wakers: Vec<Waker> = std::mem::take(&mut self.lock().wakers)
            .into_values()
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Calls holding a permit now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(SeqCst)
    }

    /// Takes a permit if one is free.
    pub(crate) fn try_acquire(&'static self) -> Option<CallPermit> {
        let capacity = self.capacity.load(SeqCst);
        let mut held = self.held.load(SeqCst);
        loop {
            if held >= capacity {
                return None;
            }
            match self
                .held
                .compare_exchange_weak(held, held + 1, SeqCst, SeqCst)
            {
                Ok(_) => return Some(CallPermit { gate: self }),
                Err(now) => held = now,
            }
        }
    }

    /// Takes a permit, or registers `waker` (keeping its place in line if `key`
    /// still holds one) to be woken when one may be free.
    pub(crate) fn acquire_or_wait(
        &'static self,
        waker: &Waker,
        key: &mut Option<WaiterKey>,
    ) -> Option<CallPermit> {
        let mut waiters = self.lock();
        if let Some(permit) = self.try_acquire() {
            if let Some(WaiterKey(k)) = key.take() {
                waiters.wakers.remove(&k);
            }
            return Some(permit);
        }
        match *key {
            Some(WaiterKey(k)) => match waiters.wakers.get_mut(&k) {
                Some(w) => w.clone_from(waker),
                // Woken (and so removed), then beaten to the permit by a
                // newcomer: back in line at its old place, ahead of those who
                // came after it.
                None => {
                    waiters.wakers.insert(k, waker.clone());
                }
            },
            None => {
                let k = waiters.next;
                waiters.next += 1;
                waiters.wakers.insert(k, waker.clone());
                *key = Some(WaiterKey(k));
            }
        }
        None
    }

    /// Leaves the waiters (a waiting caller dropped). A caller that was woken
    /// but goes without taking the permit passes the wake on.
    pub(crate) fn leave(&self, key: WaiterKey) {
        let woken = self.lock().wakers.remove(&key.0).is_none();
        if woken {
            self.wake_one();
        }
    }

    /// Callers waiting for a permit (for tests).
    pub(crate) fn waiting(&self) -> usize {
        self.lock().wakers.len()
    }

    fn release(&self) {
        self.held.fetch_sub(1, SeqCst);
        self.wake_one();
    }

    /// Wakes the oldest waiter: a permit may be free. It may lose the race to a
    /// newcomer; then it registers again and a later release wakes it.
    fn wake_one(&self) {
        let waker = self.lock().wakers.pop_first().map(|(_, w)| w);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn lock(&self) -> impl DerefMut<Target = Waiters> + '_ {
        // Plain data, consistent even if a holder panicked.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One queued or running call's share of its target's [`CallGate`]; released on
/// drop.
pub(crate) struct CallPermit {
    gate: &'static CallGate,
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl std::fmt::Debug for CallPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallPermit")
    }
}
