//! [`TaskGroup`]: tasks that succeed or fail together, like asyncio's `TaskGroup`;
//! [`TaskGroupHandle`] to spawn into one from its own tasks; [`GroupTask`], what a
//! spawn returns.
//!
//! The first failure of a task (an `Err` or a panic) cancels the others at once,
//! from inside the failing task; the state machine and the member guard that makes
//! this happen are in `group_state.rs`. `join` waits until no task of the group is
//! running, closes the group, then collects every task's outcome, in spawn order
//! (each task stored its own when it ended, and let go of its handle).
//! Dropping the group (or its `join` future) before that cancels every task, as
//! cancelling the body of `async with TaskGroup()` does.

use std::fmt;
use std::future::IntoFuture;
use std::rc::{Rc, Weak};

use super::group_error::{TaskFailure, TaskGroupError};
use super::group_state::{spawn_cancelled, Group, MemberInfo, Slot};
use crate::TaskId;

/// A set of tasks that succeed or fail together, like asyncio's `TaskGroup`.
///
/// Every task returns `Result<T, E>`. [`join`](Self::join) waits for all of them and
/// gives their values in spawn order, or, once any task returned an `Err` or
/// panicked, a [`TaskGroupError`] listing the failures. The first failure cancels
/// every other task of the group at once (whether or not `join` is being awaited),
/// and tasks spawned after it are cancelled before they start.
///
/// Tasks may spawn more tasks into the group through a [`TaskGroupHandle`]
/// ([`handle`](Self::handle)); `join` waits for those too.
///
/// Differences from asyncio: the group is not a context manager, so the code
/// between `TaskGroup::new()` and `join()` is not cancelled by a failure (only the
/// tasks are); all tasks share one output type; dropping the group without joining
/// it cancels its tasks (asyncio has no way to skip `__aexit__`).
///
/// ```
/// use std::time::Duration;
/// use ringloop::TaskGroup;
///
/// ringloop::run(async {
///     let group = TaskGroup::new();
///     for n in 1..=3u64 {
///         group.spawn(async move {
///             ringloop::sleep(Duration::from_millis(10 * (4 - n))).await;
///             Ok::<_, String>(n * n)
///         });
///     }
///     assert_eq!(group.join().await, Ok(vec![1, 4, 9]));
/// });
/// ```
pub struct TaskGroup<T, E> {
    group: Rc<Group<T, E>>,
}

/// A cloneable handle that spawns tasks into a [`TaskGroup`], for tasks of the
/// group that spawn more tasks. It does not keep the group alive: once the group is
/// joined or dropped, what it spawns is cancelled at once.
pub struct TaskGroupHandle<T, E> {
    group: Weak<Group<T, E>>,
}

/// A task of a [`TaskGroup`], as returned by [`TaskGroup::spawn`] (asyncio's task
/// from `tg.create_task`): its id, name, place in spawn order, whether it has
/// finished, and [`cancel`](Self::cancel) to stop this one task. Its output goes to
/// [`TaskGroup::join`].
#[derive(Clone)]
pub struct GroupTask {
    id: TaskId,
    index: Option<usize>,
    info: Rc<MemberInfo>,
}

impl<T: 'static, E: 'static> TaskGroup<T, E> {
    /// An empty group. Needs no runtime until a task is spawned.
    pub fn new() -> TaskGroup<T, E> {
        TaskGroup {
            group: Rc::new(Group::new()),
        }
    }

    /// Spawns `future` as a task of the group, like `tg.create_task(coro)`. It starts
    /// at the runtime's next scheduling step; if the group has already failed, it is
    /// cancelled at once (its future is dropped without being polled) and `join`
    /// counts it as cancelled.
    ///
    /// # Panics
    ///
    /// When called outside a ringloop runtime.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let group = ringloop::TaskGroup::<u32, ()>::new();
    ///     let task = group.spawn(async { Ok(5) });
    ///     assert_eq!(task.index(), Some(0));
    ///     assert_eq!(group.join().await, Ok(vec![5]));
    ///     assert!(task.is_finished());
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> GroupTask
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: 'static,
    {
        Group::spawn(&self.group, future.into_future(), None)
    }

