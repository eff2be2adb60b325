//! The state machine behind [`TaskGroup`](super::TaskGroup): the shared state, the
//! member guard each task carries, and spawning.
//!
//! Each task of the group runs its future inside a small wrapper holding a *member
//! guard*. When the wrapper ends — the future returned, panicked (the wrapper
//! catches the panic and keeps its message), or was cancelled (the guard is dropped
//! with the future) — the guard tells the group at once, from inside that task, so
//! the first failure cancels the siblings without waiting for anyone to call
//! `join`. The group then keeps only the task's outcome ([`Slot`]) and drops its
//! handle:
//!
//! ```text
//!                  spawn                 first Err / panic            join saw running == 0
//!   (new) ── Open ───────▶ Open ─────────────────────────▶ Failed ───────────────────────▶ Closed
//!              │  (running += 1)   (cancel every sibling;     │  (spawn: task cancelled
//!              │                    join still waits for      │   at once, still awaited)
//!              │                    them to be dropped)       │
//!              └────────────── join saw running == 0 ─────────┴──▶ Closed ◀── TaskGroup dropped
//!                                                                   (spawn: task cancelled at
//!                                                                    once and not tracked)
//! ```
//!
//! The state lives in an `Rc` owned by the [`TaskGroup`](super::TaskGroup); member
//! guards and [`TaskGroupHandle`](super::TaskGroupHandle)s hold weak references, so
//! a running task never keeps a dropped group alive. No borrow is held while waking
//! `join` or spawning; cancelling a sibling under the borrow only flags it and
//! queues it (no user code runs).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::group_error::FailureCause;
use super::task_group::GroupTask;
use crate::{JoinHandle, TaskId};

/// The shared part of a task group.
pub(super) struct Group<T, E> {
    state: RefCell<State<T, E>>,
}

/// One task of the group, in spawn order. A finished task keeps only its outcome:
/// its handle (and so its task cell) is let go as soon as it ends, so a long-lived
/// group that keeps spawning holds one small slot per task, not one task each.
pub(super) enum Slot<T, E> {
    /// Running; its handle, to cancel it (`None` only while it is being spawned).
    Running(Option<JoinHandle<()>>),
    /// Returned `Ok(value)`.
    Done(T),
    /// Returned an `Err` or panicked.
    Failed(TaskId, FailureCause<E>),
    /// Cancelled (by a sibling's failure, the group's drop, or the runtime's end).
    Cancelled,
}

struct State<T, E> {
    /// The group's tasks, in spawn order (taken by `join`).
    slots: Vec<Slot<T, E>>,
    /// Tasks whose wrapper has not ended.
    running: usize,
    /// A task failed: the others were cancelled.
    failed: bool,
    /// Joined or dropped: nothing more is tracked.
    closed: bool,
    /// The waker of `join`, waiting for `running == 0`.
    joiner: Option<Waker>,
}

/// Lives in a task's wrapper future and reports the task's end to the group when it
/// is dropped: with the outcome [`finish`](Member::finish) recorded, or as
/// cancelled when the wrapper was dropped before its future ended.
struct Member<T, E> {
    group: Weak<Group<T, E>>,
    index: usize,
    finished: Rc<Cell<bool>>,
    outcome: Option<Outcome<T, E>>,
}

impl<T, E> Member<T, E> {
    /// The task's future ended with `outcome` (`Err(message)`: it panicked).
    fn finish(mut self, outcome: Result<Result<T, E>, String>) {
        self.outcome = Some(match outcome {
            Ok(Ok(value)) => Outcome::Done(value),
            Ok(Err(error)) => Outcome::Failed(FailureCause::Error(error)),
            Err(message) => Outcome::Failed(FailureCause::Panicked(message)),
        });
    }
}

impl<T, E> Drop for Member<T, E> {
    fn drop(&mut self) {
        self.finished.set(true);
        let outcome = self.outcome.take().unwrap_or(Outcome::Cancelled);
        if let Some(group) = self.group.upgrade() {
            group.member_done(self.index, outcome);
        }
    }
}

/// How a task of the group ended.
enum Outcome<T, E> {
    Done(T),
    Failed(FailureCause<E>),
    Cancelled,
}

/// Spawns `future` in a wrapper holding `member`, which reports the end of the task
/// (its value, error or panic) to the group from inside the task.
#[track_caller]
fn spawn_member<F, T, E>(future: F, member: Member<T, E>) -> JoinHandle<()>
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    crate::spawn(async move {
        let member = member;
        let mut future = pin!(Some(future));
        // A panic is caught here, not by the task cell, so that its message reaches
        // the group now (the first failure cancels the siblings at once).
        let outcome = std::future::poll_fn(|cx| {
            let poll = || match future.as_mut().as_pin_mut() {
                Some(future) => future.poll(cx),
                None => unreachable!("polled after it ended"),
            };
            match panic::catch_unwind(AssertUnwindSafe(poll)) {
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(message_of(payload))),
            }
        })
        .await;
        // The future is dropped before the outcome is reported: a panic in its
        // destructor is the task's failure, not something found after `join`.
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| future.set(None)));
        let outcome = match (dropped.err().map(message_of), outcome) {
            (Some(message), Ok(_)) => Err(message),
            (_, outcome) => outcome,
        };
        member.finish(outcome);
    })
}

