//! What task introspection (`current_task`, `all_tasks`) reports about a task.

use super::TaskId;

/// What a live task is doing, as [`all_tasks`](crate::all_tasks) sees it.
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

/// A snapshot of a live task: what [`current_task`](crate::current_task) and [`all_tasks`](crate::all_tasks) return.
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