    /// [`spawn`](Self::spawn) with a name, like `tg.create_task(coro, name=...)`:
    /// the task's name in [`GroupTask::name`], [`current_task`](crate::current_task),
    /// [`all_tasks`](crate::all_tasks) and panic reports.
    ///
    /// # Panics
    ///
    /// When called outside a ringloop runtime.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let group = ringloop::TaskGroup::<String, ()>::new();
    ///     let task = group.spawn_named("fetcher", async {
    ///         Ok(ringloop::current_task().unwrap().name)
    ///     });
    ///     assert_eq!(task.name(), "fetcher");
    ///     assert_eq!(group.join().await, Ok(vec!["fetcher".to_owned()]));
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<String>, future: F) -> GroupTask
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: 'static,
    {
        Group::spawn(&self.group, future.into_future(), Some(name.into()))
    }

    /// A cloneable handle that spawns into this group, for its tasks to spawn more
    /// tasks.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let group = ringloop::TaskGroup::<u32, ()>::new();
    ///     let handle = group.handle();
    ///     group.spawn(async move {
    ///         handle.spawn(async { Ok(2) });
    ///         Ok(1)
    ///     });
    ///     assert_eq!(group.join().await, Ok(vec![1, 2]));
    /// });
    /// ```
    pub fn handle(&self) -> TaskGroupHandle<T, E> {
        TaskGroupHandle {
            group: Rc::downgrade(&self.group),
        }
    }

    /// Waits until every task of the group has finished, tasks spawned meanwhile
    /// included, then gives their values in spawn order; or, if any task returned
    /// an `Err` or panicked, the failures (the other tasks having been cancelled at
    /// the first failure). A group with no task gives `Ok(vec![])` at once.
    ///
    /// A task cancelled through its own [`GroupTask::cancel`] is neither a value nor
    /// a failure: it is left out of the vector (as asyncio's `TaskGroup` ignores a
    /// member cancelled by `task.cancel()`). A task cancelled any other way (the
    /// runtime shutting down) makes `join` return an error counting it.
    ///
    /// Once `join` returns, the group is closed: tasks spawned through a
    /// [`TaskGroupHandle`] afterwards are cancelled at once. (Awaited from inside one
    /// of the group's own tasks, `join` would wait for that task, that is forever.)
    ///
    /// Cancellation: dropping the `join` future drops the group, which cancels every
    /// task still running (like cancelling the task blocked in `async with
    /// TaskGroup()`); nothing is reported.
    pub async fn join(self) -> Result<Vec<T>, TaskGroupError<E>> {
        std::future::poll_fn(|cx| self.group.poll_idle(cx)).await;
        let slots = self.group.close();
        let mut values = Vec::with_capacity(slots.len());
        let mut error = TaskGroupError {
            failures: Vec::new(),
            cancelled: 0,
        };
        let mut dismissed = 0;
        for (index, slot) in slots.into_iter().enumerate() {
            match slot {
                Slot::Done(value) => values.push(value),
                Slot::Failed(id, cause) => error.failures.push(TaskFailure { index, id, cause }),
                // Nothing runs once `running` is 0; a slot still `Running` would be a
                // task that never reported, counted as cancelled.
                Slot::Cancelled | Slot::Running(_) => error.cancelled += 1,
                Slot::Dismissed => dismissed += 1,
            }
        }
        if error.failures.is_empty() && error.cancelled == 0 {
            Ok(values)
        } else {
            error.cancelled += dismissed;
            Err(error)
        }
    }
}

impl<T: 'static, E: 'static> Default for TaskGroup<T, E> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        self.group.abandon();
    }
}

