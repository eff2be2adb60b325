//! [`TaskGroupError`]: why [`TaskGroup::join`](super::TaskGroup::join) gave no values,
//! asyncio's `ExceptionGroup` for a task group: every task that failed, and how many
//! were cancelled because of it.

use std::fmt;

use crate::TaskId;

/// How one task of a [`TaskGroup`](super::TaskGroup) failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FailureCause<E> {
    /// The task returned `Err(error)`.
    Error(E),
    /// The task panicked; the panic message.
    Panicked(String),
}

/// One failed task of a [`TaskGroup`](super::TaskGroup).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TaskFailure<E> {
    /// The task's position in spawn order (its place in `join`'s vector had it
    /// succeeded).
    pub index: usize,
    /// The task's id.
    pub id: TaskId,
    /// What went wrong.
    pub cause: FailureCause<E>,
}

/// The error of [`TaskGroup::join`](super::TaskGroup::join): the failures of the
/// group's tasks, in spawn order, like the `ExceptionGroup` asyncio's `TaskGroup`
/// raises. Tasks that were cancelled are not failures; they are only counted.
///
/// ```
/// ringloop::run(async {
///     let group = ringloop::TaskGroup::new();
///     group.spawn(async { Ok(1) });
///     group.spawn(async { Err("boom") });
///     let error = group.join().await.unwrap_err();
///     assert_eq!(error.failures.len(), 1);
///     assert_eq!(error.failures[0].index, 1);
///     assert_eq!(error.failures[0].cause, ringloop::FailureCause::Error("boom"));
///     assert_eq!(error.errors().collect::<Vec<_>>(), [&"boom"]);
/// });
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TaskGroupError<E> {
    /// The tasks that returned an `Err` or panicked, in spawn order. Empty only when
    /// tasks were cancelled from outside the group (say, by the runtime shutting
    /// down) without any failure.
    pub failures: Vec<TaskFailure<E>>,
    /// How many tasks were cancelled (the siblings of the first failure that had not
    /// finished, tasks spawned after it, and tasks cancelled through
    /// [`GroupTask::cancel`](super::GroupTask::cancel)).
    pub cancelled: usize,
}

impl<E> TaskGroupError<E> {
    /// The `Err` values of the failed tasks, in spawn order (panics left out).
    pub fn errors(&self) -> impl Iterator<Item = &E> {
        self.failures.iter().filter_map(|f| match &f.cause {
            FailureCause::Error(error) => Some(error),
            FailureCause::Panicked(_) => None,
        })
    }

    /// The panic messages of the tasks that panicked, in spawn order.
    pub fn panics(&self) -> impl Iterator<Item = &str> {
        self.failures.iter().filter_map(|f| match &f.cause {
            FailureCause::Panicked(message) => Some(message.as_str()),
            FailureCause::Error(_) => None,
        })
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} task(s) of the group failed", self.failures.len())?;
        for (i, failed) in self.failures.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            let (index, id) = (failed.index, failed.id);
            match &failed.cause {
                FailureCause::Error(error) => write!(f, "{sep}task {index} (id {id}): {error}")?,
                FailureCause::Panicked(message) => {
                    write!(f, "{sep}task {index} (id {id}) panicked: {message}")?
                }
            }
        }
        if self.cancelled > 0 {
            write!(f, " ({} cancelled)", self.cancelled)?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for TaskGroupError<E> {}
