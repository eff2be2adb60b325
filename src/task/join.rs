//! [`JoinHandle`], its [`JoinFuture`] (`handle.await`), [`JoinError`] and [`TaskId`].

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::raw::RawTask;

/// A task's id, unique among the tasks of one runtime (asyncio's `id(task)`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn new(id: u64) -> TaskId {
        TaskId(id)
    }

    /// The id as a number.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let a = ringloop::spawn(async {});
    ///     let b = ringloop::spawn(async {});
    ///     assert_ne!(a.id().as_u64(), b.id().as_u64());
    /// });
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why awaiting a [`JoinHandle`] gave no value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum JoinError {
    /// The task was cancelled (asyncio's `CancelledError`): by
    /// [`JoinHandle::cancel`], or because its runtime shut down.
    Cancelled,
    /// The task panicked (asyncio's "exception in task"); the panic message.
    Panicked(String),
}

impl JoinError {
    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panicked(message) => write!(f, "task panicked: {message}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// An owned permission to await a spawned task, asyncio's `Task` object.
///
/// Awaiting it gives the task's output, or a [`JoinError`] when the task was
/// cancelled or panicked. A panic whose handle is dropped unread is reported on
/// stderr. The handle belongs to the thread whose runtime runs the task (`!Send`).
///
/// # Dropping and cancelling, as in asyncio
///
/// * Dropping a handle that nobody awaits *detaches* the task, which keeps running
///   (as an asyncio task does when its last reference is dropped); use
///   [`cancel`](Self::cancel) to stop it.
/// * Awaiting the handle by value (`handle.await`, or passing it to [`gather!`],
///   [`wait_for`], [`gather_all`](crate::gather_all), [`as_completed`] and the other
///   combinators, which take `IntoFuture`) turns it into a [`JoinFuture`]; dropping
///   that future before the task finished **cancels the task**, as cancelling
///   `await task` cancels the task in asyncio. So `wait_for(d, handle)` cancels the
///   task when it times out, and dropping a `gather!` of handles cancels them all.
/// * To wait without that, await `&mut handle` (a borrow is a future that never
///   cancels: a timeout drops only the borrow, and the handle can be awaited again
///   later), or wrap the handle in [`shield_handle`] (asyncio's `shield`).
///
/// Awaiting `&mut handle` is cancel-safe; awaiting the handle by value is not (its
/// drop cancels the task, which is the point).
///
/// ```
/// use std::time::Duration;
///
/// ringloop::run(async {
///     let handle = ringloop::spawn(async { 6 * 7 });
///     assert_eq!(handle.await, Ok(42));
///
///     // A timeout on a borrow leaves the task running...
///     let mut slow = ringloop::spawn(async {
///         ringloop::sleep(Duration::from_millis(30)).await;
///         "done"
///     });
///     assert!(ringloop::wait_for(Duration::from_millis(1), &mut slow).await.is_err());
///     assert_eq!(slow.await, Ok("done"));
///
///     // ...a timeout on the handle itself cancels the task.
///     let forever = ringloop::spawn(std::future::pending::<()>());
///     let id = forever.id();
///     assert!(ringloop::wait_for(Duration::from_millis(1), forever).await.is_err());
///     ringloop::yield_now().await;
///     assert!(ringloop::all_tasks().iter().all(|t| t.id != id));
/// });
/// ```
///
/// [`gather!`]: crate::gather
/// [`wait_for`]: crate::wait_for
/// [`as_completed`]: crate::as_completed
/// [`shield_handle`]: crate::shield_handle
pub struct JoinHandle<T> {
    raw: RawTask,
    done: bool,
    // !Send and !Sync: the task lives on one thread.
    _marker: PhantomData<(Rc<()>, T)>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            done: false,
            _marker: PhantomData,
        }
    }

    /// Asks the task to stop, like asyncio's `Task.cancel()`: its future is dropped
    /// at its next suspension point (the next time the scheduler reaches it) and
    /// awaiting the handle then gives `Err(JoinError::Cancelled)`. Returns `false`
    /// when the task had already finished, in which case nothing changes.
    ///
    /// ```
    /// use std::time::Duration;
    /// ringloop::run(async {
    ///     let handle = ringloop::spawn(ringloop::sleep(Duration::from_secs(3600)));
    ///     assert!(handle.cancel());
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        if !self.raw.request_cancel() {
            return false;
        }
        if !self.raw.is_running() {
            self.raw.wake();
        }
        true
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.raw.is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> super::TaskId {
        self.raw.id()
    }

