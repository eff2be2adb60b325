//! `spawn`, `yield_now`, and task introspection (`current_task`, `all_tasks`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{JoinHandle, TaskId};
use crate::runtime::context;

/// Runs `future` as a new task on the current runtime, like asyncio's
/// `create_task`. The task starts at the runtime's next scheduling step, runs
/// concurrently with the caller, and keeps running if the handle is dropped.
///
/// The future need not be `Send`: a task never leaves the thread that spawned it.
///
/// # Panics
///
/// When called outside a ringloop runtime.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let slow = ringloop::spawn(async {
///         ringloop::sleep(Duration::from_millis(20)).await;
///         "slow"
///     });
///     let fast = ringloop::spawn(async { "fast" });
///     assert_eq!(fast.await.unwrap(), "fast");
///     assert_eq!(slow.await.unwrap(), "slow");
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match context::with_core(|core| core.spawn(future)) {
        Some(handle) => handle,
        None => panic!("ringloop::spawn called outside of a ringloop runtime"),
    }
}

/// Gives other tasks a turn, like `asyncio.sleep(0)`: the current task goes to the
/// back of the ready queue.
///
/// Cancel-safe (there is nothing to lose).
///
/// ```
/// ringloop::run(async {
///     let other = ringloop::spawn(async { 1 });
///     ringloop::yield_now().await;
///     assert!(other.is_finished());
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// What a live task is doing, as [`all_tasks`] sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TaskState {
    /// Being polled right now (it is the caller, or the caller's caller).
    Running,
    /// In the ready queue, waiting for its turn.
    Scheduled,
    /// Suspended, waiting to be woken.
    Waiting,
    /// `cancel()` was called; the future is dropped at its next turn.
    Cancelling,
}

/// A snapshot of a live task: what [`current_task`] and [`all_tasks`] return.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The task's name (`Task-<id>` unless renamed).
    pub name: String,
    /// What the task is doing.
    pub state: TaskState,
}

impl TaskInfo {
    /// The main task (the future given to `run`/`block_on`), which has no cell.
    pub(crate) fn main(id: TaskId, state: TaskState) -> TaskInfo {
        TaskInfo {
            id,
            name: format!("Task-{id}"),
            state,
        }
    }

    pub(crate) fn of(raw: super::RawTask) -> TaskInfo {
        let state = if raw.is_cancel_requested() {
            TaskState::Cancelling
        } else if raw.is_running() {
            TaskState::Running
        } else if raw.is_scheduled() {
            TaskState::Scheduled
        } else {
            TaskState::Waiting
        };
        TaskInfo {
            id: raw.id(),
            name: raw.name(),
            state,
        }
    }
}

/// The task being polled, like asyncio's `current_task()`.
///
/// The future given to [`run`](crate::run) (or
/// [`Runtime::block_on`](crate::Runtime::block_on)) is the *main task*, as
/// `asyncio.run` wraps `main()` in a task: it has the next task id, so under `run`
/// it is `Task-1`, and [`all_tasks`] lists it while it runs. `None` in a callback
/// ([`call_soon`](crate::call_soon) and friends) and outside a runtime.
///
/// ```
/// ringloop::run(async {
///     let main = ringloop::current_task().unwrap();
///     assert_eq!(main.name, "Task-1");
///     let handle = ringloop::spawn(async { ringloop::current_task().unwrap().id });
///     let id = handle.id();
///     assert_ne!(id, main.id);
///     assert_eq!(handle.await.unwrap(), id);
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    context::with_core(|core| core.current_task_info()).flatten()
}

/// Every task of the current runtime that has not finished, like asyncio's
/// `all_tasks()`: the main task (the future given to [`run`](crate::run), see
/// [`current_task`]) first, then the spawned tasks in no particular order. Empty
/// outside a runtime.
///
/// ```
/// ringloop::run(async {
///     let handle = ringloop::spawn(std::future::pending::<()>());
///     ringloop::yield_now().await;
///     let tasks = ringloop::all_tasks();
///     assert_eq!(tasks.len(), 2);
///     assert_eq!(tasks[0].name, "Task-1");
///     assert_eq!(tasks[0].state, ringloop::TaskState::Running);
///     assert!(tasks.iter().any(|t| t.id == handle.id()));
///     handle.cancel();
/// });
/// ```
pub fn all_tasks() -> Vec<TaskInfo> {
    context::with_core(|core| core.task_infos()).unwrap_or_default()
}
