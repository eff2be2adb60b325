//! Tasks: spawning, joining, cancelling, and running futures side by side.
//!
//! A task is a future the runtime owns and polls whenever it is woken; the task
//! knows its runtime only through the `Schedule` step given when it is spawned
//! (`spawn` itself, which needs the current runtime, is in `runtime/spawn.rs`). It lives in a
//! single heap cell (`cell.rs`) behind a type-erased header (`raw.rs`); its wakers
//! (`waker.rs`) put it back on its runtime's ready queue. [`JoinHandle`] (`join.rs`)
//! awaits its output; [`gather!`](crate::gather) and [`gather_all`] (`gather.rs`) run
//! several futures concurrently inside one task, polling only the woken ones
//! (`wake_list.rs`, `future_set.rs`, shared with the combinators). [`to_thread`]
//! (`blocking/`) runs blocking closures on a process-wide bounded thread pool.
//!
//! The combinators over tasks and futures (`wait`, `as_completed`, `shield`,
//! `try_gather!`, `TaskGroup`) are in `combinators/`, re-exported at the crate root.

mod alloc;
mod blocking;
mod cell;
pub(crate) mod combinators;
mod future_set;
mod gather;
mod info;
mod join;
mod raw;
pub(crate) mod refcount;
mod wake_list;
mod waker;
mod yield_now;

use std::future::Future;

pub use blocking::{to_thread, ToThread};
pub(crate) use future_set::{FutureSet, InOrder};
#[doc(hidden)]
pub use gather::poll_gather_slot;
pub use gather::{gather_all, GatherAll};
pub use info::{TaskInfo, TaskState};
// The public paths `ringloop::task::{spawn, current_task, all_tasks}`: these need the
// current runtime and live in `runtime/spawn.rs`; nothing in this module calls them.
pub use crate::{all_tasks, current_task, spawn};
pub use join::{JoinError, JoinFuture, JoinHandle, TaskId};
pub(crate) use raw::{RawTask, RemoteTask, Schedule};
pub(crate) use wake_list::WakeList;
pub use yield_now::{yield_now, YieldNow};

pub(crate) use cell::panic_message;

/// Allocates a task for `future`, which `scheduler` schedules when it is woken
/// (`owner` tells it which of its runtimes the task belongs to, see
/// [`Schedule`]). The returned task holds two local references: one for the
/// runtime's registry and one for the join handle.
pub(crate) fn new_task<F, S>(future: F, id: TaskId, owner: u64, scheduler: &'static S) -> RawTask
where
    F: Future + 'static,
    S: Schedule,
{
    RawTask::from_header(cell::allocate(future, id, owner, scheduler))
}
