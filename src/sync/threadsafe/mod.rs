//! Thread-safe (`Send + Sync`) versions of [`Queue`], [`Event`] and [`Semaphore`],
//! for tasks of *different* runtimes on different threads and for plain threads.
//!
//! | asyncio / threading | ringloop::sync::threadsafe |
//! |---|---|
//! | `asyncio.Queue(maxsize)` shared across loops, `queue.Queue` | [`Queue::new(maxsize)`](Queue::new): [`put`](Queue::put)/[`get`](Queue::get)`.await`, [`put_blocking`](Queue::put_blocking)/[`get_blocking`](Queue::get_blocking) |
//! | `event.set()`, `await event.wait()`, `threading.Event.wait(timeout)` | [`Event::set`], [`Event::wait`], [`Event::wait_blocking_timeout`] |
//! | `async with sem:`, `threading.Semaphore.acquire()` | [`Semaphore::acquire`], [`Semaphore::acquire_blocking`] ([`Permit`]) |
//!
//! The single-runtime types of [`sync`](crate::sync) and [`queue`](crate::queue) are
//! `!Send` and need no lock; these keep their state under a `std::sync::Mutex` and
//! their waiters in a FIFO of [`Waker`]s inside it. A waker of a ringloop task may
//! be woken from any thread (the wake reaches the task's own runtime through its
//! remote queue), so a task on one runtime waits for a `put`, a `set` or a `release`
//! done on another, or on a thread with no runtime at all. The semantics are those
//! of the local types (asyncio's): the same names, errors, fairness and
//! cancellation rules, which each type's documentation restates.
//!
//! **Handles.** Each type is a cheap cloneable handle (an `Arc`): clone it into
//! every task and thread that uses it.
//!
//! **Blocking calls.** The `_blocking` methods are for plain threads: they park the
//! calling thread until done (the `_timeout` ones give up after a while). Do not
//! call them from a task: they would block its whole runtime, and a deadlock
//! follows if what they wait for must come from that runtime.
//!
//! **Cancellation.** Dropping any future here, at any point, removes its waiter from
//! its list (O(1), under the lock); one that was handed a permit or a wake-up but
//! not polled again passes it on to the next waiter. A blocking call that times out
//! leaves in the same way.
//!
//! ```
//! use ringloop::sync::threadsafe::Queue;
//!
//! let q = Queue::new(4);
//! let producer = std::thread::spawn({
//!     let q = q.clone();
//!     move || ringloop::run(async move {
//!         for i in 0..10u64 {
//!             q.put(i).await.unwrap();
//!         }
//!         q.shutdown(false); // the consumer drains what is left, then stops
//!     })
//! });
//! let mut sum = 0;
//! while let Ok(i) = q.get_blocking() {
//!     sum += i;
//! }
//! producer.join().unwrap();
//! assert_eq!(sum, 45);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

mod event;
mod queue;
mod queue_futures;
mod semaphore;
mod waiters;

pub use event::{Event, EventWait};
pub use queue::Queue;
pub use queue_futures::{Get, Join, Put};
pub use semaphore::{Permit, Semaphore, SemaphoreAcquire};

#[cfg(doc)]
use crate::queue::QueueShutDown;

/// Locks `mutex`, ignoring poisoning: every critical section here leaves the state
/// consistent before anything that may panic (no user code runs under the lock,
/// but an item's `Drop` run elsewhere may), so a poisoned lock holds valid state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The waker of a thread parked in [`block_on`]: records the wake, unparks it.
struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Polls `future` on the calling thread, parking it between wakes, until it
/// completes (`Some`) or `deadline` passes (`None`; the caller then drops the
/// future, which takes its waiter out of line and passes on what it was handed).
fn block_on<F: Future + Unpin>(future: &mut F, deadline: Option<Instant>) -> Option<F::Output> {
    let mut future = Pin::new(future);
    let parker = Arc::new(ThreadWaker {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return Some(out);
        }
        // `park` may return spuriously: only a wake counts.
        while !parker.woken.swap(false, Ordering::Acquire) {
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn types_are_send_and_sync() {
        assert_send_sync::<Queue<String>>();
        assert_send_sync::<Get<'static, String>>();
        assert_send_sync::<Put<'static, String>>();
        assert_send_sync::<Join<'static, String>>();
        assert_send_sync::<Event>();
        assert_send_sync::<EventWait>();
        assert_send_sync::<Semaphore>();
        assert_send_sync::<SemaphoreAcquire>();
        assert_send_sync::<Permit>();
    }

    #[test]
    fn block_on_times_out_and_leaves() {
        let event = Event::new();
        let deadline = Instant::now() + Duration::from_millis(5);
        assert_eq!(block_on(&mut event.wait(), Some(deadline)), None);
        assert_eq!(event.waiter_count(), 0);
    }
}
