//! Synchronisation primitives for the tasks of one runtime, asyncio's `Lock`,
//! `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier` and `Future`.
//!
//! | asyncio | ringloop::sync |
//! |---|---|
//! | `lock = asyncio.Lock()`, `async with lock:` | [`Lock::new`], `let _guard = lock.lock().await;` ([`LockGuard`]) |
//! | `event.set()`, `await event.wait()` | [`Event::set`], [`Event::wait`] |
//! | `async with cond: await cond.wait()` | `let g = cond.lock().await; let g = cond.wait(g).await;` ([`Condition`]) |
//! | `async with sem:` | `let _permit = sem.acquire().await;` ([`Semaphore`], [`Permit`]) |
//! | `BoundedSemaphore(n).release()` too often | `Err(`[`TooManyReleasesError`]`)` ([`BoundedSemaphore`]) |
//! | `await barrier.wait()` | [`Barrier::wait`] → `Ok(index)` or `Err(`[`BrokenBarrierError`]`)` |
//! | `fut = loop.create_future()`, `await fut` | [`Promise::new`], `promise.await` → `Result<T, `[`CancelledError`]`>` |
//! | an `asyncio.Queue`, `Event` or `Semaphore` shared by threads and loops | [`threadsafe::Queue`], [`threadsafe::Event`], [`threadsafe::Semaphore`] (`Send + Sync`, with blocking calls for plain threads) |
//!
//! They need no atomics and no locks of their own: a runtime's tasks all run on its
//! thread, so the types are `!Send`. For tasks of several runtimes, or plain
//! threads, [`threadsafe`] has `Send + Sync` versions of the queue, the event and
//! the semaphore.
//!
//! **Handles.** Every primitive is a cheap cloneable handle (an `Rc`) to one shared
//! state, as the [`queue`](crate::queue)s are: clone it into each task that uses it,
//! where asyncio code shares one object. Guards and permits own a handle as well, so
//! they have no lifetime: a task may hold one across awaits, move it to another
//! task, or give a [`LockGuard`] to [`Condition::wait`].
//!
//! **Fairness.** Waiters are served in arrival order. A released lock or permit is
//! handed directly to the oldest waiter (which owns it before it runs again), so a
//! newcomer can never take it ahead of tasks already waiting.
//!
//! **Cancellation.** Dropping any of these futures, at any point, loses nothing: a
//! waiter leaves its queue in O(1), and one that was handed a lock, a permit or a
//! notification but dropped before it ran passes it on to the next waiter. Each
//! method's documentation says what its future does when dropped.
//!
//! **Cost.** The uncontended paths (a free lock, an available permit, a set event)
//! allocate nothing and wake nobody; each waiter is one slot in a slab-backed FIFO
//! list, so thousands of waiters on one event are cheap to add, remove and release.

mod barrier;
mod bounded_semaphore;
mod condition;
mod error;
mod event;
mod lock;
mod promise;
mod semaphore;
pub mod threadsafe;

pub use barrier::{Barrier, BarrierWait};
pub use bounded_semaphore::BoundedSemaphore;
pub use condition::{Condition, ConditionWait};
pub use error::{
    BrokenBarrierError, CancelledError, InvalidStateError, NotLockedError, PromiseError,
    TooManyReleasesError,
};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use promise::{DoneCallbackId, Promise, PromiseWait};
pub use semaphore::{Permit, Semaphore, SemaphoreAcquire};

pub(crate) use crate::wait_list::{WaitList, WaiterKey};
