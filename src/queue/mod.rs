//! Queues for tasks of one runtime, like asyncio's `Queue`, `PriorityQueue` and
//! `LifoQueue`.
