//! [`JoinHandle`], [`JoinError`] and [`TaskId`].

use std::fmt;
use std::future::Future;
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
/// cancelled or panicked. Dropping it *detaches* the task, which keeps running (as
/// an asyncio task does when its reference is dropped); use [`cancel`](Self::cancel)
/// to stop it. A panic whose handle is dropped unread is reported on stderr.
///
/// The handle belongs to the thread whose runtime runs the task (`!Send`).
///
/// Awaiting a handle is cancel-safe: dropping the `await` leaves the task and its
/// output alone.
///
/// ```
/// ringloop::run(async {
///     let handle = ringloop::spawn(async { 6 * 7 });
///     assert_eq!(handle.await, Ok(42));
/// });
/// ```
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

// The output lives in the task cell and is never pinned.
impl<T> Unpin for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
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
