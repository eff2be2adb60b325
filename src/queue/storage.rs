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
//! The queue core holds its storage as a `Box<dyn Storage<T>>`, so that one core
//! (and one set of futures) serves the three kinds, and only the constructor of
//! [`PriorityQueue`] needs `T: Ord`. Items that compare equal leave a
//! [`PriorityQueue`] in an unspecified order, as with `heapq`.
//!
//! [`Queue`]: super::Queue
//! [`LifoQueue`]: super::LifoQueue
//! [`PriorityQueue`]: super::PriorityQueue

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A queue's item storage.
pub(crate) trait Storage<T> {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Removes the next item to hand out.
    fn pop(&mut self) -> Option<T>;
    /// How many items are stored.
    fn len(&self) -> usize;
    /// Removes every item (the caller drops them after releasing its borrows).
    fn take_all(&mut self) -> Vec<T>;
}

/// First in, first out.
pub(crate) struct Fifo<T>(pub(crate) VecDeque<T>);

impl<T> Storage<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn take_all(&mut self) -> Vec<T> {
        self.0.drain(..).collect()
    }
}

/// Last in, first out.
pub(crate) struct Lifo<T>(pub(crate) Vec<T>);

impl<T> Storage<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
    }
}

/// Smallest first.
pub(crate) struct Priority<T: Ord>(pub(crate) BinaryHeap<Reverse<T>>);

impl<T: Ord> Storage<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn take_all(&mut self) -> Vec<T> {
        self.0.drain().map(|Reverse(item)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut s: impl Storage<u32>, items: &[u32]) -> Vec<u32> {
        for &i in items {
            s.push(i);
        }
        assert_eq!(s.len(), items.len());
        std::iter::from_fn(|| s.pop()).collect()
    }

    #[test]
    fn orders() {
        let items = [3, 1, 4, 1, 5];
        assert_eq!(drain(Fifo(VecDeque::new()), &items), [3, 1, 4, 1, 5]);
        assert_eq!(drain(Lifo(Vec::new()), &items), [5, 1, 4, 1, 3]);
        assert_eq!(drain(Priority(BinaryHeap::new()), &items), [1, 1, 3, 4, 5]);
        let mut p = Priority(BinaryHeap::new());
        p.push(2);
        p.push(1);
        let mut all = p.take_all();
        all.sort();
        assert_eq!((all, p.len()), (vec![1, 2], 0));
    }
}
