//! [`Waiters`]: the FIFO of wakers under every primitive of
//! [`threadsafe`](super), kept inside the primitive's `Mutex`.
//!
//! ```text
//!            push_back(w)            notify_one(v)
//!   (none) ───────────────▶ Waiting ───────────────▶ Notified(v) ──poll()──▶ (none)
//!                              │                          │
//!                        remove(key)                remove(key)
//!                              ▼                          ▼
//!                           (none)             (none); gives `v` back
//! ```
//!
//! A doubly linked list threaded through a [`Slab`]: joining, leaving (a dropped
//! future) and notifying the oldest are O(1), and a waiter is found by its key with
//! no scan. A notified waiter leaves the line but keeps its slot, holding the value
//! it was handed (a permit, a wake-up), until its future takes it with
//! [`poll`](Waiters::poll) or gives it back with [`remove`](Waiters::remove), so
//! that a future dropped after its notification can pass it on.
//!
//! The list itself does no locking: each primitive keeps its lists and its state in
//! one `std::sync::Mutex`, so that a check of the state and a join of the line are
//! one step for every thread. Wakers are returned to the caller, which wakes them
//! after it released the lock (a waker may run arbitrary code, even take the lock).
//! Every slot is owned by exactly one future, which removes it when dropped: the
//! list holds only live waiters, and [`registered`](Waiters::registered) counts
//! them (what the tests assert is zero once every future is gone).

use std::task::Waker;

use slab::Slab;

/// A waiter's place in a [`Waiters`] list, held by its future.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct WaiterKey(usize);

enum State<T> {
    /// In line, with the waker to wake when notified.
    Waiting(Waker),
    /// Out of line: notified with this value, not yet taken.
    Notified(T),
}

struct Node<T> {
    state: State<T>,
    /// Neighbours in line (meaningless once notified).
    prev: Option<usize>,
    next: Option<usize>,
}

/// A FIFO of waiting wakers with O(1) removal by key. See the module docs.
pub(crate) struct Waiters<T = ()> {
    nodes: Slab<Node<T>>,
    head: Option<usize>,
    tail: Option<usize>,
    /// Waiters in line (not yet notified).
    waiting: usize,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Waiters::new()
    }
}

impl<T> Waiters<T> {
    pub(crate) fn new() -> Self {
        Waiters {
            nodes: Slab::new(),
            head: None,
            tail: None,
            waiting: 0,
        }
    }

    /// Waiters in line, not yet notified.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Every slot held by a future: waiting or notified.
    pub(crate) fn registered(&self) -> usize {
        self.nodes.len()
    }

    /// Joins the back of the line.
    pub(crate) fn push_back(&mut self, waker: Waker) -> WaiterKey {
        let key = self.nodes.insert(Node {
            state: State::Waiting(waker),
            prev: self.tail,
            next: None,
        });
        match self.tail {
            Some(tail) => self.nodes[tail].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.waiting += 1;
        WaiterKey(key)
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = (self.nodes[key].prev, self.nodes[key].next);
        match prev {
            Some(prev) => self.nodes[prev].next = next,
            None => self.head = next,
        }
        match next {
            Some(next) => self.nodes[next].prev = prev,
            None => self.tail = prev,
        }
        self.waiting -= 1;
    }

    /// The waiter `key` looks at its slot: if notified, it takes the value and
    /// leaves; otherwise it stays in line with `waker` as its waker.
    pub(crate) fn poll(&mut self, key: WaiterKey, waker: &Waker) -> Option<T> {
        match &mut self.nodes[key.0].state {
            State::Waiting(w) => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                None
            }
            State::Notified(_) => match self.nodes.remove(key.0).state {
                State::Notified(value) => Some(value),
                State::Waiting(_) => unreachable!(),
            },
        }
    }

    /// The waiter `key` leaves (its future is dropped). Gives back the value it
    /// was notified with, if it had been notified.
    pub(crate) fn remove(&mut self, key: WaiterKey) -> Option<T> {
        if matches!(self.nodes[key.0].state, State::Waiting(_)) {
            self.unlink(key.0);
        }
        match self.nodes.remove(key.0).state {
            State::Waiting(_) => None,
            State::Notified(value) => Some(value),
        }
    }

    /// Hands `value` to the oldest waiter in line and returns its waker, to wake
    /// once the lock is released; gives `value` back if nobody is in line.
    pub(crate) fn notify_one(&mut self, value: T) -> Result<Waker, T> {
        let Some(key) = self.head else {
            return Err(value);
        };
        self.unlink(key);
        match std::mem::replace(&mut self.nodes[key].state, State::Notified(value)) {
            State::Waiting(waker) => Ok(waker),
            State::Notified(_) => unreachable!("a notified waiter was in line"),
        }
    }

    /// Notifies every waiter in line with a clone of `value`; their wakers are
    /// appended to `wakers`.
    pub(crate) fn notify_all(&mut self, value: T, wakers: &mut Vec<Waker>)
    where
        T: Clone,
    {
        wakers.reserve(self.waiting);
        while let Ok(waker) = self.notify_one(value.clone()) {
            wakers.push(waker);
        }
    }
}

/// Wakes `wakers` (call with no lock held).
pub(crate) fn wake_all(wakers: impl IntoIterator<Item = Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_remove_and_hand_back() {
        let mut list = Waiters::<u32>::new();
        let a = list.push_back(Waker::noop().clone());
        let b = list.push_back(Waker::noop().clone());
        let c = list.push_back(Waker::noop().clone());
        assert_eq!(list.remove(b), None);
        assert_eq!(list.waiting(), 2);
        assert!(list.notify_one(1).is_ok());
        // `a` was first: notified; `c` still waits.
        assert_eq!(list.poll(c, Waker::noop()), None);
        assert_eq!((list.registered(), list.waiting()), (2, 1));
        assert!(list.notify_one(2).is_ok());
        assert_eq!(list.notify_one(3).err(), Some(3));
        assert_eq!(list.remove(c), Some(2));
        assert_eq!(list.poll(a, Waker::noop()), Some(1));
        assert_eq!(list.registered(), 0);
        let d = list.push_back(Waker::noop().clone());
        let mut wakers = Vec::new();
        list.notify_all(7, &mut wakers);
        assert_eq!((wakers.len(), list.waiting()), (1, 0));
        assert_eq!(list.poll(d, Waker::noop()), Some(7));
    }
}
