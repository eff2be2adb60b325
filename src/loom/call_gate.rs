//! The back-pressure gate of `runtime/calls.rs`: permits counted in an atomic,
//! waiting callers' wakers in a line under a lock. A caller registers after a
//! failed try under that lock and a release decrements the count before taking
//! it, so a waiting caller is never forgotten: it gets the permit or is woken
//! after a release; a woken caller that goes without taking the permit passes the
//! wake on. A lost wake-up shows as a deadlock (a caller blocked for ever in
//! `block_on` while no thread is left to wake it), which loom reports.
//!
//! The callers here do what `RemoteHandle` does with the gate: `try_acquire`
//! when the handle is made, `acquire_or_wait` from each poll, `leave` when a
//! waiting handle is dropped.

use std::future::{poll_fn, Future};
use std::task::Poll;

use ::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use ::loom::sync::Arc;
use ::loom::thread;

use super::block_on;
use crate::runtime::calls::{CallGate, CallPermit, WaiterKey};

/// A gate of `capacity` permits. The permits borrow it for `'static`, as they do
/// the slot's gate in the runtime: each execution leaks one (a few words).
fn gate(capacity: usize) -> &'static CallGate {
    let gate: &'static CallGate = Box::leak(Box::new(CallGate::new()));
    gate.set_capacity(capacity);
    gate
}

/// Counts the permits in use and checks the gate's bound against it.
struct Holders {
    gate: &'static CallGate,
    capacity: usize,
    now: AtomicUsize,
}

impl Holders {
    fn new(gate: &'static CallGate, capacity: usize) -> Arc<Holders> {
        Arc::new(Holders {
            gate,
            capacity,
            now: AtomicUsize::new(0),
        })
    }

    /// Uses `permit` for a moment, then drops it (the call ran).
    fn hold(&self, permit: CallPermit) {
        let before = self.now.fetch_add(1, SeqCst);
        assert!(before < self.capacity, "more holders than the capacity");
        assert!(self.gate.held() <= self.capacity, "held over the capacity");
        self.now.fetch_sub(1, SeqCst);
        drop(permit);
    }
}

/// A caller waiting for a permit as `RemoteHandle` does: its place in line, left
/// if it is dropped while it waits.
struct Caller {
    gate: &'static CallGate,
    key: Option<WaiterKey>,
}

impl Caller {
    fn new(gate: &'static CallGate) -> Caller {
        Caller { gate, key: None }
    }

    /// Polls until it takes a permit; every `Pending` blocks the thread until the
    /// waker it registered is woken.
    fn acquire(&mut self) -> impl Future<Output = CallPermit> + '_ {
        poll_fn(
            move |cx| match self.gate.acquire_or_wait(cx.waker(), &mut self.key) {
                Some(permit) => Poll::Ready(permit),
                None => Poll::Pending,
            },
        )
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.gate.leave(key);
        }
    }
}

/// A caller thread: tries first (`RemoteHandle::new`), then waits its turn.
fn caller(gate: &'static CallGate, holders: &Arc<Holders>) -> thread::JoinHandle<()> {
    let holders = holders.clone();
    thread::spawn(move || {
        let permit = match gate.try_acquire() {
            Some(permit) => permit,
            None => {
                let mut caller = Caller::new(gate);
                block_on(caller.acquire())
            }
        };
        holders.hold(permit);
    })
}

/// Capacity 1, its permit held by the main thread; two callers wait for it while
/// the main thread releases it. Each caller gets the permit in turn (neither is
/// left waiting), never both at once, and afterwards nothing is held or waiting.
#[test]
fn no_caller_waits_for_ever() {
    super::check(|| {
        let gate = gate(1);
        let holders = Holders::new(gate, 1);
        let held = gate.try_acquire().expect("a free permit");
        let callers = [caller(gate, &holders), caller(gate, &holders)];
        holders.hold(held);
        for c in callers {
            c.join().unwrap();
        }
        assert_eq!(gate.held(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// Capacity 1, held by the main thread. One caller queues up, waits until it is
/// woken, and then goes without taking the permit (its handle dropped); another
/// waits for the permit. Whichever of them the release wakes, the second gets the
/// permit: a woken waiter that leaves passes the wake on.
#[test]
fn a_woken_waiter_that_leaves_passes_the_wake_on() {
    super::check(|| {
        let gate = gate(1);
        let holders = Holders::new(gate, 1);
        let held = gate.try_acquire().expect("a free permit");
        let leaver = thread::spawn(move || {
            let mut caller = Caller::new(gate);
            let mut polled = false;
            // One poll to take the permit or queue up, then the next poll (after
            // the wake) gives up.
            let permit = block_on(poll_fn(|cx| {
                if polled {
                    return Poll::Ready(None);
                }
                polled = true;
                match gate.acquire_or_wait(cx.waker(), &mut caller.key) {
                    Some(permit) => Poll::Ready(Some(permit)),
                    None => Poll::Pending,
                }
            }));
            drop(permit);
            drop(caller);
        });
        let waiter = caller(gate, &holders);
        holders.hold(held);
        leaver.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(gate.held(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// Capacity 1 and three callers that all start with a failed try (the permit is
/// held), the main thread releasing it: each release wakes the next one in line,
/// even as a woken caller loses its permit to another and queues up again.
#[test]
fn three_callers_in_line() {
    super::check(|| {
        let gate = gate(1);
        let holders = Holders::new(gate, 1);
        let held = gate.try_acquire().expect("a free permit");
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let holders = holders.clone();
                thread::spawn(move || {
                    let mut caller = Caller::new(gate);
                    let permit = block_on(caller.acquire());
                    holders.hold(permit);
                })
            })
            .collect();
        holders.hold(held);
        // The main thread is the third caller once it has released.
        let mut caller = Caller::new(gate);
        let permit = block_on(caller.acquire());
        holders.hold(permit);
        for c in callers {
            c.join().unwrap();
        }
        assert_eq!(gate.held(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}
