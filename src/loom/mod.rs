//! The atomics and the lock that the cross-thread code uses, and the loom models
//! that check that code.
//!
//! Code touched by more than one thread (the inbox of `runtime/inbox.rs`, the task
//! reference count of `task/refcount.rs`, the per-child wakers of
//! `task/wake_list.rs`) takes its `Mutex`, atomics and `fence` from here rather
//! than from `std`. A normal build re-exports `std`'s. The crate's own unit tests
//! built with `RUSTFLAGS="--cfg loom"` re-export [loom]'s instead (only they: a
//! program that builds its own loom tests with that flag gets `std`'s, as loom is
//! only our dev-dependency), so that the model tests below (`park.rs`,
//! `remote_queue.rs`, `task_refs.rs`, `wake_list.rs`) explore every interleaving of
//! *that same code*, not of a copy. `ci/loom.sh` runs them.
//!
//! The rest of the crate uses `std` directly: a `static` cannot hold loom's types
//! (the slot pool and the runtime ids of `runtime/shared.rs` are a plain lock and a
//! counter), and the other threads (the blocking pool, the process reaper, signal
//! forwarding) are not modelled.
//!
//! [loom]: https://docs.rs/loom

#[cfg(all(test, loom))]
pub(crate) use ::loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Mutex,
};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Mutex,
};

/// Checks `f` under every interleaving loom explores with at most three
/// preemptions per execution, unless `LOOM_MAX_PREEMPTIONS` says otherwise: the
/// lost wake-up of `park.rs` needs two; all the models take under a minute.
#[cfg(all(test, loom))]
fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = ::loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[cfg(all(test, loom))]
mod park;
#[cfg(all(test, loom))]
mod remote_queue;
#[cfg(all(test, loom))]
mod task_refs;
#[cfg(all(test, loom))]
mod wake_list;