impl<T: 'static, E: 'static> TaskGroupHandle<T, E> {
    /// Spawns `future` into the group, as [`TaskGroup::spawn`] does. If the group
    /// has been joined or dropped, the task is cancelled at once, not tracked by
    /// anyone, and the returned [`GroupTask`] has no [`index`](GroupTask::index).
    ///
    /// # Panics
    ///
    /// When called outside a ringloop runtime.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> GroupTask
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: 'static,
    {
        self.spawn_maybe_named(future.into_future(), None)
    }

    /// Spawns `future` into the group with a name, as [`TaskGroup::spawn_named`]
    /// does; if the group has been joined or dropped, as for [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// When called outside a ringloop runtime.
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<String>, future: F) -> GroupTask
    where
        F: IntoFuture<Output = Result<T, E>>,
        F::IntoFuture: 'static,
    {
        self.spawn_maybe_named(future.into_future(), Some(name.into()))
    }

    #[track_caller]
    fn spawn_maybe_named<F>(&self, future: F, name: Option<String>) -> GroupTask
    where
        F: std::future::Future<Output = Result<T, E>> + 'static,
    {
        match self.group.upgrade() {
            Some(group) => Group::spawn(&group, future, name),
            None => spawn_cancelled(future, name),
        }
    }
}

impl<T, E> Clone for TaskGroupHandle<T, E> {
    fn clone(&self) -> Self {
        TaskGroupHandle {
            group: self.group.clone(),
        }
    }
}

impl GroupTask {
    pub(super) fn new(id: TaskId, index: Option<usize>, info: Rc<MemberInfo>) -> GroupTask {
        GroupTask { id, index, info }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's name: the one given to [`TaskGroup::spawn_named`], or `Task-<id>`.
    pub fn name(&self) -> String {
        match self.info.name() {
            Some(name) => name.to_owned(),
            None => format!("Task-{}", self.id),
        }
    }

    /// The task's place in spawn order, which is its value's place in the vector
    /// [`TaskGroup::join`] returns (when no task before it was cancelled through
    /// [`cancel`](Self::cancel), which leaves a task out of that vector). `None` for
    /// a task spawned into a group that was already joined or dropped (it was
    /// cancelled at once).
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// Whether the task has finished (returned, panicked, or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.info.is_finished()
    }

    /// Cancels this task alone, like asyncio's `task.cancel()` on a member of a
    /// `TaskGroup`: its future is dropped at its next suspension point, its siblings
    /// go on, and the group does not fail because of it: [`TaskGroup::join`] leaves
    /// it out of the values. Returns `false` (and changes nothing) when the task has
    /// already finished.
    ///
    /// ```
    /// use std::time::Duration;
    /// ringloop::run(async {
    ///     let group = ringloop::TaskGroup::<u32, ()>::new();
    ///     group.spawn(async { Ok(1) });
    ///     let slow = group.spawn(async {
    ///         ringloop::sleep(Duration::from_secs(3600)).await;
    ///         Ok(2)
    ///     });
    ///     group.spawn(async { Ok(3) });
    ///     assert!(slow.cancel());
    ///     assert_eq!(group.join().await, Ok(vec![1, 3]));
    ///     assert!(slow.is_finished());
    ///     assert!(!slow.cancel());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.info.dismiss()
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tasks, running, failed) = self.group.summary();
        f.debug_struct("TaskGroup")
            .field("tasks", &tasks)
            .field("running", &running)
            .field("failed", &failed)
            .finish()
    }
}

impl<T, E> fmt::Debug for TaskGroupHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupHandle")
            .field("open", &(self.group.strong_count() > 0))
            .finish()
    }
}

impl fmt::Debug for GroupTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupTask")
            .field("id", &self.id)
            .field("index", &self.index)
            .field("name", &self.info.name())
            .field("finished", &self.info.is_finished())
            .finish()
    }
}
