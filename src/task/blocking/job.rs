//! One `to_thread` job: the closure, then its result, shared by the awaiting
//! [`ToThread`](super::ToThread) future and the pool thread that runs it.
//!
//! # States
//!
//! ```text
//!              worker takes f                 f returns (or panics)
//!   Waiting ───────────────────▶ Running ──────────────────────────▶ Done ──▶ Taken
//!   {f, waker}                   {waker}      store result, wake      (result)  (future read it)
//!      │                            │                                   │
//!      │ future dropped:            │ future dropped:                   │ future dropped:
//!      │ f dropped by the dropper   │ f runs to the end; the worker     │ result dropped
//!      ▼                            ▼ drops the result                  ▼ by the dropper
//!   Abandoned ◀─────────────────────┴───────────────────────────────────┘
//! ```
//!
//! A job in `Abandoned` state that is still in the pool's queue is a tombstone: the
//! worker that pops it finds nothing to run and moves on. So a job whose future is
//! dropped before a worker took it is never run, and its closure (with everything it
//! captured) is dropped at once, on the thread that dropped the future.
//!
//! The state sits behind a `std::sync::Mutex`, held only to move values in and out:
//! the closure runs, the waker is woken and user values are dropped with the lock
//! released, so a panicking destructor never poisons it (and a poisoned lock is
//! recovered anyway: the state is plain data, consistent at every unlock).

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};

use crate::task::{panic_message, JoinError};

/// What the pool sees of a job: something to run once on a worker thread.
pub(super) trait Runnable: Send + Sync {
    /// Runs the closure unless the job was abandoned; stores the result and wakes the
    /// awaiting future, or drops the result when the future is gone. Never panics.
    fn run(&self);

    /// Completes a job that will never run with `Err(Panicked(message))` (the pool
    /// could not start a thread for it). Never panics.
    fn fail(&self, message: &str);
}

/// What the [`ToThread`](super::ToThread) future sees of a job.
pub(super) trait Outcome<T>: Send + Sync {
    /// Takes the result when it is there; otherwise remembers `waker` for the
    /// worker to wake.
    fn poll_result(&self, waker: &Waker) -> Poll<Result<T, JoinError>>;

    /// The future is dropped: drops the closure when it has not started, or the
    /// result when it is there; a running closure's result is dropped by its worker.
    fn abandon(&self);
}

enum State<F, T> {
    Waiting { f: F, waker: Option<Waker> },
    Running { waker: Option<Waker> },
    Done(Result<T, JoinError>),
    Taken,
    Abandoned,
}

/// The shared cell of one job.
pub(super) struct Job<F, T> {
    state: Mutex<State<F, T>>,
}

impl<F, T> Job<F, T> {
    pub(super) fn new(f: F) -> Job<F, T> {
        Job {
            state: Mutex::new(State::Waiting { f, waker: None }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<F, T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `result` for the future and wakes it, or (future gone) drops it.
    fn finish(&self, result: Result<T, JoinError>) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            old @ (State::Running { .. } | State::Waiting { .. }) => {
                *state = State::Done(result);
                drop(state);
                let waker = match old {
                    State::Running { waker } => waker,
                    State::Waiting { f, waker } => {
                        // Only through `fail`: the closure never ran. Its destructor
                        // runs on a runtime thread, which must go on failing the other
                        // stranded jobs even if it panics.
                        drop_quietly(f);
                        waker
                    }
                    _ => unreachable!(),
                };
                if let Some(waker) = waker {
                    // A foreign waker may panic; the worker must survive it.
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| waker.wake()));
                }
            }
            other => {
                // Abandoned: nobody wants the result. (Done and Taken cannot be here.)
                *state = other;
                drop(state);
                drop_quietly(result);
            }
        }
    }
}

/// Drops `value`, catching a panic from its destructor so the worker survives.
fn drop_quietly<V>(value: V) {
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(value)));
}

impl<F, T> Runnable for Job<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self) {
        let mut state = self.lock();
        let f = match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting { f, waker } => {
                *state = State::Running { waker };
                f
            }
            other => {
                // A tombstone: the future was dropped before the job started.
                *state = other;
                return;
            }
        };
        drop(state);
        let result = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            let message = panic_message(&*payload);
            // A payload's own destructor may panic: not on the worker's stack.
            drop_quietly(payload);
            JoinError::Panicked(message)
        });
        self.finish(result);
    }

    fn fail(&self, message: &str) {
        let waiting = matches!(*self.lock(), State::Waiting { .. });
        if waiting {
            self.finish(Err(JoinError::Panicked(message.to_owned())));
        }
    }
}

impl<F, T> Outcome<T> for Job<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn poll_result(&self, waker: &Waker) -> Poll<Result<T, JoinError>> {
        let mut state = self.lock();
        let slot = match &mut *state {
            State::Waiting { waker: slot, .. } | State::Running { waker: slot } => slot,
            State::Done(_) | State::Taken | State::Abandoned => {
                return match std::mem::replace(&mut *state, State::Taken) {
                    State::Done(result) => Poll::Ready(result),
                    // `ToThread` stops polling once it has the result and abandons
                    // only in its destructor, so these cannot happen.
                    _ => Poll::Pending,
                };
            }
        };
        let old = match slot {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.replace(waker.clone()),
        };
        // The previous waker (maybe of another runtime) is dropped unlocked.
        drop(state);
        drop(old);
        Poll::Pending
    }

    fn abandon(&self) {
        let old = std::mem::replace(&mut *self.lock(), State::Abandoned);
        // The closure or result (and the waker) are dropped here, unlocked.
        drop(old);
    }
}
