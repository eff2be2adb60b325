//! Synchronisation primitives for tasks of one runtime, like asyncio's: they need no
//! atomics, since a runtime's tasks all run on its thread.

// Until the primitives built on it land, only its own tests use the wait list.
#![allow(dead_code, unused_imports)]

mod waiters;

pub(crate) use waiters::{WaitList, WaiterKey};
