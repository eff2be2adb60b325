//! [`WaitList`]: a FIFO list of waiting tasks, the one wait list of the crate: under
//! every primitive in [`sync`](crate::sync) and [`queue`](crate::queue), and every
//! "wait until this changes" of the runtime (a server's `wait_closed`, a stream
//! writer's `drain` and `wait_closed`), through [`ListedWait`].
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
//! so that joining, leaving (a cancelled waiter) and waking the oldest are all O(1),
//! and each waiter is listed once, by its key, with no scan for duplicates. A
//! waiter's future holds its key and leaves the list when dropped, so a list holds
//! only live waiters: its memory is bounded by how many wait at once, never by how
//! many ever waited.
//!
//! A notification carries a value `T` (a permit, a queue item, `()`): a notified
//! waiter owns it until it takes it, and a waiter dropped after being notified hands
//! it back through [`WaitList::remove`], so the owner can pass it on to the next
//! waiter instead of losing it.
//!
//! Waits that re-check a condition on each poll (a `WaitList<()>` used as a
//! broadcast) keep their place with [`WaitList::park`] and leave with
//! [`WaitList::leave`]; [`ListedWait`] does both for a list inside a `RefCell`.
//! Single-threaded: each owner keeps its list in its own `RefCell`.

use std::cell::RefCell;
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

    /// How many waiters were notified and have not taken their value yet (nor been
    /// removed). A primitive that hands its resource over on notification (a permit)
    /// counts them as still in line.
    pub(crate) fn notified_pending(&self) -> usize {
        self.nodes.len() - self.waiting
    }

    /// Removes the waiter in `slot`, if any, and empties `slot`; gives back the value
    /// it had been notified with, if any. For a waiter's `Drop`.
    pub(crate) fn leave(&mut self, slot: &mut Option<WaiterKey>) -> Option<T> {
        slot.take().and_then(|key| self.remove(key))
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

impl WaitList<()> {
    /// Keeps the waiter in `slot` listed with `waker`: the wait of a task that
    /// checked its condition, found it false, and must be woken at the next
    /// [`notify_one`](Self::notify_one) or [`notify_all`](Self::notify_all).
    ///
    /// An empty `slot` joins at the back; a listed waiter only updates its waker; a
    /// notified one (woken, its condition checked again and still false) joins again
    /// at the back. O(1), and one node per `slot` whatever the number of polls.
    pub(crate) fn park(&mut self, slot: &mut Option<WaiterKey>, waker: &Waker) {
        if let Some(key) = *slot {
            match &mut self.nodes[key.0].state {
                State::Waiting(listed) => {
                    if !listed.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        *listed = Some(waker.clone());
                    }
                    return;
                }
                State::Notified(()) => {
                    self.nodes.remove(key.0);
                }
            }
        }
        *slot = Some(self.push_back(Some(waker.clone())));
    }
}

/// One task's wait for a condition that is kept in an `S` behind a `RefCell`, and
/// announced through a `WaitList<()>` in it (which [`list`](Self::new) finds): a
/// server's "closed and idle", a stream writer's "drained". Each poll checks the
/// condition and, while it is false, keeps the task listed once with its latest
/// waker ([`WaitList::park`]). Dropping the wait, whether or not it was notified,
/// leaves the list in O(1): a future given up before its event leaves nothing
/// behind (its waker would otherwise keep its task's memory alive).
pub(crate) struct ListedWait<'a, S> {
    owner: &'a RefCell<S>,
    list: fn(&mut S) -> &mut WaitList,
    key: Option<WaiterKey>,
}

impl<'a, S> ListedWait<'a, S> {
    /// A wait on the list that `list` finds in `owner`; not listed until polled.
    pub(crate) fn new(owner: &'a RefCell<S>, list: fn(&mut S) -> &mut WaitList) -> Self {
        ListedWait {
            owner,
            list,
            key: None,
        }
    }

    /// `Ready` with what `check` returns once it returns `Some` (the wait then leaves
    /// the list); otherwise listed with `cx`'s waker. `check` runs with `owner`
    /// borrowed.
    pub(crate) fn poll_until<R>(
        &mut self,
        cx: &mut Context<'_>,
        check: impl FnOnce(&mut S) -> Option<R>,
    ) -> Poll<R> {
        let mut owner = self.owner.borrow_mut();
        let ready = check(&mut owner);
        let list = (self.list)(&mut owner);
        match ready {
            Some(value) => {
                list.leave(&mut self.key);
                Poll::Ready(value)
            }
            None => {
                list.park(&mut self.key, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<S> Drop for ListedWait<'_, S> {
    fn drop(&mut self) {
        if self.key.is_some() {
            (self.list)(&mut self.owner.borrow_mut()).leave(&mut self.key);
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
        assert_eq!((list.len(), list.notified_pending()), (1, 1));
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
    fn park_keeps_one_node_and_leave_frees_it() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut list = WaitList::<()>::new();
        let mut slot = None;
        for _ in 0..10 {
            list.park(&mut slot, &waker);
        }
        assert_eq!((list.len(), list.nodes.len()), (1, 1));
        // Notified, its condition still false: it joins again, behind a newcomer.
        let mut other = None;
        list.notify_one(()).unwrap();
        list.park(&mut other, Waker::noop());
        list.park(&mut slot, &waker);
        assert_eq!((list.len(), list.nodes.len()), (2, 2));
        assert!(!list.notify_one(()).unwrap().unwrap().will_wake(&waker));
        assert_eq!(list.leave(&mut other), Some(()));
        assert_eq!(list.leave(&mut slot), None);
        assert_eq!(list.leave(&mut slot), None);
        assert_eq!(list.nodes.len(), 0);
    }

    #[test]
    fn a_dropped_listed_wait_leaves() {
        let state = RefCell::new((false, WaitList::new()));
        let mut cx = Context::from_waker(Waker::noop());
        let mut wait = ListedWait::new(&state, |s| &mut s.1);
        assert!(wait.poll_until(&mut cx, |s| s.0.then_some(())).is_pending());
        assert!(wait.poll_until(&mut cx, |s| s.0.then_some(())).is_pending());
        assert_eq!(state.borrow().1.len(), 1);
        drop(wait);
        assert_eq!(state.borrow().1.nodes.len(), 0);
        // Ready: it leaves at once.
        let mut wait = ListedWait::new(&state, |s| &mut s.1);
        assert!(wait.poll_until(&mut cx, |s| s.0.then_some(())).is_pending());
        state.borrow_mut().0 = true;
        assert!(wait.poll_until(&mut cx, |s| s.0.then_some(())).is_ready());
        assert_eq!(state.borrow().1.nodes.len(), 0);
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
        assert_eq!(list.notified_pending(), 500);
        for k in keys.iter().skip(1).step_by(2) {
            assert_eq!(list.remove(*k), Some(()));
        }
        assert_eq!(list.nodes.len(), 0);
        // Freed slots are reused; the list still works from empty.
        let k = list.push_back(None);
        assert_eq!(list.notify_one(()).map(|_| ()), Ok(()));
        assert_eq!(list.remove(k), Some(()));
        assert_eq!(list.nodes.len(), 0);
    }
}
