//! Combinators given join handles cancel their tasks when they are cancelled
//! (dropped) or time out, as asyncio's `gather`, `wait_for` and `await task` do;
//! `shield_handle` and a borrowed `&mut handle` opt out.
//!
//! (`wait` and `as_completed` are covered in `combinators.rs` and
//! `combinators_gather.rs`; `wait_for` in `timeout.rs`.)

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::{gather_all, shield_handle, try_gather_all, wait_for, JoinError, JoinHandle};
use support::{sleep_until_cond, yield_until, Drops};

const HOUR: Duration = Duration::from_secs(3600);
const SHORT: Duration = Duration::from_millis(2);

/// Tasks that count their drops and their completions.
#[derive(Default)]
struct Tasks {
    drops: Drops,
    finished: Rc<Cell<usize>>,
}

impl Tasks {
    fn new() -> Tasks {
        Tasks::default()
    }

    /// A task that sleeps `duration`, then returns `Ok(value)`.
    fn after(&self, duration: Duration, value: u32) -> JoinHandle<Result<u32, &'static str>> {
        let token = self.drops.token();
        let finished = self.finished.clone();
        ringloop::spawn(async move {
            let _token = token;
            ringloop::sleep(duration).await;
            finished.set(finished.get() + 1);
            Ok(value)
        })
    }

    /// A task that would run for an hour.
    fn forever(&self) -> JoinHandle<Result<u32, &'static str>> {
        self.after(HOUR, 0)
    }

    /// `n` tasks were dropped (cancelled or finished) within a few turns.
    async fn assert_dropped(&self, n: usize, what: &str) {
        assert!(
            yield_until(10, || self.drops.count() == n).await,
            "{what}: {} of {n} tasks dropped",
            self.drops.count()
        );
    }
}

/// A task that returns `Err` after a turn.
fn failing() -> JoinHandle<Result<u32, &'static str>> {
    ringloop::spawn(async {
        ringloop::yield_now().await;
        Err("boom")
    })
}

/// Flattens a joined task's result, for `try_gather`.
async fn flat(handle: JoinHandle<Result<u32, &'static str>>) -> Result<u32, &'static str> {
    handle.await.map_err(|_| "join error")?
}

any_driver_test! {
    fn gather_cancels_its_tasks_when_dropped_or_timed_out(mode) {
        mode.run(async {
            let tasks = Tasks::new();
            // The window lets the short task finish first even in a VM under
            // emulation (20 ms scaled was not always enough there); the others
            // would run for an hour.
            let window = support::scaled(Duration::from_millis(300));
            let gathered = ringloop::gather!(tasks.after(SHORT, 1), tasks.forever(), tasks.forever());
            assert!(wait_for(window, gathered).await.is_err());
            tasks.assert_dropped(3, "gather! timed out").await;
            assert_eq!(tasks.finished.get(), 1);

            // Dropped before its first poll.
            let tasks = Tasks::new();
            let gathered = ringloop::gather!(tasks.forever(), tasks.forever());
            ringloop::yield_now().await;
            drop(gathered);
            tasks.assert_dropped(2, "gather! dropped unpolled").await;
            assert_eq!(tasks.finished.get(), 0);

            // The same through `gather_all`.
            let tasks = Tasks::new();
            let all = gather_all((0..10).map(|i| if i == 0 { tasks.after(SHORT, 1) } else { tasks.forever() }));
            assert!(wait_for(window, all).await.is_err());
            tasks.assert_dropped(10, "gather_all timed out").await;
            assert_eq!(tasks.finished.get(), 1);
        });
    }
}

any_driver_test! {
    fn try_gather_cancels_its_tasks_on_an_error_or_when_dropped(mode) {
        mode.run(async {
            let tasks = Tasks::new();
            let out = ringloop::try_gather!(flat(tasks.forever()), flat(failing()), flat(tasks.forever())).await;
            assert_eq!(out, Err("boom"));
            tasks.assert_dropped(2, "try_gather! failed").await;
            assert_eq!(tasks.finished.get(), 0);

            let tasks = Tasks::new();
            let out = try_gather_all((0..5).map(|i| if i == 2 { failing() } else { tasks.forever() }).map(flat)).await;
            assert_eq!(out, Err("boom"));
            tasks.assert_dropped(4, "try_gather_all failed").await;

            // Handles straight in (output `Result<_, JoinError>`), timed out.
            let tasks = Tasks::new();
            let handles = [tasks.forever(), tasks.forever()].map(|h| {
                ringloop::spawn(async move { h.await.map(|_| ()) })
            });
            let out = wait_for(SHORT, try_gather_all(handles)).await;
            assert!(out.is_err());
            tasks.assert_dropped(2, "try_gather_all timed out (nested)").await;
        });
    }
}

any_driver_test! {
    fn cancelling_a_task_that_awaits_a_handle_cancels_that_task_too(mode) {
        mode.run(async {
            // asyncio: cancelling `await task` cancels `task`.
            let tasks = Tasks::new();
            let inner = tasks.forever();
            let outer = ringloop::spawn(async move { inner.await });
            ringloop::yield_now().await;
            assert!(outer.cancel());
            assert_eq!(outer.await, Err(JoinError::Cancelled));
            tasks.assert_dropped(1, "the awaited task").await;

            // But a task that only holds a handle (not awaiting it) detaches it.
            let tasks = Tasks::new();
            let inner = tasks.after(Duration::from_millis(5), 1);
            let holder = ringloop::spawn(async move {
                let _inner = inner;
                ringloop::sleep(HOUR).await;
            });
            ringloop::yield_now().await;
            assert!(holder.cancel());
            assert!(sleep_until_cond(Duration::from_secs(5), || tasks.finished.get() == 1).await);
        });
    }
}

any_driver_test! {
    fn shield_handle_and_borrowed_handles_opt_out(mode) {
        mode.run(async {
            let tasks = Tasks::new();
            let slow = Duration::from_millis(30);
            let (shielded, cancelled, mut borrowed) = (tasks.after(slow, 1), tasks.forever(), tasks.after(slow, 3));
            let gathered = ringloop::gather!(shield_handle(shielded), cancelled, &mut borrowed);
            assert!(wait_for(SHORT, gathered).await.is_err());
            tasks.assert_dropped(1, "the unshielded task").await;
            assert!(sleep_until_cond(Duration::from_secs(5), || tasks.finished.get() == 2).await);
            assert_eq!(borrowed.await, Ok(Ok(3)));

            // A handle given by value whose task already finished: nothing to cancel,
            // and its output is dropped with the combinator.
            let tasks = Tasks::new();
            let quick = tasks.after(Duration::ZERO, 1);
            assert!(yield_until(10, || quick.is_finished()).await);
            drop(ringloop::gather!(quick));
            assert_eq!((tasks.drops.count(), tasks.finished.get()), (1, 1));
        });
    }
}