    /// The task's name: `Task-<id>` unless set with [`set_name`](Self::set_name).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let handle = ringloop::spawn(async {});
    ///     assert_eq!(handle.name(), format!("Task-{}", handle.id()));
    ///     handle.set_name("worker");
    ///     assert_eq!(handle.name(), "worker");
    /// });
    /// ```
    pub fn name(&self) -> String {
        self.raw.name()
    }

    /// Whether the task finished by panicking; the output stays in place for
    /// whoever awaits the handle (used by `wait(.., FirstException, ..)`).
    pub(crate) fn is_panicked(&self) -> bool {
        self.raw.is_panicked()
    }

    /// `Ready` once the task has finished, without taking its output; otherwise
    /// registers `cx`'s waker as the join waker (replacing the one of an earlier
    /// poll), so that the task's completion wakes it.
    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.raw.is_complete() {
            return Poll::Ready(());
        }
        self.raw.set_join_waker(cx.waker());
        Poll::Pending
    }

    /// Renames the task (shown by [`all_tasks`](crate::all_tasks) and in panic
    /// reports).
    pub fn set_name(&self, name: impl Into<String>) {
        self.raw.set_name(name.into());
    }
}

impl<T> JoinHandle<T> {
    /// Polls for the output without ever cancelling anything: what `&mut handle`,
    /// [`JoinFuture`] and the shield await.
    pub(crate) fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        assert!(!self.done, "JoinHandle polled after it returned Ready");
        let mut output = None;
        self.raw.try_read_output(&mut output);
        if let Some(output) = output {
            self.done = true;
            return Poll::Ready(output);
        }
        self.raw.set_join_waker(cx.waker());
        Poll::Pending
    }
}

// The output lives in the task cell and is never pinned.
impl<T> Unpin for JoinHandle<T> {}

/// Awaiting a borrowed handle: gives the output like `handle.await`, but dropping
/// this await never cancels the task (the handle stays usable). For bounding a wait
/// without stopping the work: `wait_for(d, &mut handle)`.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let mut handle = ringloop::spawn(async {
///         ringloop::sleep(Duration::from_millis(20)).await;
///         1
///     });
///     assert!(ringloop::wait_for(Duration::from_millis(1), &mut handle).await.is_err());
///     assert!(!handle.is_finished());
///     assert_eq!((&mut handle).await, Ok(1));
/// });
/// ```
impl<T> Future for &mut JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_join(cx)
    }
}

/// `handle.await`: see [`JoinFuture`].
impl<T> IntoFuture for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    type IntoFuture = JoinFuture<T>;

    fn into_future(self) -> JoinFuture<T> {
        JoinFuture { handle: self }
    }
}

/// The future of `handle.await` (a [`JoinHandle`] awaited by value): the task's
/// output, or a [`JoinError`].
///
/// Dropping it before the task finished cancels the task, as cancelling `await
/// task` does in asyncio: a combinator given handles (a [`wait_for`] that times
/// out, a [`gather!`] that is dropped) cancels their tasks. Await `&mut handle` or a
/// [`shield_handle`] to wait without that.
///
/// [`gather!`]: crate::gather
/// [`wait_for`]: crate::wait_for
/// [`shield_handle`]: crate::shield_handle
#[must_use = "futures do nothing unless awaited; dropping this one cancels the task"]
pub struct JoinFuture<T> {
    handle: JoinHandle<T>,
}

impl<T> JoinFuture<T> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.handle.id()
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<T> Future for JoinFuture<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.handle.poll_join(cx)
    }
}

impl<T> Drop for JoinFuture<T> {
    fn drop(&mut self) {
        // Returns `false` (and does nothing) when the task has finished, output
        // taken or not.
        self.handle.cancel();
    }
}

impl<T> fmt::Debug for JoinFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinFuture")
            .field("handle", &self.handle)
            .finish()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.raw.drop_join_interest();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.raw.id())
            .field("finished", &self.raw.is_complete())
            .finish()
    }
}
