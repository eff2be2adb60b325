//! Timer churn: 100,000 timers created and cancelled (sleeps polled once and dropped,
//! `wait_for` around futures that finish first, `call_later` handles cancelled)
//! finish quickly, release what they captured, and leave a working runtime whose
//! timers still fire on time; thousands of live timers, two thirds of them cancelled,
//! fire in deadline order.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use support::{sleep_until_cond, Drops};

const N: usize = 100_000;
const HOUR: Duration = Duration::from_secs(3600);
/// The whole churn must take less than this (debug build, noisy 2-core machine),
/// times the machine's slowness ([`support::scaled`]).
fn limit() -> Duration {
    support::scaled(Duration::from_secs(5))
}

/// The runtime still works: a sleep takes its time, a timer callback fires, a task
/// runs.
async fn runtime_still_works() {
    let d = Duration::from_millis(10);
    let start = Instant::now();
    ringloop::sleep(d).await;
    let elapsed = start.elapsed();
    assert!(
        elapsed >= d && elapsed < support::scaled(Duration::from_secs(2)),
        "{elapsed:?}"
    );
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    ringloop::call_later(Duration::from_millis(1), move || f.set(true));
    assert!(sleep_until_cond(Duration::from_secs(5), || fired.get()).await);
    assert_eq!(ringloop::spawn(async { 1 }).await, Ok(1));
}

any_driver_test! {
    fn sleeps_polled_once_and_dropped(mode) {
        mode.run(async {
            // A few live timers that must survive the churn.
            let live: Vec<_> = (1..=5u64)
                .map(|i| {
                    ringloop::spawn(async move {
                        ringloop::sleep(Duration::from_millis(40 * i)).await;
                        i
                    })
                })
                .collect();
            let start = Instant::now();
            for i in 0..N {
                let mut sleep = pin!(ringloop::sleep(HOUR + Duration::from_nanos(i as u64)));
                poll_fn(|cx| {
                    assert!(sleep.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            let elapsed = start.elapsed();
            assert!(elapsed < limit(), "{N} sleeps took {elapsed:?}");
            for (i, handle) in live.into_iter().enumerate() {
                let result = ringloop::wait_for(Duration::from_secs(10), handle).await;
                assert_eq!(result, Ok(Ok(i as u64 + 1)));
            }
            runtime_still_works().await;
        });
    }
}

any_driver_test! {
    fn wait_for_around_futures_that_win(mode) {
        mode.run(async {
            let start = Instant::now();
            for i in 0..N {
                // Ready at once: the timer is never even armed.
                assert_eq!(ringloop::wait_for(HOUR, async { i }).await, Ok(i));
            }
            for i in 0..N {
                // Pending once: the timer is armed, then cancelled.
                let r = ringloop::wait_for(HOUR, async {
                    ringloop::yield_now().await;
                    i
                })
                .await;
                assert_eq!(r, Ok(i));
            }
            let elapsed = start.elapsed();
            assert!(elapsed < limit(), "took {elapsed:?}");
            runtime_still_works().await;
        });
    }
}

any_driver_test! {
    fn call_later_cancel_churn(mode) {
        mode.run(async {
            let drops = Drops::new();
            let ran = Rc::new(Cell::new(0));
            let start = Instant::now();
            for i in 0..N {
                let token = drops.token();
                let r = ran.clone();
                // Half of them due soon, so that a leak would also show as a run.
                let delay = if i % 2 == 0 {
                    Duration::from_millis(1)
                } else {
                    HOUR
                };
                let handle = ringloop::call_later(delay, move || {
                    let _token = token;
                    r.set(r.get() + 1);
                });
                handle.cancel();
                assert!(handle.cancelled());
            }
            let elapsed = start.elapsed();
            assert!(elapsed < limit(), "{N} call_later/cancel took {elapsed:?}");
            // Every closure was dropped at its cancel.
            assert_eq!(drops.count(), N);
            ringloop::sleep(Duration::from_millis(20)).await;
            assert_eq!(ran.get(), 0, "a cancelled callback ran");
            runtime_still_works().await;
        });
    }
}

any_driver_test! {
    fn many_live_timers_fire_in_deadline_order_among_cancels(mode) {
        const TASKS: u64 = 3000;
        mode.run(async {
            // Every sleep must register before its deadline: one already past at its
            // first poll completes in poll order, not deadline order, and proves
            // nothing. The deadlines start a margin ahead of the spawns (3,000 of
            // them in a debug build); when a loaded machine (a VM under emulation)
            // spawns slower than that, the attempt is void and runs again with
            // twice the margin.
            let mut margin = support::scaled(Duration::from_millis(300));
            for attempt in 1.. {
                let base = Instant::now() + margin;
                let woke = Rc::new(RefCell::new(Vec::new()));
                let registered = Rc::new(Cell::new(0u64));
                let handles: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let deadline = base + Duration::from_micros((i * 7919) % 150_000);
                        let (woke, registered) = (woke.clone(), registered.clone());
                        ringloop::spawn(async move {
                            // The sleep registers in this same first poll.
                            registered.set(registered.get() + 1);
                            ringloop::time::sleep_until(deadline).await;
                            woke.borrow_mut().push((deadline, Instant::now()));
                        })
                    })
                    .collect();
                // Every task has had its first poll (a turn polls a bounded number
                // of them, so one yield is not enough), and so registered its sleep.
                while registered.get() < TASKS {
                    ringloop::yield_now().await;
                }
                if Instant::now() >= base {
                    assert!(attempt < 4, "the sleeps registered after their deadlines, {attempt} times");
                    for handle in &handles {
                        handle.cancel();
                    }
                    drop(ringloop::gather_all(handles).await);
                    margin *= 2;
                    continue;
                }
                // Cancel two thirds of them: enough stale heap entries to compact the
                // heap while the others wait.
                let mut kept = Vec::new();
                for (i, handle) in handles.into_iter().enumerate() {
                    if i % 3 == 0 {
                        kept.push(handle);
                    } else {
                        assert!(handle.cancel());
                    }
                }
                let all = ringloop::wait_for(support::scaled(Duration::from_secs(20)), ringloop::gather_all(kept)).await;
                let all = all.expect("timers were lost");
                assert!(all.iter().all(Result::is_ok));
                let woke = woke.borrow();
                assert_eq!(woke.len() as u64, TASKS.div_ceil(3));
                for &(deadline, at) in woke.iter() {
                    assert!(at >= deadline, "a timer fired {:?} early", deadline - at);
                }
                assert!(
                    woke.windows(2).all(|w| w[0].0 <= w[1].0),
                    "timers fired out of deadline order"
                );
                break;
            }
        });
    }
}
