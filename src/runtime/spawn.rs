//! `spawn` and task introspection (`current_task`, `all_tasks`): the task API that
//! needs the current runtime.

use std::future::Future;

use super::context;
use crate::task::{JoinHandle, TaskInfo};

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
