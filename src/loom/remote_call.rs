//! The record a `RemoteHandle` shares with its remote task (`CallState` of
//! `runtime/remote.rs`), without a runtime: the remote task is `run_remote`
//! driven by loom's `block_on` on a thread of its own, the caller cancels as
//! `RemoteHandle::cancel` does and then waits as `.await` (its waker) or
//! `wait_blocking` (the condition variable) does. Whatever the interleaving, the
//! call has exactly one outcome, its permit is released exactly once and before
//! the caller sees the outcome, and a caller that finds no outcome yet is woken
//! when it comes (a lost wake-up shows as a deadlock, which loom reports).

use std::future::{pending, poll_fn, ready, Future};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use ::loom::thread;

use super::block_on;
use crate::runtime::calls::CallGate;
use crate::runtime::remote::{run_remote, CallError, CallState, Running};

/// How the caller waits for the outcome.
#[derive(Clone, Copy)]
enum Wait {
    /// `.await`: polls with its waker, and the finish wakes it.
    Poll,
    /// `wait_blocking`: blocks on the condition variable the finish signals.
    Block,
}

/// A call to a gate of capacity 1 whose permit the call holds, its remote task
/// running `future` on another thread, and a caller that cancels it (if
/// `cancel`) and waits as `wait` says. Returns the outcome the caller got, having
/// checked that the permit was free by then and that nothing else is left.
fn call<F>(future: F, cancel: bool, wait: Wait) -> Result<u32, CallError>
where
    F: Future<Output = u32> + Send + 'static,
{
    let gate: &'static CallGate = Box::leak(Box::new(CallGate::new()));
    gate.set_capacity(1);
    let state = Arc::new(CallState::new());
    state.set_permit(gate.try_acquire().expect("a free permit"));
    let task = {
        let running = Running(state.clone());
        thread::spawn(move || block_on(run_remote(future, running)))
    };
    if cancel {
        // `RemoteHandle::cancel` for a queued call.
        if let Some(waker) = state.cancel() {
            waker.wake();
        }
    }
    let mut taken = false;
    let out = match wait {
        Wait::Poll => block_on(poll_fn(|cx| state.poll_result(cx, &mut taken))),
        Wait::Block => {
            // `wait_blocking` once the call is queued (its waker unparks a thread
            // that is not parked here: the condition variable must do).
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                if let Poll::Ready(out) = state.poll_result(&mut cx, &mut taken) {
                    break out;
                }
                state.wait_result();
            }
        }
    };
    // The finish released the permit before it published the outcome.
    assert_eq!(
        gate.held(),
        0,
        "the outcome came before the permit's release"
    );
    assert!(state.is_finished());
    task.join().unwrap();
    // Released exactly once (a second release would wrap the count), and the
    // finishes after the first (the task's own `Running` guard) recorded nothing.
    assert_eq!(gate.held(), 0);
    let mut again = false;
    let mut cx = Context::from_waker(Waker::noop());
    assert!(state.poll_result(&mut cx, &mut again).is_pending());
    out
}

/// A task that completes at once races the caller's cancel: either outcome, once.
#[test]
fn a_finish_races_a_cancel() {
    super::check(|| {
        let out = call(ready(7), true, Wait::Poll);
        assert!(matches!(out, Ok(7) | Err(CallError::Cancelled)), "{out:?}");
    });
}

/// The same, the caller blocked in `wait_blocking`.
#[test]
fn a_finish_races_a_cancel_blocking() {
    super::check(|| {
        let out = call(ready(7), true, Wait::Block);
        assert!(matches!(out, Ok(7) | Err(CallError::Cancelled)), "{out:?}");
    });
}

/// A task that would never complete: the cancel must wake it (whether it has
/// registered its waker yet or not), and it finishes as cancelled.
#[test]
fn a_cancel_wakes_a_pending_task() {
    super::check(|| {
        let out = call(pending(), true, Wait::Poll);
        assert_eq!(out, Err(CallError::Cancelled));
    });
}

/// No cancel: a caller polling while the task finishes gets its output.
#[test]
fn a_caller_polling_during_the_finish() {
    super::check(|| {
        assert_eq!(call(ready(7), false, Wait::Poll), Ok(7));
    });
}
