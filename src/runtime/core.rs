//! The per-thread executor state: task registry, ready queue, timer heap, callback
//! queue and driver. One `Core` per runtime; no locks, no atomics on the local paths.
//!
//! The loop itself is in `event_loop.rs`; shutdown is at the end of this file.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Waker;

use slab::Slab;

use super::calls::Remote;
use super::metrics::{self, Counters, Gauges, RuntimeMetrics};
use super::shared::SharedSlot;
use super::{context, Config, Shared};
use crate::driver::Handle;
use crate::task::{self, JoinHandle, RawTask, RemoteTask, Schedule, TaskId, TaskInfo, TaskState};
use crate::time::Timers;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Running,
    /// Shutdown is cancelling tasks; new tasks still get registered (and cancelled).
    Closing,
    /// Shut down: new tasks are cancelled on the spot.
    Closed,
}

pub(crate) struct Core {
    /// This runtime's slot for cross-thread wakes (see `shared.rs`).
    slot: SharedSlot,
    pub(crate) shared: &'static Shared,
    /// Every task that has not completed; each entry holds a local reference.
    tasks: RefCell<Slab<RawTask>>,
    /// Tasks to poll, in wake order; each entry holds a local reference.
    ready: RefCell<VecDeque<RawTask>>,
    /// Tasks that woke themselves while being polled (`yield_now`, a spent op
    /// budget): they join `ready` after the next driver turn and timer check, so
    /// that a task that keeps yielding cannot hold the timers and I/O back.
    deferred: RefCell<Vec<RawTask>>,
    /// The task being polled.
    current: Cell<Option<RawTask>>,
    /// The id of the main task (the future given to `block_on`) while `block_on` runs.
    main_task: Cell<Option<TaskId>>,
    /// The main future is being polled.
    main_running: Cell<bool>,
    next_task_id: Cell<u64>,
    /// The timers and the `call_soon` queue, made current while the runtime runs.
    pub(crate) timers: Rc<Timers>,
    /// The I/O driver, made current while the runtime runs.
    pub(crate) driver: Handle,
    state: Cell<State>,
    /// Wakes of other runtimes' parked loops from this thread go through this
    /// runtime's ring (`MSG_RING`) where they can (see `shared.rs`).
    msg_ring: bool,
    /// Reused buffers for the remote queue and for driver wake-ups.
    pub(crate) remote_buf: RefCell<Vec<Remote>>,
    pub(crate) woken_buf: RefCell<Vec<Waker>>,
    /// The runtime's counters (`metrics.rs`).
    pub(crate) counters: Counters,
    /// Polls at least this long are reported (`Builder::slow_poll_threshold`);
    /// `None`: polls are not timed.
    pub(crate) slow_poll: Option<std::time::Duration>,
    /// Each task's span, by registry key, made at its first poll.
    #[cfg(feature = "tracing")]
    spans: RefCell<Vec<Option<tracing::Span>>>,
}

impl Core {
    pub(crate) fn new(config: &Config) -> io::Result<Core> {
        let slot = SharedSlot::acquire(config.call_capacity)?;
        let shared = slot.shared();
        let driver = Handle::new(
            config.driver,
            config.kernel_compat,
            config.entries,
            shared.unpark_fd(),
            offload,
        )?;
        // Decided by what the probe reports (never under the 5.10 mask, nor on
        // epoll), then by the option; the same answer for sending and receiving.
        let msg_ring = config.msg_ring && driver.features().msg_ring;
        if msg_ring {
            if let Some(fd) = driver.ring_fd() {
                slot.publish_ring_fd(fd);
            }
        }
        Ok(Core {
            slot,
            shared,
            tasks: RefCell::new(Slab::new()),
            ready: RefCell::new(VecDeque::new()),
            deferred: RefCell::new(Vec::new()),
            current: Cell::new(None),
            main_task: Cell::new(None),
            main_running: Cell::new(false),
            next_task_id: Cell::new(1),
            timers: Timers::new(),
            driver,
            state: Cell::new(State::Running),
            msg_ring,
            remote_buf: RefCell::new(Vec::new()),
            woken_buf: RefCell::new(Vec::new()),
            counters: Counters::default(),
            slow_poll: config.slow_poll,
            #[cfg(feature = "tracing")]
            spans: RefCell::new(Vec::new()),
        })
    }

