//! [`to_thread`]: run a blocking closure on a pool thread and await its result, like
//! asyncio's `to_thread` / `loop.run_in_executor(None, f)`.
//!
//! ```text
//!   ToThread future ──first poll──▶ pool queue ──▶ worker thread runs f
//!        ▲  (waker stored in the job cell)              │
//!        └──────── Waker::wake (remote queue + eventfd) ◀┘ result stored in the cell
//! ```
//!
//! `job.rs` holds the cell shared by the future and the worker (closure, then result,
//! and the state machine that decides who drops what when the future is dropped);
//! `pool.rs` holds the process-wide bounded pool of worker threads.
//!
//! The result travels back through the awaiting task's [`Waker`](std::task::Waker)
//! only: a wake from the worker thread goes to the runtime's remote queue and
//! interrupts its parked loop. Nothing polls, nothing spins, and nothing here knows
//! about runtimes, so the same code serves every driver, several runtimes at once,
//! and futures polled outside any runtime.

mod job;
mod pool;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use self::job::{Job, Outcome, Runnable};
use super::JoinError;

/// Runs the blocking closure `f` on a thread of ringloop's blocking pool and
/// resolves to its result, like asyncio's `asyncio.to_thread(f)` (or
/// `loop.run_in_executor(None, f)`). Meanwhile the loop goes on running other tasks.
///
/// Use it for work that would stall the loop: blocking system calls and libraries,
/// CPU-heavy computations. A panic in `f` is caught on the pool thread and becomes
/// `Err(JoinError::Panicked(message))`; the pool thread survives it.
/// `Err(JoinError::Cancelled)` is never returned.
///
/// # The pool
///
/// One pool serves the whole process (every runtime, every thread). It starts
/// threads on demand, named `ringloop-pool`, at most 64 at once
/// (`RINGLOOP_BLOCKING_THREADS=n` sets another bound; read once, when the pool is
/// first used); more jobs wait in a first-in-first-out queue. A thread idle for 10 s
/// exits (`RINGLOOP_BLOCKING_KEEP_ALIVE_MS=ms` sets another time). Pool threads never
/// keep the process alive: when `main` returns, they end with it. In the unlikely
/// case that the pool has no thread and cannot start one, the queued jobs resolve to
/// `Err(JoinError::Panicked(..))` with the system's error.
///
/// # Lazy, like asyncio's coroutine
///
/// Nothing happens until the returned future is first polled: then the job is
/// queued. Like asyncio's `to_thread` coroutine (and unlike `run_in_executor`, which
/// schedules at once), a future that is never awaited never runs `f`.
///
/// # Cancellation
///
/// Dropping the future cancels the *wait*, not the work, as in asyncio: a thread
/// cannot be interrupted.
///
/// * Dropped before a pool thread took the job: the job never runs; `f` (and what it
///   captured) is dropped at once, on the thread dropping the future.
/// * Dropped while `f` runs: `f` runs to its end on its pool thread, and the result
///   is dropped there.
/// * Dropped after `f` returned: the result is dropped with the future.
///
/// So it is not cancel-safe in the sense of losing nothing: a result produced after
/// the drop is lost, and `to_thread` is no way to stop blocking work (give `f` a flag
/// or a channel for that). When the awaiting runtime shuts down, its tasks are
/// cancelled like this, and a wake that arrives after it is gone does nothing.
///
/// # Outside a runtime
///
/// The future needs no runtime, only a waker: it can be polled by any executor, on
/// any thread, and moved between threads (it is `Send` and `Sync`). The result is
/// handed over when the future is next polled after the wake.
///
/// # Panics
///
/// Polling the future again after it returned `Ready` panics.
///
/// ```
/// use std::time::Duration;
///
/// fn blocking_io(path: &str) -> std::io::Result<usize> {
///     std::thread::sleep(Duration::from_millis(20)); // a slow device, say
///     Ok(path.len())
/// }
///
/// ringloop::run(async {
///     // The loop keeps running tasks while the pool thread blocks.
///     let (read, ()) = ringloop::gather!(
///         ringloop::to_thread(|| blocking_io("/etc/hostname")),
///         ringloop::sleep(Duration::from_millis(20)),
///     )
///     .await;
///     assert_eq!(read.unwrap().unwrap(), 13);
///
///     // A panic on the pool thread comes back as an error.
///     let err = ringloop::to_thread(|| -> u32 { panic!("disk on fire") }).await;
///     assert_eq!(err, Err(ringloop::JoinError::Panicked("disk on fire".into())));
/// });
/// ```
pub fn to_thread<F, T>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let job = Arc::new(Job::new(f));
    ToThread {
        unsubmitted: Some(job.clone()),
        job: Some(job),
    }
}

/// The future returned by [`to_thread`]: resolves to the closure's result, or to
/// [`JoinError::Panicked`] when it panicked. See [`to_thread`] for cancellation.
#[must_use = "the closure runs only once the future is awaited"]
pub struct ToThread<T> {
    /// The job's cell; `None` once the result was returned.
    job: Option<Arc<dyn Outcome<T>>>,
    /// The same cell as the pool sees it, until the first poll queues it.
    unsubmitted: Option<Arc<dyn Runnable>>,
}

impl<T> Future for ToThread<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(job) = &self.job else {
            panic!("ringloop::to_thread future polled after it completed");
        };
        let poll = job.poll_result(cx.waker());
        match poll {
            Poll::Ready(result) => {
                self.job = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                // The waker is in place before any thread can finish the job.
                if let Some(task) = self.unsubmitted.take() {
                    pool::pool().submit(task);
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for ToThread<T> {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            job.abandon();
        }
    }
}

impl<T> fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToThread")
            .field("queued", &self.unsubmitted.is_none())
            .field("done", &self.job.is_none())
            .finish()
    }
}
