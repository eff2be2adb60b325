//! A FIFO list of waiting tasks: the building block of every primitive in
//! [`sync`](crate::sync) and [`queue`](crate::queue).
//!
//! ```text
//!            wait()                 notify_one(v)
//!   (none) ─────────▶ Waiting ─────────────────────▶ Notified(v) ──take()──▶ (none)
//!                        │                                 │
//!                 waiter dropped                     waiter dropped
//!                        ▼                                 ▼
//!                     (none)                 (none); `remove` gives `v` back
//! ```
//!
//! Waiters are kept in arrival order in a doubly linked list threaded through a slab,
//! so that joining, leaving (a cancelled waiter) and waking the oldest are all O(1).
//! A notification carries a value `T` (a permit, a queue item, `()`): a notified
//! waiter owns it until it takes it, and a waiter dropped after being notified hands
//! it back through [`WaitList::remove`], so the primitive can pass it on to the next
//! waiter instead of losing it. Single-threaded: each primitive keeps its list in
//! its own `RefCell`.

use std::task::{Context, Poll, Waker};

use slab::Slab;

const NIL: usize = usize::MAX;

enum State<T> {
    /// In the list, waiting; the waker of its last poll.
    Waiting(Option<Waker>),
    /// Out of the list, holding what it was notified with.
    Notified(T),
}

struct Node<T> {
    prev: usize,
    next: usize,
    state: State<T>,
}

/// The key of one waiter in a [`WaitList`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct WaiterKey(usize);

/// A FIFO list of waiters, each notified at most once with a `T`.
pub(crate) struct WaitList<T = ()> {
    nodes: Slab<Node<T>>,
    head: usize,
    tail: usize,
    /// Waiters still in the list (not notified).
    waiting: usize,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        WaitList::new()
    }
}

impl<T> WaitList<T> {
    pub(crate) const fn new() -> Self {
        WaitList {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            waiting: 0,
        }
    }

    /// Whether no waiter is waiting (notified waiters that have not taken their value
    /// yet do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// How many waiters are waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting
    }

    /// Adds a waiter at the back, with `waker` to wake when it is notified.
    pub(crate) fn push_back(&mut self, waker: Option<Waker>) -> WaiterKey {
        let key = self.nodes.insert(Node {
            prev: self.tail,
            next: NIL,
            state: State::Waiting(waker),
        });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.nodes[self.tail].next = key;
        }
        self.tail = key;
        self.waiting += 1;
        WaiterKey(key)
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = (self.nodes[key].prev, self.nodes[key].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.waiting -= 1;
    }

    /// Polls waiter `key`: `Ready(value)` once it was notified (the waiter is then
    /// gone, and `key` must not be used again), otherwise records `cx`'s waker.
    pub(crate) fn poll(&mut self, key: WaiterKey, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.nodes[key.0].state {
            State::Waiting(waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            State::Notified(_) => match self.nodes.remove(key.0).state {
                State::Notified(value) => Poll::Ready(value),
                State::Waiting(_) => unreachable!(),
            },
        }
    }

    /// Whether waiter `key` has been notified (and not yet taken its value).
    pub(crate) fn is_notified(&self, key: WaiterKey) -> bool {
        matches!(self.nodes[key.0].state, State::Notified(_))
    }

    /// Removes waiter `key` (its future is being dropped). Returns the value it had
    /// been notified with, if any, so the caller can pass it on.
    pub(crate) fn remove(&mut self, key: WaiterKey) -> Option<T> {
        if matches!(self.nodes[key.0].state, State::Waiting(_)) {
            self.unlink(key.0);
        }
        match self.nodes.remove(key.0).state {
            State::Notified(value) => Some(value),
            State::Waiting(_) => None,
        }
    }

    /// Notifies the oldest waiting waiter with `value` and returns its waker (wake it
    /// after releasing the borrow of the list). Gives `value` back if no one waits.
    pub(crate) fn notify_one(&mut self, value: T) -> Result<Option<Waker>, T> {
        let key = self.head;
        if key == NIL {
            return Err(value);
        }
        self.unlink(key);
        match std::mem::replace(&mut self.nodes[key].state, State::Notified(value)) {
            State::Waiting(waker) => Ok(waker),
            State::Notified(_) => unreachable!("a notified waiter was still listed"),
        }
    }

    /// Notifies every waiting waiter with a clone of `value`; their wakers are
    /// appended to `wakers`.
    pub(crate) fn notify_all(&mut self, value: T, wakers: &mut Vec<Waker>)
    where
        T: Clone,
    {
        while self.head != NIL {
            match self.notify_one(value.clone()) {
                Ok(waker) => wakers.extend(waker),
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fifo_notify_remove_and_hand_back() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut list = WaitList::<u32>::new();
        let a = list.push_back(None);
        let b = list.push_back(None);
        let c = list.push_back(None);
        assert_eq!(list.len(), 3);
        assert!(list.poll(b, &mut cx).is_pending());
        // A waiter leaving from the middle keeps the order of the others.
        assert_eq!(list.remove(b), None);
        list.notify_one(1).unwrap();
        assert!(list.is_notified(a) && !list.is_notified(c));
        assert_eq!(list.poll(a, &mut cx), Poll::Ready(1));
        assert!(list.poll(c, &mut cx).is_pending());
        let woken = list.notify_one(2).unwrap();
        woken.unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // Dropped after being notified: the value comes back.
        assert_eq!(list.remove(c), Some(2));
        assert!(list.is_empty());
        assert_eq!(list.notify_one(3).err(), Some(3));
    }

    #[test]
    fn notify_all_and_slot_reuse() {
        let mut list = WaitList::<()>::new();
        let keys: Vec<_> = (0..1000).map(|_| list.push_back(None)).collect();
        for k in keys.iter().step_by(2) {
            list.remove(*k);
        }
        let mut wakers = Vec::new();
        list.notify_all((), &mut wakers);
        assert!(list.is_empty());
        for k in keys.iter().skip(1).step_by(2) {
            assert!(list.is_notified(*k));
            assert_eq!(list.remove(*k), Some(()));
        }
        // Freed slots are reused; the list still works from empty.
        let k = list.push_back(None);
        assert_eq!(list.notify_one(()).map(|_| ()), Ok(()));
        assert_eq!(list.remove(k), Some(()));
        assert_eq!(list.nodes.len(), 0);
    }
}