    /// This runtime's id, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.slot.id()
    }

    /// The handle other threads use to call into this runtime.
    pub(crate) fn handle(&self) -> super::LoopHandle {
        super::LoopHandle::new(self.shared, self.id())
    }

    /// The waker of the future given to `block_on`.
    pub(crate) fn main_waker(&self) -> Waker {
        self.slot.main_waker()
    }

    /// Ends the wait of another runtime's parked loop, whose ring is `target_fd`
    /// and whose slot's token is `token`, with a `MSG_RING` from this runtime's
    /// ring; `false` if this runtime does not send them or could not now (the
    /// caller writes the eventfd instead).
    pub(crate) fn msg_ring_wake(&self, target_fd: RawFd, token: u64) -> bool {
        self.msg_ring && self.driver.msg_ring_wake(target_fd, token)
    }

    /// Writes the eventfd of the targets of the `MSG_RING` wakes the kernel failed
    /// (rare: no memory, say), so that no wake is lost.
    pub(crate) fn redeliver_failed_wakes(&self) {
        if !self.msg_ring {
            return;
        }
        let mut failed = Vec::new();
        self.driver.take_failed_wakes(&mut failed);
        for token in failed {
            // A slot that changed hands since gets a spurious wake at most.
            if let Some(target) = Shared::from_token(token) {
                target.signal_eventfd();
            }
        }
    }

    /// A snapshot of the runtime's and the driver's counters.
    pub(crate) fn metrics(&self) -> RuntimeMetrics {
        let gauges = Gauges {
            tasks_alive: self.tasks.borrow().len(),
            ready_queue_depth: self.ready.borrow().len() + self.deferred.borrow().len(),
            timers_pending: self.timers.heap().len(),
            callbacks_pending: self.timers.soon().len(),
            slow_poll_threshold: self.slow_poll,
        };
        RuntimeMetrics::new(&self.counters, gauges, self.driver.metrics())
    }

    // ----- tasks -----------------------------------------------------------------

    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        let id = self.new_task_id();
        let raw = task::new_task(future, id, self.slot.id(), self.shared);
        if self.state.get() == State::Closed {
            // The runtime is gone: the task is born cancelled.
            raw.cancel_now();
            raw.finish();
            raw.release_local();
            return JoinHandle::new(raw);
        }
        let key = self.tasks.borrow_mut().insert(raw);
        raw.set_registry_key(key);
        self.counters.spawned();
        self.schedule(raw);
        JoinHandle::new(raw)
    }

    /// A fresh task id (ids are never reused within a runtime).
    fn new_task_id(&self) -> TaskId {
        let id = TaskId::new(self.next_task_id.get());
        self.next_task_id.set(id.as_u64() + 1);
        id
    }

    /// Puts a task of this runtime on the ready queue (no-op if queued or complete);
    /// a task woken by its own poll waits for the next turn (see `deferred`).
    pub(crate) fn schedule(&self, task: RawTask) {
        if task.schedule_local() {
            if self.current.get() == Some(task) {
                self.deferred.borrow_mut().push(task);
            } else {
                self.ready.borrow_mut().push_back(task);
            }
        }
    }

    /// Moves the tasks that woke themselves during the last turn to the ready
    /// queue, behind the ones woken since (by I/O or a timer).
    pub(crate) fn schedule_deferred(&self) {
        let mut deferred = self.deferred.borrow_mut();
        if !deferred.is_empty() {
            self.ready.borrow_mut().extend(deferred.drain(..));
        }
    }

    /// Whether tasks wait to run: ready now, or after the coming driver turn.
    pub(crate) fn has_ready_tasks(&self) -> bool {
        !self.ready.borrow().is_empty() || !self.deferred.borrow().is_empty()
    }

    /// Polls up to `budget` ready tasks; returns how many ran. Polls are timed
    /// only when the slow-poll warning is on (the loop is chosen once per
    /// turn): otherwise no clock is read.
    pub(crate) fn run_ready(&self, budget: usize) -> usize {
        let ran = match self.slow_poll {
            None => self.run_ready_untimed(budget),
            Some(threshold) => self.run_ready_timed(budget, threshold),
        };
        self.counters.polled(ran);
        ran
    }

    /// The loop without the slow-poll warning.
    #[inline]
    fn run_ready_untimed(&self, budget: usize) -> usize {
        for n in 0..budget {
            let Some(task) = self.ready.borrow_mut().pop_front() else {
                return n;
            };
            self.current.set(Some(task));
            // A task that spends its budget wakes itself, and runs again only after
            // the next driver turn and timer check (see `schedule`).
            self.driver.reset_op_budget();
            #[cfg(feature = "tracing")]
            let completed = self.task_span(task).in_scope(|| task.run());
            #[cfg(not(feature = "tracing"))]
            let completed = task.run();
            self.current.set(None);
            if completed {
                self.complete(task);
            }
            task.release_local();
        }
        budget
    }

    /// The same loop, timing each poll (the slow-poll warning is on); out of
    /// line, so that the loop above stays as it was without the warning.
    #[inline(never)]
    fn run_ready_timed(&self, budget: usize, threshold: std::time::Duration) -> usize {
        for n in 0..budget {
            let Some(task) = self.ready.borrow_mut().pop_front() else {
                return n;
            };
            self.current.set(Some(task));
            self.driver.reset_op_budget();
            #[cfg(feature = "tracing")]
            let completed = self
                .task_span(task)
                .in_scope(|| metrics::run_timed(&self.counters, task, threshold));
            #[cfg(not(feature = "tracing"))]
            let completed = metrics::run_timed(&self.counters, task, threshold);
            self.current.set(None);
            if completed {
                self.complete(task);
            }
            task.release_local();
        }
        budget
    }

    /// The span of `task`, made at its first poll (so that a name given right
    /// after `spawn` is in it) and kept until it completes.
    #[cfg(feature = "tracing")]
    fn task_span(&self, task: RawTask) -> tracing::Span {
        let key = task.registry_key();
        let mut spans = self.spans.borrow_mut();
        if spans.len() <= key {
            spans.resize(key + 1, None);
        }
        spans[key]
            .get_or_insert_with(|| {
                tracing::info_span!("task", task.name = %task.name(), task.id = task.id().as_u64())
            })
            .clone()
    }

    /// A task completed: unregister it and hand its output on. Inlined into
    /// the loops of `run_ready` (with two callers the compiler moved it out of
    /// line: a call per completed task that the loop did not have before).
    #[inline(always)]
    fn complete(&self, task: RawTask) {
        self.tasks.borrow_mut().remove(task.registry_key());
        #[cfg(feature = "tracing")]
        if let Some(span) = self.spans.borrow_mut().get_mut(task.registry_key()) {
            *span = None;
        }
        task.finish();
        task.release_local();
    }

    /// The tasks that have not completed.
    pub(crate) fn tasks(&self) -> Vec<RawTask> {
        self.tasks.borrow().iter().map(|(_, t)| *t).collect()
    }

    // ----- the main task and introspection -----------------------------------------

    /// `block_on` starts: its future is the main task, with a fresh id (asyncio's
    /// `run` wraps `main()` in a task, `Task-1` when it is the first).
    pub(crate) fn enter_main(&self) {
        let id = self.new_task_id();
        self.main_task.set(Some(id));
        self.main_running.set(false);
    }

    /// `block_on` returns (or unwinds): no main task any more.
    pub(crate) fn leave_main(&self) {
        self.main_task.set(None);
        self.main_running.set(false);
    }

    /// The main future is being polled (`true`) or not.
    pub(crate) fn set_main_running(&self, running: bool) {
        self.main_running.set(running);
    }

    /// The task being polled: a spawned task, or the main task while its future is
    /// polled (not while a callback or the driver runs).
    pub(crate) fn current_task_info(&self) -> Option<TaskInfo> {
        if let Some(task) = self.current.get() {
            return Some(TaskInfo::of(task));
        }
        match self.main_task.get() {
            Some(id) if self.main_running.get() => Some(TaskInfo::main(id, TaskState::Running)),
            _ => None,
        }
    }

    /// Every task that has not completed, the main task first.
    pub(crate) fn task_infos(&self) -> Vec<TaskInfo> {
        let tasks = self.tasks.borrow();
        let mut infos = Vec::with_capacity(tasks.len() + 1);
        if let Some(id) = self.main_task.get() {
            let state = if self.main_running.get() {
                TaskState::Running
            } else if self.shared.inbox().is_main_woken() {
                TaskState::Scheduled
            } else {
                TaskState::Waiting
            };
            infos.push(TaskInfo::main(id, state));
        }
        infos.extend(tasks.iter().map(|(_, t)| TaskInfo::of(*t)));
        infos
    }

    /// Schedules the tasks woken from other threads and runs the calls queued
    /// from them (`calls.rs`).
    pub(crate) fn drain_remote(&self) {
        if !self.shared.inbox().has_pending() {
            return;
        }
        let mut buf = self.remote_buf.take();
        self.shared.inbox().take(&mut buf);
        for remote in buf.drain(..) {
            match remote {
                Remote::Wake(task) => {
                    self.counters.remote_wake();
                    task.schedule_with(|raw| self.schedule(raw))
                }
                // Its permit goes when it has run (`calls.rs`).
                Remote::Call(call) => {
                    self.counters.remote_call();
                    super::event_loop::run_callback(call)
                }
            }
        }
        self.remote_buf.replace(buf);
    }

    // ----- shutdown --------------------------------------------------------------

    /// Cancels every task, drops every timer and callback, then cancels and completes
    /// every operation in flight and closes the driver (ARCHITECTURE.md, decision 9). After
    /// this, wakes are no-ops and new tasks are born cancelled.
    pub(crate) fn shutdown(self: &Rc<Self>) {
        if self.state.get() != State::Running {
            return;
        }
        self.state.set(State::Closing);
        let _enter = context::enter_for_shutdown(self.clone());

        // Dropping a future may wake, spawn or cancel other tasks: repeat until no
        // task is left. Each round drops at least one future, unless futures keep
        // spawning new ones from their destructors forever.
        loop {
            let tasks = self.tasks();
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                if task.is_complete() || task.is_running() {
                    continue;
                }
                if task.cancel_now() {
                    self.complete(task);
                }
            }
        }
        self.state.set(State::Closed);

        self.schedule_deferred();
        loop {
            let Some(task) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            task.release_local();
        }
        // Calls queued from other threads carry user closures: a destructor of
        // theirs may panic, and must not cut the shutdown short.
        drop_catching(self.slot.close(), "a call from another thread");
        let timers = self.timers.heap().drain();
        drop_catching(timers, "a timer");
        let callbacks: Vec<_> = self.timers.soon().drain(..).collect();
        drop_catching(callbacks, "a callback");

        let mut woken = Vec::new();
        self.driver.shutdown(&mut woken);
        // Futures of operations that outlived their tasks learn that the runtime is
        // gone when polled.
        for waker in woken {
            waker.wake();
        }
    }
}

/// How the tasks of the slot's runtime are scheduled when woken: on the runtime's
/// own thread while it runs, straight onto its ready queue; anywhere else (another
/// thread, or this one outside the runtime) through the remote queue, a no-op once
/// that runtime is gone.
impl Schedule for Shared {
    #[inline]
    fn schedule(&'static self, owner: u64, task: RawTask) {
        let local = context::with_core_of(owner, |core| core.schedule(task));
        if local.is_none() {
            self.push_remote(owner, RemoteTask::new(task));
        }
    }
}

/// The driver's way to the blocking pool (`driver/op/blocking.rs`): `to_thread`.
fn offload(job: Box<dyn FnOnce() + Send>) -> Pin<Box<dyn Future<Output = io::Result<()>>>> {
    Box::pin(async move { crate::to_thread(job).await.map_err(io::Error::other) })
}

/// Drops `value`, reporting (not propagating) a panic from a destructor, since
/// shutdown may already be unwinding.
fn drop_catching<T>(value: T, what: &str) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        eprintln!(
            "ringloop: {what} panicked while being dropped at shutdown: {}",
            task::panic_message(&*payload)
        );
    }
}
