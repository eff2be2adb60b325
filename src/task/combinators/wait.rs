//! [`wait`]: wait for some or all of a set of tasks, like `asyncio.wait`, and get
//! every handle back, split into the finished and the unfinished ones.
//!
//! `wait` never takes a task's output: it watches each [`JoinHandle`] through its
//! join waker (one waker per handle, through the shared wake list, so a wake-up
//! looks only at the task that finished) and reads the task's state bits. When the
//! condition holds, or the timeout passes, it splits the handles by whether their
//! task has finished at that moment, as CPython does with `f.done()`:
//!
//! ```text
//!   poll ──▶ look at the woken handles ──▶ condition met? ── yes ──▶ Ready((done, pending))
//!                                              │ no
//!                                              ▼
//!                                    timeout passed? ── yes ──▶ Ready((done, pending))
//!                                              │ no
//!                                              ▼
//!                                           Pending
//! ```
//!
//! `wait` never cancels a task when it returns, whether the condition held or the
//! timeout passed: every handle comes back. Only dropping the `Wait` itself before
//! it returned (cancelling `await wait(...)`) cancels the tasks of the handles it
//! still owns, as cancelling the `await` of a handle does (see
//! [`JoinHandle`]'s docs).

use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::task::WakeList;
use crate::time::Sleep;
use crate::JoinHandle;

/// When [`wait`] returns: asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION` and
/// `ALL_COMPLETED`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReturnWhen {
    /// As soon as any task finishes (completes, panics or is cancelled).
    FirstCompleted,
    /// As soon as any task panics (Rust's counterpart of raising an exception); a
    /// task that is cancelled or returns an `Err` value does not count, as a
    /// cancelled future does not in CPython. If no task panics, the same as
    /// [`AllCompleted`](Self::AllCompleted).
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// Waits for the tasks of `handles` until `return_when` says so or `timeout` has
/// passed, like `asyncio.wait(aws, timeout=..., return_when=...)`, and resolves to
/// `(done, pending)`: the handles whose task has finished and those whose task has
/// not, each in input order.
///
/// Every handle comes back. Awaiting one from `done` is immediate; the tasks in
/// `pending` keep running. A timeout is not an error: `wait` then returns what has
/// finished so far (asyncio does the same). The clock starts when `wait` is called.
///
/// Differences from asyncio:
/// * the handles come back in two `Vec`s (asyncio's are sets);
/// * an empty input resolves at once to two empty vectors (asyncio raises
///   `ValueError`);
/// * "exception" means a panic (see [`ReturnWhen::FirstException`]);
/// * a handle that was already awaited to completion counts as finished, but must
///   not be awaited again.
///
/// Cancellation: a timeout is not one (the tasks in `pending` run on, as in
/// asyncio). But `wait` owns the handles while it waits, so dropping the returned
/// future before it resolved cancels the tasks still running, as dropping a
/// `handle.await` does. (A cancelled `asyncio.wait` leaves the tasks running, but
/// there the caller still holds them; here nobody could reach them any more.)
/// [`Wait::into_handles`] takes the handles back, uncancelled, from a `Wait` that
/// was not run to the end.
///
/// ```
/// use std::time::Duration;
/// use ringloop::{wait, ReturnWhen};
///
/// ringloop::run(async {
///     let fast = ringloop::spawn(async { 1 });
///     let slow = ringloop::spawn(async {
///         ringloop::sleep(Duration::from_millis(50)).await;
///         2
///     });
///     let (done, pending) = wait([fast, slow], ReturnWhen::FirstCompleted, None).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     for handle in done {
///         assert_eq!(handle.await, Ok(1));
///     }
///     // The slow task kept running.
///     for handle in pending {
///         assert_eq!(handle.await, Ok(2));
///     }
/// });
/// ```
pub fn wait<T, I>(handles: I, return_when: ReturnWhen, timeout: Option<Duration>) -> Wait<T>
where
    I: IntoIterator<Item = JoinHandle<T>>,
{
    let handles: Vec<JoinHandle<T>> = handles.into_iter().collect();
    Wait {
        wakes: WakeList::new(handles.len()),
        finished: vec![false; handles.len()],
        unfinished: handles.len(),
        handles,
        return_when,
        timer: timeout.map(crate::sleep),
    }
}

/// The future returned by [`wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T> {
    handles: Vec<JoinHandle<T>>,
    /// `finished[i]`: handle `i` was seen finished.
    finished: Vec<bool>,
    unfinished: usize,
    wakes: WakeList,
    return_when: ReturnWhen,
    timer: Option<Sleep>,
}

impl<T> Wait<T> {
    /// Gives back every handle, in input order, without waiting any more (say,
    /// after polling the `Wait` in a select loop that moved on).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(std::future::pending::<()>());
    ///     let waiting = ringloop::wait([task], ringloop::ReturnWhen::AllCompleted, None);
    ///     let handles = waiting.into_handles();
    ///     assert!(handles[0].cancel());
    /// });
    /// ```
    pub fn into_handles(mut self) -> Vec<JoinHandle<T>> {
        std::mem::take(&mut self.handles)
    }

    /// Splits the handles into `(done, pending)`, as they are now.
    fn split(&mut self) -> (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>) {
        self.unfinished = 0;
        std::mem::take(&mut self.handles)
            .into_iter()
            .partition(JoinHandle::is_finished)
    }
}

impl<T> Future for Wait<T> {
    type Output = (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut condition_met = false;
        let (handles, finished) = (&this.handles, &mut this.finished);
        // Polled again after it returned, the handles are gone: nothing to look at.
        if !handles.is_empty() {
            let _ = this.wakes.for_each_woken(cx, |index, cx| {
                if finished[index] || handles[index].poll_finished(cx).is_pending() {
                    return ControlFlow::<()>::Continue(());
                }
                finished[index] = true;
                this.unfinished -= 1;
                condition_met |= match this.return_when {
                    ReturnWhen::FirstCompleted => true,
                    ReturnWhen::FirstException => handles[index].is_panicked(),
                    ReturnWhen::AllCompleted => false,
                };
                ControlFlow::Continue(())
            });
        }
        if condition_met || this.unfinished == 0 {
            return Poll::Ready(this.split());
        }
        if let Some(timer) = &mut this.timer {
            if Pin::new(timer).poll(cx).is_ready() {
                return Poll::Ready(this.split());
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Wait<T> {
    /// Dropped before it resolved (the handles are still here): cancels their tasks.
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.cancel();
        }
    }
}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("tasks", &self.handles.len())
            .field("unfinished", &self.unfinished)
            .field("return_when", &self.return_when)
            .finish()
    }
}
