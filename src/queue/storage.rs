//! Where a queue keeps its items: the one thing that differs between [`Queue`],
//! [`LifoQueue`] and [`PriorityQueue`], like the `_init`/`_put`/`_get` hooks that
//! asyncio's subclasses override.
//!
//! | queue | storage | `pop` gives |
//! |---|---|---|
//! | [`Queue`] | `VecDeque<T>` | the oldest item |
//! | [`LifoQueue`] | `Vec<T>` | the newest item |
//! | [`PriorityQueue`] | `BinaryHeap<Reverse<T>>` | the smallest item (a min-heap, like `heapq`) |
//!
//! One queue core serves the three kinds, and only the constructor of
//! [`PriorityQueue`] may ask for `T: Ord`: the heap's `push` and `pop` are stored as
//! function pointers made where `T: Ord` is known ([`HeapOps`]), so the core and its
//! futures need no bound on `T` (not even `'static`, which a `Box<dyn Trait>` would
//! impose). Items that compare equal leave a [`PriorityQueue`] in an unspecified
//! order, as with `heapq`.
//!
//! [`Queue`]: super::Queue
//! [`LifoQueue`]: super::LifoQueue
//! [`PriorityQueue`]: super::PriorityQueue

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A queue's items.
pub(crate) enum Storage<T> {
    /// First in, first out.
    Fifo(VecDeque<T>),
    /// Last in, first out.
    Lifo(Vec<T>),
    /// Smallest first.
    Priority(BinaryHeap<Reverse<T>>, HeapOps<T>),
}

/// The operations of a min-heap of `T`, made where `T: Ord` holds.
pub(crate) struct HeapOps<T> {
    push: fn(&mut BinaryHeap<Reverse<T>>, T),
    pop: fn(&mut BinaryHeap<Reverse<T>>) -> Option<T>,
}

fn heap_push<T: Ord>(heap: &mut BinaryHeap<Reverse<T>>, item: T) {
    heap.push(Reverse(item));
}

fn heap_pop<T: Ord>(heap: &mut BinaryHeap<Reverse<T>>) -> Option<T> {
    heap.pop().map(|Reverse(item)| item)
}

impl<T> Storage<T> {
    pub(crate) fn fifo() -> Self {
        Storage::Fifo(VecDeque::new())
    }

    pub(crate) fn lifo() -> Self {
        Storage::Lifo(Vec::new())
    }

    pub(crate) fn priority() -> Self
    where
        T: Ord,
    {
        let ops = HeapOps {
            push: heap_push::<T>,
            pop: heap_pop::<T>,
        };
        Storage::Priority(BinaryHeap::new(), ops)
    }

    /// Adds an item.
    pub(crate) fn push(&mut self, item: T) {
        match self {
            Storage::Fifo(items) => items.push_back(item),
            Storage::Lifo(items) => items.push(item),
            Storage::Priority(heap, ops) => (ops.push)(heap, item),
        }
    }

    /// Removes the next item to hand out.
    pub(crate) fn pop(&mut self) -> Option<T> {
        match self {
            Storage::Fifo(items) => items.pop_front(),
            Storage::Lifo(items) => items.pop(),
            Storage::Priority(heap, ops) => (ops.pop)(heap),
        }
    }

    /// How many items are stored.
    pub(crate) fn len(&self) -> usize {
        match self {
            Storage::Fifo(items) => items.len(),
            Storage::Lifo(items) => items.len(),
            Storage::Priority(heap, _) => heap.len(),
        }
    }

    /// Removes every item (the caller drops them after releasing its borrows).
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        match self {
            Storage::Fifo(items) => items.drain(..).collect(),
            Storage::Lifo(items) => std::mem::take(items),
            Storage::Priority(heap, _) => heap.drain().map(|Reverse(item)| item).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut s: Storage<u32>, items: &[u32]) -> Vec<u32> {
        for &i in items {
            s.push(i);
        }
        assert_eq!(s.len(), items.len());
        std::iter::from_fn(|| s.pop()).collect()
    }

    #[test]
    fn orders() {
        let items = [3, 1, 4, 1, 5];
        assert_eq!(drain(Storage::fifo(), &items), [3, 1, 4, 1, 5]);
        assert_eq!(drain(Storage::lifo(), &items), [5, 1, 4, 1, 3]);
        assert_eq!(drain(Storage::priority(), &items), [1, 1, 3, 4, 5]);
        for mut s in [Storage::fifo(), Storage::lifo(), Storage::priority()] {
            s.push(2);
            s.push(1);
            let mut all = s.take_all();
            all.sort();
            assert_eq!((all, s.len()), (vec![1, 2], 0));
        }
    }
}
