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
//! A member cancelled through its own [`GroupTask::cancel`] ends *dismissed*: like
//! asyncio's `task.cancel()` on a member, that is neither a failure nor a reason to
//! cancel the siblings, and `join` leaves it out of the values.
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
    /// Running; what it shares with its [`GroupTask`]s (its handle, to cancel it).
    Running(Rc<MemberInfo>),
    /// Returned `Ok(value)`.
    Done(T),
    /// Returned an `Err` or panicked.
    Failed(TaskId, FailureCause<E>),
    /// Cancelled (by a sibling's failure, the group's drop, or the runtime's end).
    Cancelled,
    /// Cancelled through its own [`GroupTask::cancel`], asyncio's `task.cancel()` on
    /// a member: not a failure, and not a reason to fail the group.
    Dismissed,
}

/// What a task of the group shares with its [`GroupTask`]s: whether it finished, its
/// name, and its handle while it runs.
pub(super) struct MemberInfo {
    finished: Cell<bool>,
    /// [`GroupTask::cancel`] cancelled it.
    dismissed: Cell<bool>,
    /// The name given at spawn (the default one is derived from the id).
    name: Option<String>,
    /// The task's handle until its wrapper ends (`None` while it is being spawned,
    /// and after). A `Cell`, taken and put back, so that no borrow is ever held
    /// across a call into the task machinery.
    handle: Cell<Option<JoinHandle<()>>>,
}

impl MemberInfo {
    fn new(name: Option<String>) -> Rc<MemberInfo> {
        Rc::new(MemberInfo {
            finished: Cell::new(false),
            dismissed: Cell::new(false),
            name,
            handle: Cell::new(None),
        })
    }

    pub(super) fn is_finished(&self) -> bool {
        self.finished.get()
    }

    pub(super) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Cancels the task (see `JoinHandle::cancel`); `false` if it has finished.
    fn cancel_task(&self) -> bool {
        let handle = self.handle.take();
        let cancelled = handle.as_ref().is_some_and(JoinHandle::cancel);
        self.handle.set(handle);
        cancelled
    }

    /// [`GroupTask::cancel`]: cancels the task as its own decision, not the group's.
    pub(super) fn dismiss(&self) -> bool {
        let cancelled = self.cancel_task();
        if cancelled {
            self.dismissed.set(true);
        }
        cancelled
    }
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
    info: Rc<MemberInfo>,
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
        self.info.finished.set(true);
        // The task is ending: dropping its handle (after the report) only detaches it.
        let handle = self.info.handle.take();
        let outcome = match self.outcome.take() {
            Some(outcome) => outcome,
            None if self.info.dismissed.get() => Outcome::Dismissed,
            None => Outcome::Cancelled,
        };
        if let Some(group) = self.group.upgrade() {
            let id = handle.as_ref().map_or(TaskId::new(0), JoinHandle::id);
            group.member_done(self.index, id, outcome);
        }
        drop(handle);
    }
}

/// How a task of the group ended.
enum Outcome<T, E> {
    Done(T),
    Failed(FailureCause<E>),
    Cancelled,
    Dismissed,
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
pub(super) fn spawn_cancelled<F, T, E>(future: F, name: Option<String>) -> GroupTask
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    let info = MemberInfo::new(name);
    let member = Member {
        group: Weak::new(),
        index: 0,
        info: info.clone(),
        outcome: None,
    };
    let handle = spawn_member(future, member);
    if let Some(name) = info.name() {
        handle.set_name(name);
    }
    handle.cancel();
    GroupTask::new(handle.id(), None, info)
}

impl<T: 'static, E: 'static> Group<T, E> {
    /// Spawns `future` into the group, named `name` if given (see
    /// `TaskGroup::spawn`).
    #[track_caller]
    pub(super) fn spawn<F>(group: &Rc<Self>, future: F, name: Option<String>) -> GroupTask
    where
        F: Future<Output = Result<T, E>> + 'static,
    {
        let (index, failed, info) = {
            let mut state = group.state.borrow_mut();
            if state.closed {
                drop(state);
                return spawn_cancelled(future, name);
            }
            let info = MemberInfo::new(name);
            state.slots.push(Slot::Running(info.clone()));
            state.running += 1;
            (state.slots.len() - 1, state.failed, info)
        };
        let member = Member {
            group: Rc::downgrade(group),
            index,
            info: info.clone(),
            outcome: None,
        };
        // If this panics (no runtime), the member is dropped with the future and
        // marks the slot cancelled, undoing the `running += 1`.
        let handle = spawn_member(future, member);
        if let Some(name) = info.name() {
            handle.set_name(name);
        }
        if failed {
            handle.cancel();
        }
        let id = handle.id();
        // The task has not run yet (it starts at the next scheduling step), so its
        // wrapper is still there to take the handle back when it ends.
        info.handle.set(Some(handle));
        GroupTask::new(id, Some(index), info)
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
                if let Slot::Running(info) = slot {
                    info.cancel_task();
                }
            }
        }
    }

    /// `(tasks spawned, tasks running, failed)`, for `Debug`.
    pub(super) fn summary(&self) -> (usize, usize, bool) {
        let state = self.state.borrow();
        (state.slots.len(), state.running, state.failed)
    }

    /// Task `index` (id `id`) ended with `outcome`; a failure cancels the others.
    fn member_done(&self, index: usize, id: TaskId, outcome: Outcome<T, E>) {
        let (joiner, info) = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            state.running -= 1;
            let Some(slot) = state.slots.get_mut(index) else {
                // Closed by `join` meanwhile: nothing is tracked any more.
                return;
            };
            let failed = matches!(outcome, Outcome::Failed(_));
            let new = match outcome {
                Outcome::Done(value) => Slot::Done(value),
                Outcome::Failed(cause) => Slot::Failed(id, cause),
                Outcome::Cancelled => Slot::Cancelled,
                Outcome::Dismissed => Slot::Dismissed,
            };
            let info = std::mem::replace(slot, new);
            if failed && !state.failed {
                state.failed = true;
                for slot in &state.slots {
                    if let Slot::Running(sibling) = slot {
                        sibling.cancel_task();
                    }
                }
            }
            let joiner = if state.running == 0 {
                state.joiner.take()
            } else {
                None
            };
            (joiner, info)
        };
        // Outside the borrow: the last reference to a `MemberInfo` may hold a name.
        drop(info);
        if let Some(joiner) = joiner {
            joiner.wake();
        }
    }
}
