//! Combinators over futures and tasks, like asyncio's `wait`, `as_completed`,
//! `shield`, `gather(..., return_exceptions=False)` and `TaskGroup`.
//!
//! | asyncio | ringloop | file |
//! |---|---|---|
//! | `wait(aws, return_when=...)` | [`wait`](crate::wait) over join handles | `wait.rs` |
//! | `as_completed(aws, timeout=...)` | [`as_completed`](crate::as_completed), a `Stream`; [`with_timeout`](crate::AsCompleted::with_timeout) | `as_completed.rs` |
//! | `shield(aw)` | [`shield`](crate::shield), [`shield_handle`](crate::shield_handle) | `shield.rs` |
//! | `gather(..., return_exceptions=False)` | [`try_gather!`](crate::try_gather), [`try_gather_all`](crate::try_gather_all) | `try_gather.rs` |
//! | `TaskGroup` | [`TaskGroup`](crate::TaskGroup) | `task_group.rs`, `group_state.rs`, `group_error.rs` |
//!
//! The ones that drive many children (`wait`, `as_completed`, `try_gather_all`) share
//! `gather_all`'s machinery in [`task`](crate::task): one waker per child feeding a
//! ready list, so a wake-up costs a look at the woken child only.

mod as_completed;
mod group_error;
mod group_state;
mod shield;
mod task_group;
mod try_gather;
mod wait;

pub use as_completed::{as_completed, AsCompleted, AsCompletedTimeout};
pub use group_error::{FailureCause, TaskFailure, TaskGroupError};
pub use shield::{shield, shield_handle, Shield};
pub use task_group::{GroupTask, TaskGroup, TaskGroupHandle};
#[doc(hidden)]
pub use try_gather::poll_try_gather_slot;
pub use try_gather::{try_gather_all, TryGatherAll};
pub use wait::{wait, ReturnWhen, Wait};
