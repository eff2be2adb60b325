//! The loop: `block_on` and one turn of it.
//!
//! ```text
//! loop {
//!     poll the main future if it was woken          (return when it is ready)
//!     run up to EVENT_INTERVAL ready tasks          (bounded: I/O is never starved)
//!     run the call_soon callbacks queued so far
//!     schedule tasks woken from other threads
//!     driver turn: submit queued ops, reap completions; wait there, in the same
//!                  syscall, for a completion or the next timer if nothing is ready
//!     fire expired timers
//!     queue the tasks that woke themselves this turn (yield_now, a spent op
//!                  budget) behind the ones the driver and the timers woke
//! }
//! ```

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{context, metrics, Core};
use crate::task;
use crate::time::{Callback, TimerAction};

/// Tasks polled between two looks at the driver and the timers.
const EVENT_INTERVAL: usize = 61;

impl Core {
    /// Runs the loop until `future` completes.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _enter = context::enter(self.clone());
        let _main = MainTask::enter(self);
        // The cached clock may be from the last `block_on`, or from construction.
        self.timers.invalidate_now();
        let waker = self.main_waker();
        let mut cx = Context::from_waker(&waker);
        // Boxed so that it can be dropped before returning (below).
        let mut future = Box::pin(future);
        self.shared.inbox().set_main_woken();
        loop {
            if self.shared.inbox().take_main_woken() {
                self.driver.reset_op_budget();
                self.set_main_running(true);
                let poll = match self.slow_poll {
                    None => future.as_mut().poll(&mut cx),
                    Some(threshold) => self.poll_main_timed(future.as_mut(), &mut cx, threshold),
                };
                self.set_main_running(false);
                self.counters.polled(1);
                if let Poll::Ready(output) = poll {
                    // What the future still owned is released here, and entries
                    // queued in this last turn (closes, cancellations) go to the
                    // kernel now: the loop may not run again for a long time.
                    drop(future);
                    self.driver.submit_pending();
                    return output;
                }
            }
            self.turn();
        }
    }

    /// A poll of the main future, timed for the slow-poll warning.
    fn poll_main_timed<F: Future>(
        &self,
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
        threshold: Duration,
    ) -> Poll<F::Output> {
        let start = Instant::now();
        let poll = future.poll(cx);
        let took = start.elapsed();
        if took >= threshold {
            self.counters.slow_poll();
            if let Some(info) = self.current_task_info() {
                metrics::report_slow_poll(&info.name, info.id, took);
            }
        }
        poll
    }

    /// One turn of the loop (everything but the main future).
    fn turn(&self) {
        self.counters.turned();
        self.run_ready(EVENT_INTERVAL);
        self.run_callbacks();
        self.drain_remote();
        let busy = self.has_ready_tasks() || !self.timers.soon().is_empty();
        self.turn_driver(busy);
        self.fire_timers();
        self.schedule_deferred();
    }

    /// Runs the callbacks queued before this call (ones they queue wait a turn, as in
    /// asyncio). A panicking callback is reported and the loop goes on.
    fn run_callbacks(&self) {
        let n = self.timers.soon().len();
        for _ in 0..n {
            let Some(callback) = self.timers.soon().pop_front() else {
                break;
            };
            let Callback { f, cancelled } = callback;
            if !cancelled.get() {
                run_callback(f);
            }
        }
    }

    /// Submits and reaps; waits (in the same syscall) unless `busy` or woken.
    fn turn_driver(&self, busy: bool) {
        let timeout = if busy {
            Some(Duration::ZERO)
        } else {
            self.next_timer_timeout()
        };
        let wait = timeout != Some(Duration::ZERO);
        // A wake from another thread that came first makes the wait a poll.
        let parked = wait && self.shared.inbox().park();
        let timeout = if wait && !parked {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        // The start of a wait, for the metrics: the loop clock, fresh when a
        // timer set the timeout (`next_timer_timeout`), else a clock read; never
        // read in a turn that does not wait.
        let parked_at = match (parked, timeout) {
            (false, _) => None,
            (true, Some(_)) => Some(self.timers.now()),
            (true, None) => Some(Instant::now()),
        };
        let mut woken = self.woken_buf.take();
        let result = self.driver.turn(timeout, &mut woken);
        if wait {
            self.shared.inbox().unparked();
        }
        self.redeliver_failed_wakes();
        if let Some(from) = parked_at {
            // Not cached as the loop clock: the clock is read again when the turn
            // first needs it, as before (a sleep starts from its own call).
            self.counters.parked(from, Instant::now());
        }
        self.timers.invalidate_now();
        for waker in woken.drain(..) {
            waker.wake();
        }
        self.woken_buf.replace(woken);
        if let Err(e) = result {
            // Retries cover EINTR/EAGAIN/EBUSY; anything else means the ring itself is
            // broken (bad fd, bad memory), which no amount of retrying repairs.
            panic!("ringloop: the I/O driver failed: {e}");
        }
    }

    /// How long the loop may wait for the next timer (`None`: no timer).
    fn next_timer_timeout(&self) -> Option<Duration> {
        let deadline = self.timers.heap().next_deadline()?;
        let now = self.timers.ticks(self.timers.update_now());
        Some(Duration::from_nanos(deadline.saturating_sub(now)))
    }

    /// Wakes the sleepers and runs the callbacks whose deadline has passed.
    fn fire_timers(&self) {
        if self.timers.heap().is_empty() {
            return;
        }
        let now = self.timers.ticks(self.timers.now());
        loop {
            let Some(action) = self.timers.heap().pop_expired(now) else {
                break;
            };
            match action {
                TimerAction::Wake(waker) => waker.wake(),
                TimerAction::Call(f) => run_callback(f),
            }
        }
    }
}

/// The future given to `block_on` is the main task while `block_on` runs (see
/// `Core::enter_main`); this ends it however `block_on` ends, panics included.
struct MainTask<'a> {
    core: &'a Core,
}

impl<'a> MainTask<'a> {
    fn enter(core: &'a Core) -> MainTask<'a> {
        core.enter_main();
        core.counters.enter();
        MainTask { core }
    }
}

impl Drop for MainTask<'_> {
    fn drop(&mut self) {
        self.core.counters.leave();
        self.core.leave_main();
    }
}

pub(super) fn run_callback(f: Box<dyn FnOnce()>) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        eprintln!(
            "ringloop: Exception in callback: {}",
            task::panic_message(&*payload)
        );
    }
}
