//! [`shield`]: protect work from the cancellation of whoever awaits it, like
//! `asyncio.shield`.
//!
//! In Rust, cancelling means dropping a future, and a future dropped is gone. So the
//! work must not live inside the future that may be dropped: [`shield`] spawns it as
//! a task, and the [`Shield`] it returns only awaits that task, through its
//! [`JoinHandle`](crate::JoinHandle) but without the cancel-on-drop of
//! `handle.await`. Dropping the shield (or timing it out with
//! [`wait_for`](crate::wait_for)) drops the handle unawaited, which detaches the
//! task without stopping it:
//!
//! ```text
//!   shield(fut) ──spawn──▶ task running fut ──────────────▶ finished
//!        │                      ▲                            │
//!        ▼                      │ join handle                ▼
//!     Shield ──────────────────┘              awaited: Ok(output)
//!        │
//!        └── dropped / timed out: the task runs on, its output is dropped
//! ```
//!
//! [`shield_handle`] wraps the handle of an existing task without spawning anything:
//! where a handle given by value to [`gather!`](crate::gather), `wait_for` or `wait`
//! would be cancelled with them, a shielded one is not.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{JoinError, JoinHandle, TaskId};

/// Runs `future` so that dropping or timing out the returned [`Shield`] does not
/// cancel it, like `asyncio.shield(aw)`: the future is spawned as a task at once and
/// runs to completion whatever happens to the shield.
///
/// Awaiting the shield gives the future's output, or a [`JoinError`] if the task was
/// cancelled by someone else (its runtime shutting down, say) or panicked; as in
/// asyncio, the shield is only a shield against *its own* cancellation.
///
/// The future must be `'static`, since it outlives the shield. To shield an existing
/// task, use [`shield_handle`] (passing a [`JoinHandle`] here would spawn a second
/// task that awaits the first, and nest the results).
///
/// Cancel-safe: that is its purpose. Dropping the shield detaches the task; its
/// output is then dropped when it finishes (a panic is reported on stderr).
///
/// # Panics
///
/// When called outside a ringloop runtime (it spawns).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// ringloop::run(async {
///     let saved = Rc::new(Cell::new(false));
///     let save = {
///         let saved = saved.clone();
///         async move {
///             ringloop::sleep(Duration::from_millis(30)).await;
///             saved.set(true);
///         }
///     };
///     // The wait times out, but the shielded work goes on.
///     let timed_out = ringloop::wait_for(Duration::from_millis(5), ringloop::shield(save)).await;
///     assert!(timed_out.is_err());
///     ringloop::sleep(Duration::from_millis(60)).await;
///     assert!(saved.get());
/// });
/// ```
#[track_caller]
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: IntoFuture + 'static,
    F::IntoFuture: 'static,
    F::Output: 'static,
{
    shield_handle(crate::spawn(future.into_future()))
}

/// Shields an existing task: the returned [`Shield`] awaits it, and dropping the
/// shield leaves the task running, like `asyncio.shield(task)`. Nothing is spawned.
///
/// A [`JoinHandle`] awaited by value (`handle.await`, or given to a combinator such
/// as [`gather!`](crate::gather) or [`wait_for`](crate::wait_for)) cancels its task
/// when that await is dropped; a shielded one does not. (To bound a wait and keep
/// the handle, `wait_for(d, &mut handle)` works too: a timeout then drops only the
/// borrow.)
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let task = ringloop::spawn(async {
///         ringloop::sleep(Duration::from_millis(20)).await;
///         7
///     });
///     let id = task.id();
///     let timed_out = ringloop::wait_for(Duration::from_millis(1), ringloop::shield_handle(task));
///     assert!(timed_out.await.is_err());
///     // The task runs on.
///     assert!(ringloop::all_tasks().iter().any(|t| t.id == id));
/// });
/// ```
pub fn shield_handle<T>(handle: JoinHandle<T>) -> Shield<T> {
    Shield { handle }
}

/// The future returned by [`shield`] and [`shield_handle`]: awaits the shielded
/// task, and detaches it (without cancelling it) when dropped.
///
/// Awaiting it is cancel-safe (dropping the `await` loses nothing but this shield's
/// claim on the output).
#[must_use = "the work runs anyway; await the shield to get its output"]
pub struct Shield<T> {
    handle: JoinHandle<T>,
}

impl<T> Shield<T> {
    /// Whether the shielded task has finished.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let shielded = ringloop::shield(async {});
    ///     assert!(!shielded.is_finished());
    ///     ringloop::yield_now().await;
    ///     assert!(shielded.is_finished());
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The shielded task's id.
    pub fn id(&self) -> TaskId {
        self.handle.id()
    }
}

impl<T> From<JoinHandle<T>> for Shield<T> {
    fn from(handle: JoinHandle<T>) -> Shield<T> {
        shield_handle(handle)
    }
}

impl<T> Future for Shield<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.handle.poll_join(cx)
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield")
            .field("task", &self.handle)
            .finish()
    }
}
