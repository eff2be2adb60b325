//! Synchronisation primitives for the tasks of one runtime, like asyncio's: they
//! need no atomics, since a runtime's tasks all run on its thread. (So far: `Lock`, `Event`, `Condition`.)

mod condition;
mod error;
mod event;
mod lock;
// `WaitList::is_notified` is there for the queues; the primitives here do not use it.
#[allow(dead_code)]
mod waiters;

pub use condition::{Condition, ConditionWait};
pub use error::NotLockedError;
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};

pub(crate) use waiters::{WaitList, WaiterKey};
