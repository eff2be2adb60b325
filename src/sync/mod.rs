//! Synchronisation primitives for the tasks of one runtime, like asyncio's: they
//! need no atomics, since a runtime's tasks all run on its thread. (So far: `Lock`, `Event`, `Condition` `Semaphore`, `BoundedSemaphore` `Barrier`.)

mod barrier;
mod bounded_semaphore;
mod condition;
mod error;
mod event;
mod lock;
mod semaphore;
// `WaitList::is_notified` is there for the queues; the primitives here do not use it.
#[allow(dead_code)]
mod waiters;

pub use barrier::{Barrier, BarrierWait};
pub use bounded_semaphore::BoundedSemaphore;
pub use condition::{Condition, ConditionWait};
pub use error::{BrokenBarrierError, NotLockedError, TooManyReleasesError};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use semaphore::{Permit, Semaphore, SemaphoreAcquire};

pub(crate) use waiters::{WaitList, WaiterKey};