/// Drops `value`, ignoring a panic of its destructor.
fn drop_quietly<V>(value: V) {
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// The message of a caught panic (the payload is dropped quietly).
fn message_of(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = crate::task::panic_message(&*payload);
    drop_quietly(payload);
    message
}

/// A task of a closed group: spawned and cancelled at once, tracked by no one.
#[track_caller]
pub(super) fn spawn_cancelled<F, T, E>(future: F) -> GroupTask
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    let finished = Rc::new(Cell::new(false));
    let member = Member {
        group: Weak::new(),
        index: 0,
        finished: finished.clone(),
        outcome: None,
    };
    let handle = spawn_member(future, member);
    handle.cancel();
    GroupTask::new(handle.id(), None, finished)
}

impl<T: 'static, E: 'static> Group<T, E> {
    /// Spawns `future` into the group (see `TaskGroup::spawn`).
    #[track_caller]
    pub(super) fn spawn<F>(group: &Rc<Self>, future: F) -> GroupTask
    where
        F: Future<Output = Result<T, E>> + 'static,
    {
        let (index, failed) = {
            let mut state = group.state.borrow_mut();
            if state.closed {
                drop(state);
                return spawn_cancelled(future);
            }
            state.slots.push(Slot::Running(None));
            state.running += 1;
            (state.slots.len() - 1, state.failed)
        };
        let finished = Rc::new(Cell::new(false));
        let member = Member {
            group: Rc::downgrade(group),
            index,
            finished: finished.clone(),
            outcome: None,
        };
        // If this panics (no runtime), the member is dropped with the future and
        // marks the slot cancelled, undoing the `running += 1`.
        let handle = spawn_member(future, member);
        if failed {
            handle.cancel();
        }
        let id = handle.id();
        let mut state = group.state.borrow_mut();
        if let Slot::Running(slot) = &mut state.slots[index] {
            *slot = Some(handle);
        }
        GroupTask::new(id, Some(index), finished)
    }
}

impl<T, E> Group<T, E> {
    pub(super) fn new() -> Group<T, E> {
        Group {
            state: RefCell::new(State {
                slots: Vec::new(),
                running: 0,
                failed: false,
                closed: false,
                joiner: None,
            }),
        }
    }

    /// `Ready` once no task of the group is running; otherwise `cx` is woken when
    /// that happens.
    pub(super) fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.running == 0 {
            return Poll::Ready(());
        }
        if state
            .joiner
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let old = state.joiner.take();
        drop(state);
        // Cloned and dropped outside the borrow: a foreign waker may run code that
        // ends a task of this group.
        let new = cx.waker().clone();
        drop(old);
        let mut state = self.state.borrow_mut();
        if state.running == 0 {
            return Poll::Ready(());
        }
        state.joiner = Some(new);
        Poll::Pending
    }

    /// Closes the group and takes the outcomes of its tasks, in spawn order.
    pub(super) fn close(&self) -> Vec<Slot<T, E>> {
        let mut state = self.state.borrow_mut();
        state.closed = true;
        std::mem::take(&mut state.slots)
    }

    /// The owner went away unjoined: closes the group and cancels every task.
    pub(super) fn abandon(&self) {
        let mut state = self.state.borrow_mut();
        if !state.closed {
            state.closed = true;
            for slot in &state.slots {
                if let Slot::Running(Some(handle)) = slot {
                    handle.cancel();
                }
            }
        }
    }

    /// `(tasks spawned, tasks running, failed)`, for `Debug`.
    pub(super) fn summary(&self) -> (usize, usize, bool) {
        let state = self.state.borrow();
        (state.slots.len(), state.running, state.failed)
    }

    /// Task `index` ended with `outcome`; a failure cancels the others.
    fn member_done(&self, index: usize, outcome: Outcome<T, E>) {
        let (joiner, handle) = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            state.running -= 1;
            let Some(slot) = state.slots.get_mut(index) else {
                // Closed by `join` meanwhile: nothing is tracked any more.
                return;
            };
            let handle = match std::mem::replace(slot, Slot::Cancelled) {
                Slot::Running(handle) => handle,
                _ => None,
            };
            let failed = matches!(outcome, Outcome::Failed(_));
            *slot = match outcome {
                Outcome::Done(value) => Slot::Done(value),
                Outcome::Failed(cause) => {
                    let id = handle.as_ref().map_or(TaskId::new(0), JoinHandle::id);
                    Slot::Failed(id, cause)
                }
                Outcome::Cancelled => Slot::Cancelled,
            };
            if failed && !state.failed {
                state.failed = true;
                for slot in &state.slots {
                    if let Slot::Running(Some(sibling)) = slot {
                        sibling.cancel();
                    }
                }
            }
            let joiner = if state.running == 0 {
                state.joiner.take()
            } else {
                None
            };
            (joiner, handle)
        };
        // The task is ending: dropping its handle only detaches it.
        drop(handle);
        if let Some(joiner) = joiner {
            joiner.wake();
        }
    }
}
