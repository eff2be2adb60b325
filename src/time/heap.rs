//! The per-core timer heap (ARCHITECTURE.md, decision 6).
//!
//! A binary min-heap of `(deadline, seq)` entries, each pointing at a live timer in a
//! slab. `seq` increases with every insertion, so timers with equal deadlines fire in
//! the order they were created (asyncio's guarantee for `call_at`), and a slab key
//! reused by a newer timer is never mistaken for an older one.
//!
//! Cancelling removes the timer from the slab at once (dropping its waker or
//! callback) and leaves its heap entry behind, to be skipped when it reaches the top.
//! When skipped entries make up more than half of the heap, the heap is rebuilt
//! without them, as asyncio does; so a loop that creates and cancels timeouts forever
//! keeps the heap at most twice the number of live timers.
//!
//! Deadlines are `u64` ticks (nanoseconds since the runtime's clock origin). Nothing
//! here makes a system call, so it runs under miri.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use slab::Slab;

/// Below this many heap entries, cancelled ones are never compacted away.
const MIN_COMPACT_LEN: usize = 64;

/// Identifies one timer: a slab key and the sequence number it was inserted with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimerKey {
    key: u32,
    seq: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct HeapEntry {
    deadline: u64,
    seq: u64,
    key: u32,
}

struct Timer<T> {
    seq: u64,
    value: T,
}

/// Timers ordered by deadline, each holding a `T` (a waker or a callback).
pub(crate) struct TimerHeap<T> {
    heap: BinaryHeap<Reverse<HeapEntry>>,
    timers: Slab<Timer<T>>,
    /// Heap entries whose timer was cancelled.
    stale: usize,
    next_seq: u64,
}

impl<T> Default for TimerHeap<T> {
    fn default() -> Self {
        TimerHeap {
            heap: BinaryHeap::new(),
            timers: Slab::new(),
            stale: 0,
            next_seq: 0,
        }
    }
}

impl<T> TimerHeap<T> {
    /// Adds a timer that fires at `deadline`.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.timers.insert(Timer { seq, value });
        let key = u32::try_from(key).expect("more than 4 billion timers on one core");
        self.heap.push(Reverse(HeapEntry { deadline, seq, key }));
        TimerKey { key, seq }
    }

    fn is_live(&self, key: TimerKey) -> bool {
        self.timers
            .get(key.key as usize)
            .is_some_and(|t| t.seq == key.seq)
    }

    /// The value of a timer that has not fired or been cancelled.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        if !self.is_live(key) {
            return None;
        }
        self.timers.get_mut(key.key as usize).map(|t| &mut t.value)
    }

    /// Cancels a timer; returns its value if it had neither fired nor been cancelled.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        if !self.is_live(key) {
            return None;
        }
        let timer = self.timers.remove(key.key as usize);
        self.stale += 1;
        if self.stale > self.heap.len() / 2 && self.heap.len() >= MIN_COMPACT_LEN {
            self.compact();
        }
        Some(timer.value)
    }

    /// Rebuilds the heap without the entries of cancelled timers.
    fn compact(&mut self) {
        let timers = &self.timers;
        self.heap
            .retain(|Reverse(e)| timers.get(e.key as usize).is_some_and(|t| t.seq == e.seq));
        self.stale = 0;
        if self.heap.capacity() > 4 * self.heap.len() + MIN_COMPACT_LEN {
            self.heap.shrink_to(2 * self.heap.len());
        }
        if self.timers.is_empty() {
            self.timers.shrink_to_fit();
        }
    }

    /// Drops stale entries from the top of the heap.
    fn skip_stale(&mut self) {
        while let Some(Reverse(top)) = self.heap.peek() {
            let key = TimerKey {
                key: top.key,
                seq: top.seq,
            };
            if self.is_live(key) {
                return;
            }
            self.heap.pop();
            self.stale -= 1;
        }
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next_deadline(&mut self) -> Option<u64> {
        self.skip_stale();
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// Removes and returns the earliest timer whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: u64) -> Option<T> {
        self.skip_stale();
        let Reverse(top) = *self.heap.peek()?;
        if top.deadline > now {
            return None;
        }
        self.heap.pop();
        Some(self.timers.remove(top.key as usize).value)
    }

    /// Number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether no live timer remains.
    pub(crate) fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Removes every timer, returning their values.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.heap.clear();
        self.stale = 0;
        self.timers.drain().map(|t| t.value).collect()
    }

    /// Heap entries, live or stale (for the memory-bound test).
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_then_insertion_order() {
        let mut heap = TimerHeap::default();
        heap.insert(30, "c");
        heap.insert(10, "a1");
        heap.insert(20, "b");
        heap.insert(10, "a2");
        assert_eq!(heap.next_deadline(), Some(10));
        assert_eq!(heap.pop_expired(5), None);
        let mut fired = Vec::new();
        while let Some(v) = heap.pop_expired(25) {
            fired.push(v);
        }
        assert_eq!(fired, ["a1", "a2", "b"]);
        assert_eq!(heap.len(), 1);
        assert_eq!(heap.pop_expired(u64::MAX), Some("c"));
        assert!(heap.is_empty());
        assert_eq!(heap.next_deadline(), None);
    }

    #[test]
    fn cancel_skips_and_stale_keys_stay_dead() {
        let mut heap = TimerHeap::default();
        let a = heap.insert(10, 1);
        let b = heap.insert(20, 2);
        assert_eq!(heap.cancel(a), Some(1));
        assert_eq!(heap.cancel(a), None, "a second cancel is a no-op");
        assert_eq!(heap.get_mut(a), None);
        // The freed slab slot is reused; the old key must not reach the new timer.
        let c = heap.insert(5, 3);
        assert_eq!(heap.get_mut(a), None);
        assert_eq!(heap.cancel(a), None);
        assert_eq!(heap.next_deadline(), Some(5));
        assert_eq!(heap.pop_expired(100), Some(3));
        assert_eq!(heap.get_mut(c), None, "a fired timer is gone");
        assert_eq!(heap.cancel(c), None);
        *heap.get_mut(b).unwrap() = 20;
        assert_eq!(heap.pop_expired(100), Some(20));
    }

    #[test]
    fn create_cancel_churn_keeps_memory_bounded() {
        let mut heap = TimerHeap::default();
        let live: Vec<_> = (0..10).map(|i| heap.insert(1_000_000 + i, i)).collect();
        // Miri is slow: fewer iterations there, the bound is the same.
        let rounds = if cfg!(miri) { 2_000 } else { 100_000 };
        for i in 0..rounds {
            let key = heap.insert(i, i);
            assert!(heap.cancel(key).is_some());
            assert!(heap.heap_len() <= 2 * heap.len() + MIN_COMPACT_LEN);
        }
        assert_eq!(heap.len(), live.len());
        assert!(heap.heap.capacity() <= 4 * MIN_COMPACT_LEN + 2 * live.len());
        assert!(heap.timers.capacity() <= 2 * MIN_COMPACT_LEN);
    }

    #[test]
    fn drain_returns_everything() {
        let mut heap = TimerHeap::default();
        heap.insert(1, 'x');
        let k = heap.insert(2, 'y');
        heap.cancel(k);
        heap.insert(3, 'z');
        let mut all = heap.drain();
        all.sort();
        assert_eq!(all, ['x', 'z']);
        assert!(heap.is_empty());
        assert_eq!(heap.pop_expired(u64::MAX), None);
    }
}
