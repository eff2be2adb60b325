//! The state machine behind [`TaskGroup`](super::TaskGroup): the shared state, the
//! member guard each task carries, and spawning.
//!
//! Each task of the group runs its future inside a small wrapper holding a *member
//! guard*. When the wrapper ends — the future returned, panicked (the guard is
//! dropped while unwinding), or was cancelled (the guard is dropped with the
//! future) — the guard tells the group at once, from inside that task, so the first
//! failure cancels the siblings without waiting for anyone to call `join`:
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
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::task_group::GroupTask;
use crate::JoinHandle;

/// The shared part of a task group.
pub(super) struct Group<T, E> {
    state: RefCell<State<T, E>>,
}

struct State<T, E> {
    /// The handles of the group's tasks, in spawn order (taken by `join`).
    tasks: Vec<Option<JoinHandle<Result<T, E>>>>,
    /// Tasks whose wrapper has not ended.
    running: usize,
    /// A task failed: the others were cancelled.
    failed: bool,
    /// Joined or dropped: nothing more is tracked.
    closed: bool,
    /// The waker of `join`, waiting for `running == 0`.
    joiner: Option<Waker>,
}

/// Lives in a task's wrapper future and reports the task's end to the group.
struct Member<T, E> {
    group: Weak<Group<T, E>>,
    index: usize,
    /// The future returned an `Err`.
    failed: bool,
    finished: Rc<Cell<bool>>,
}

impl<T, E> Drop for Member<T, E> {
    fn drop(&mut self) {
        self.finished.set(true);
        // Dropped while unwinding: the future panicked.
        let failed = self.failed || std::thread::panicking();
        if let Some(group) = self.group.upgrade() {
            group.member_done(self.index, failed);
        }
    }
}

/// Spawns `future` in a wrapper holding `member`, which reports the end of the task.
#[track_caller]
fn spawn_member<F, T, E>(future: F, member: Member<T, E>) -> JoinHandle<F::Output>
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    crate::spawn(async move {
        let mut member = member;
        let output = future.await;
        member.failed = output.is_err();
        output
    })
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
        failed: false,
        finished: finished.clone(),
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
            state.tasks.push(None);
            state.running += 1;
            (state.tasks.len() - 1, state.failed)
        };
        let finished = Rc::new(Cell::new(false));
        let member = Member {
            group: Rc::downgrade(group),
            index,
            failed: false,
            finished: finished.clone(),
        };
        // If this panics (no runtime), the member is dropped with the future and
        // undoes the `running += 1`.
        let handle = spawn_member(future, member);
        if failed {
            handle.cancel();
        }
        let id = handle.id();
        group.state.borrow_mut().tasks[index] = Some(handle);
        GroupTask::new(id, Some(index), finished)
    }
}

impl<T, E> Group<T, E> {
    pub(super) fn new() -> Group<T, E> {
        Group {
            state: RefCell::new(State {
                tasks: Vec::new(),
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
        if !state
            .joiner
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.joiner = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Closes the group and takes the handles of its tasks, in spawn order.
    pub(super) fn close(&self) -> Vec<Option<JoinHandle<Result<T, E>>>> {
        let mut state = self.state.borrow_mut();
        state.closed = true;
        state.tasks.iter_mut().map(Option::take).collect()
    }

    /// The owner went away unjoined: closes the group and cancels every task.
    pub(super) fn abandon(&self) {
        let mut state = self.state.borrow_mut();
        if !state.closed {
            state.closed = true;
            for handle in state.tasks.iter().flatten() {
                handle.cancel();
            }
        }
    }

    /// `(tasks spawned, tasks running, failed)`, for `Debug`.
    pub(super) fn summary(&self) -> (usize, usize, bool) {
        let state = self.state.borrow();
        (state.tasks.len(), state.running, state.failed)
    }

    /// Task `index` ended; `failed` if it returned an `Err` or panicked.
    fn member_done(&self, index: usize, failed: bool) {
        let joiner = {
            let mut state = self.state.borrow_mut();
            state.running -= 1;
            if failed && !state.failed {
                state.failed = true;
                for (i, handle) in state.tasks.iter().enumerate() {
                    if let (true, Some(handle)) = (i != index, handle) {
                        handle.cancel();
                    }
                }
            }
            if state.running == 0 {
                state.joiner.take()
            } else {
                None
            }
        };
        if let Some(joiner) = joiner {
            joiner.wake();
        }
    }
}
