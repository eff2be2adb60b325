//! The atomics and the lock that the cross-thread code uses, and the loom models
//! that check that code.
//!
//! Code touched by more than one thread (the inbox of `runtime/inbox.rs`, the task
//! reference count of `task/refcount.rs`, the per-child wakers of
//! `task/wake_list.rs`, the call gate of `runtime/calls.rs` and the call record of
//! `runtime/remote.rs`) takes its `Mutex`, `Condvar`, atomics and `fence` from
//! here rather than from `std`. A normal build re-exports `std`'s. The crate's own
//! unit tests built with `RUSTFLAGS="--cfg ringloop_loom"` re-export [loom]'s instead (only
//! they: a program that builds its own loom tests with that flag gets `std`'s, as
//! loom is only our dev-dependency), so that the model tests below (`call_gate.rs`,
//! `park.rs`, `remote_call.rs`, `remote_queue.rs`, `task_refs.rs`, `wake_list.rs`)
//! explore every interleaving of *that same code*, not of a copy. `ci/loom.sh`
//! runs them.
//!
//! The rest of the crate uses `std` directly: a `static` cannot hold loom's types
//! (the slot pool and the runtime ids of `runtime/shared.rs` are a plain lock and a
//! counter), and the other threads (the blocking pool, the process reaper, signal
//! forwarding) are not modelled.
//!
//! [loom]: https://docs.rs/loom

#[cfg(all(test, ringloop_loom))]
pub(crate) use ::loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(all(test, ringloop_loom)))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};

/// Checks `f` under every interleaving loom explores with at most three
/// preemptions per execution, unless `LOOM_MAX_PREEMPTIONS` says otherwise: the
/// lost wake-up of `park.rs` needs two; all the models take under a minute.
#[cfg(all(test, ringloop_loom))]
fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = ::loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Polls `f` on this loom thread until it is ready, parking the thread after
/// each `Pending` until its waker unparks it, as `RemoteHandle::wait_blocking`
/// does (loom's own `block_on` needs its `futures` feature). A waker never woken
/// leaves the thread parked for ever: loom reports the deadlock.
#[cfg(all(test, ringloop_loom))]
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(::loom::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(::loom::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        ::loom::thread::park();
    }
}

#[cfg(all(test, ringloop_loom))]
mod call_gate;
#[cfg(all(test, ringloop_loom))]
mod park;
#[cfg(all(test, ringloop_loom))]
mod remote_call;
#[cfg(all(test, ringloop_loom))]
mod remote_queue;
#[cfg(all(test, ringloop_loom))]
mod task_refs;
#[cfg(all(test, ringloop_loom))]
mod wake_list;
