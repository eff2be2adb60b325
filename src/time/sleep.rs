//! [`sleep`], [`sleep_until`] and the [`Sleep`] future.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::heap::TimerKey;
use super::{TimerAction, Timers};

/// Waits until `duration` has passed, like `asyncio.sleep(seconds)`.
///
/// `sleep(Duration::ZERO)` still yields once to the other tasks, as
/// `asyncio.sleep(0)` does. Cancel-safe: dropping it removes its timer.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringloop::run(async {
///     let start = Instant::now();
///     ringloop::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        None => Sleep::forever(),
    }
}

/// Waits until `deadline`, like `loop.call_at`-based sleeping in asyncio.
///
/// A deadline in the past still yields once. Cancel-safe.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringloop::run(async {
///     let deadline = Instant::now() + Duration::from_millis(10);
///     ringloop::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Some(deadline),
        state: State::Idle,
    }
}

enum State {
    Idle,
    Registered(Rc<Timers>, TimerKey),
    /// A past deadline: yielded once already.
    Yielded,
    Done,
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// It registers its timer on first poll, on the runtime polling it; dropping it
/// cancels the timer.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    /// `None`: never (a duration too large for `Instant`).
    deadline: Option<Instant>,
    state: State,
}

impl Sleep {
    fn forever() -> Sleep {
        Sleep {
            deadline: None,
            state: State::Idle,
        }
    }

    /// When the sleep ends (`None` if it never does).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the deadline has been reached and the sleep has returned `Ready`.
    pub fn is_elapsed(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Moves the deadline; the sleep can be awaited again even if it had completed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// ringloop::run(async {
    ///     let mut sleep = ringloop::sleep(Duration::from_secs(3600));
    ///     sleep.reset(Instant::now() + Duration::from_millis(5));
    ///     (&mut sleep).await;
    ///     assert!(sleep.is_elapsed());
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = Some(deadline);
        self.state = State::Idle;
    }

    fn cancel(&mut self) {
        if let State::Registered(timers, key) = std::mem::replace(&mut self.state, State::Done) {
            let action = timers.heap().cancel(key);
            drop(action);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match &this.state {
            State::Done => return Poll::Ready(()),
            State::Yielded => {
                this.state = State::Done;
                return Poll::Ready(());
            }
            // Registered on a runtime that is not the one polling now (it shut down,
            // or the sleep moved to another runtime of this thread): that heap will
            // never fire for this task, so register again below, on this runtime.
            State::Registered(timers, _) if !timers.is_current() => {
                this.cancel();
                this.state = State::Idle;
            }
            State::Registered(timers, key) => {
                let mut heap = timers.heap();
                return match heap.get_mut(*key) {
                    Some(TimerAction::Wake(waker)) => {
                        if !waker.will_wake(cx.waker()) {
                            *waker = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    Some(TimerAction::Call(_)) => unreachable!("a sleep's timer is a waker"),
                    None => {
                        drop(heap);
                        this.state = State::Done;
                        Poll::Ready(())
                    }
                };
            }
            State::Idle => {}
        }
        let Some(timers) = Timers::current() else {
            panic!("ringloop::sleep polled outside of a ringloop runtime");
        };
        let Some(deadline) = this.deadline else {
            // Never: park without a timer.
            return Poll::Pending;
        };
        if deadline <= Instant::now() {
            this.state = State::Yielded;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let ticks = timers.ticks(deadline);
        let key = timers
            .heap()
            .insert(ticks, TimerAction::Wake(cx.waker().clone()));
        this.state = State::Registered(timers, key);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}
