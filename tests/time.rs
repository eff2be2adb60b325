//! Sleeping: `sleep` never returns early, `sleep(ZERO)` and past deadlines yield
//! once, `Sleep::reset`, dropping a sleep before it fires (no wake-up, its waker
//! released), `time::now()` as the loop's cached, advancing clock, timers centuries
//! away, and a sleep that outlives its runtime.

mod support;

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ringloop::time::{sleep_until, Sleep};

/// A generous upper bound for a wait of `d` on a noisy machine (scaled: a VM under
/// TCG took 228 ms for 500 µs).
fn late(d: Duration) -> Duration {
    support::scaled(d * 5 + Duration::from_millis(200))
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

any_driver_test! {
    fn sleep_never_returns_early(mode) {
        mode.run(async {
            for ms in [1, 2, 5, 10, 25, 50] {
                let d = Duration::from_millis(ms);
                let start = Instant::now();
                ringloop::sleep(d).await;
                let elapsed = start.elapsed();
                assert!(elapsed >= d, "sleep({d:?}) returned after {elapsed:?}");
                assert!(elapsed < late(d), "sleep({d:?}) returned after {elapsed:?}");
            }
            // Many sleeps at once, each checked against its own duration.
            let handles: Vec<_> = (0..50u64)
                .map(|i| {
                    ringloop::spawn(async move {
                        let d = Duration::from_micros(500 + (i * 7919) % 40_000);
                        let start = Instant::now();
                        ringloop::sleep(d).await;
                        (d, start.elapsed())
                    })
                })
                .collect();
            for handle in handles {
                let (d, elapsed) = handle.await.unwrap();
                assert!(elapsed >= d, "sleep({d:?}) returned after {elapsed:?}");
                assert!(elapsed < late(d), "sleep({d:?}) returned after {elapsed:?}");
            }
        });
    }
}

any_driver_test! {
    fn sleep_zero_yields_to_other_tasks(mode) {
        mode.run(async {
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            let other = ringloop::spawn(async move { r.set(true) });
            let start = Instant::now();
            ringloop::sleep(Duration::ZERO).await;
            assert!(ran.get(), "sleep(ZERO) did not let the other task run");
            assert!(start.elapsed() < support::scaled(Duration::from_secs(1)));
            other.await.unwrap();

            // Two tasks that "sleep 0" alternate like yield_now.
            let log = Rc::new(std::cell::RefCell::new(Vec::new()));
            let tasks: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|name| {
                    let log = log.clone();
                    ringloop::spawn(async move {
                        for _ in 0..3 {
                            log.borrow_mut().push(name);
                            ringloop::sleep(Duration::ZERO).await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(*log.borrow(), ["a", "b", "a", "b", "a", "b"]);
        });
    }
}

any_driver_test! {
    fn sleep_until_a_past_deadline(mode) {
        mode.run(async {
            let now = Instant::now();
            let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            let other = ringloop::spawn(async move { r.set(true) });
            let start = Instant::now();
            let sleep = sleep_until(past);
            assert_eq!(sleep.deadline(), Some(past));
            sleep.await;
            assert!(start.elapsed() < support::scaled(Duration::from_secs(1)));
            assert!(ran.get(), "a past deadline still yields once");
            other.await.unwrap();

            let deadline = Instant::now() + Duration::from_millis(15);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
        });
    }
}

any_driver_test! {
    fn reset_moves_the_deadline(mode) {
        mode.run(async {
            // Earlier, before the first poll.
            let start = Instant::now();
            let mut sleep = ringloop::sleep(Duration::from_secs(3600));
            sleep.reset(start + Duration::from_millis(20));
            (&mut sleep).await;
            assert!(sleep.is_elapsed());
            let elapsed = start.elapsed();
            assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
            assert!(elapsed < late(Duration::from_millis(20)), "{elapsed:?}");

            // After it completed: it can be awaited again.
            let again = Instant::now() + Duration::from_millis(10);
            sleep.reset(again);
            assert!(!sleep.is_elapsed());
            assert_eq!(sleep.deadline(), Some(again));
            (&mut sleep).await;
            assert!(Instant::now() >= again);

            // Earlier and later while registered (polled once).
            for (first, second) in [(3_600_000, 15), (5, 60)] {
                let start = Instant::now();
                let mut sleep = ringloop::sleep(Duration::from_millis(first));
                poll_fn(|cx| {
                    assert!(Sleep::poll(std::pin::Pin::new(&mut sleep), cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                let second = Duration::from_millis(second);
                sleep.reset(start + second);
                (&mut sleep).await;
                let elapsed = start.elapsed();
                assert!(
                    elapsed >= second,
                    "reset to {second:?}, woke after {elapsed:?}"
                );
                assert!(
                    elapsed < late(second),
                    "reset to {second:?}, woke after {elapsed:?}"
                );
            }
        });
    }
}

any_driver_test! {
    fn dropping_a_sleep_releases_its_timer(mode) {
        mode.run(async {
            let counter = Arc::new(CountingWaker::default());
            let waker = Waker::from(counter.clone());
            let mut cx = Context::from_waker(&waker);
            {
                let mut sleep = pin!(ringloop::sleep(Duration::from_millis(10)));
                assert!(sleep.as_mut().poll(&mut cx).is_pending());
                // The timer holds a clone of the waker.
                assert!(Arc::strong_count(&counter) > 2);
            }
            // Dropped: the timer let go of its waker...
            assert_eq!(Arc::strong_count(&counter), 2);
            ringloop::sleep(Duration::from_millis(40)).await;
            // ... and never fired.
            assert_eq!(counter.0.load(Ordering::SeqCst), 0);

            // A sleep that fires wakes once and lets go of its waker too.
            let mut sleep = pin!(ringloop::sleep(Duration::from_millis(5)));
            assert!(sleep.as_mut().poll(&mut cx).is_pending());
            ringloop::sleep(Duration::from_millis(40)).await;
            assert_eq!(counter.0.load(Ordering::SeqCst), 1);
            assert_eq!(Arc::strong_count(&counter), 2);
            assert!(sleep.as_mut().poll(&mut cx).is_ready());
        });
    }
}

any_driver_test! {
    fn a_dropped_sleep_does_not_wake_its_task(mode) {
        mode.run(async {
            let polls = Rc::new(Cell::new(0));
            let p = polls.clone();
            let task = ringloop::spawn(async move {
                {
                    // Its deadline must still be ahead at its first poll (a sleep
                    // already due wakes its task to yield once instead of registering
                    // a timer): on a slow machine (a VM under emulation) more than 10 ms
                    // can pass between creating and polling it, so scaled.
                    let mut sleep = pin!(ringloop::sleep(support::scaled(Duration::from_millis(10))));
                    poll_fn(|cx| {
                        assert!(sleep.as_mut().poll(cx).is_pending());
                        Poll::Ready(())
                    })
                    .await;
                }
                // Counts the polls of this task from here on; never completes.
                poll_fn(|_| {
                    p.set(p.get() + 1);
                    Poll::<()>::Pending
                })
                .await;
            });
            ringloop::sleep(support::scaled(Duration::from_millis(60))).await;
            assert_eq!(polls.get(), 1, "the task was woken by a dropped sleep");
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
        });
    }
}

any_driver_test! {
    fn now_is_the_cached_loop_clock(mode) {
        let outside = ringloop::time::now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            ringloop::time::now() > outside,
            "outside a runtime, now() is Instant::now()"
        );
        mode.run(async {
            let before = ringloop::time::now();
            assert!(before <= Instant::now());
            assert!(Instant::now() - before < support::scaled(Duration::from_secs(1)));
            // Cached: within one step it does not move.
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(ringloop::time::now(), before);
            // It advances with the loop.
            ringloop::sleep(Duration::from_millis(10)).await;
            let after = ringloop::time::now();
            assert!(
                after >= before + Duration::from_millis(10),
                "{:?}",
                after - before
            );
            let in_task = ringloop::spawn(async { ringloop::time::now() })
                .await
                .unwrap();
            assert!(in_task >= after);
            assert!(in_task <= Instant::now());
        });
    }
}

// On every driver: each parks with its own timeout (a timespec on io_uring, whole
// milliseconds for epoll_wait) and is woken from another thread its own way.
matrix_test! {
    fn far_future_timers_do_not_disturb_the_loop(mode) {
        // On its own thread, so that a loop stuck in its wait fails the test instead of
        // hanging it.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let result = mode.run(async {
                let far = Duration::from_secs(100_000_000_000);
                let _never = [
                    ringloop::call_later(far, || {}),
                    ringloop::call_later(Duration::MAX, || {}),
                    ringloop::call_at(Instant::now() + Duration::from_secs(1 << 40), || {}),
                ];
                let sleeper = ringloop::spawn(ringloop::sleep(far));
                ringloop::yield_now().await;
                let start = Instant::now();
                ringloop::sleep(Duration::from_millis(20)).await;
                let slept = start.elapsed();
                // Parked with only far timers, until another thread wakes us.
                let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
                let done = Arc::new(AtomicBool::new(false));
                let d = done.clone();
                let waker_thread = std::thread::spawn(move || {
                    let waker = waker_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    d.store(true, Ordering::SeqCst);
                    waker.wake();
                });
                let start = Instant::now();
                let mut sent = false;
                poll_fn(|cx| {
                    if done.load(Ordering::SeqCst) {
                        return Poll::Ready(());
                    }
                    if !sent {
                        waker_tx.send(cx.waker().clone()).unwrap();
                        sent = true;
                    }
                    Poll::Pending
                })
                .await;
                let parked = start.elapsed();
                waker_thread.join().unwrap();
                assert!(!sleeper.is_finished());
                sleeper.cancel();
                (slept, parked)
            });
            let _ = tx.send(result);
        });
        let (slept, parked) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the runtime hung or panicked");
        assert!(slept >= Duration::from_millis(20) && slept < late(Duration::from_millis(20)));
        assert!(parked >= Duration::from_millis(50) && parked < support::scaled(Duration::from_secs(5)));
    }
}

any_driver_test! {
    fn a_sleep_that_outlives_its_runtime_does_not_end_early(mode) {
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut sleep = Box::pin(sleep_until(deadline));
        let mut ticks = ringloop::time::interval_at(deadline, Duration::from_secs(3600));
        mode.run(async {
            poll_fn(|cx| {
                assert!(sleep.as_mut().poll(cx).is_pending());
                assert!(ticks.poll_tick(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        });
        // The runtime the timers were registered with is gone. Awaited on a new one,
        // they must end at their deadline, not before (a panic would be acceptable).
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            mode.run(async {
                let slept = ringloop::wait_for(Duration::from_secs(5), &mut sleep).await;
                let sleep_ended = Instant::now();
                let tick = ringloop::wait_for(Duration::from_secs(5), ticks.tick()).await;
                (slept, sleep_ended, tick, Instant::now())
            })
        }));
        if let Ok((slept, sleep_ended, tick, tick_ended)) = outcome {
            assert_eq!(slept, Ok(()));
            assert!(
                sleep_ended >= deadline,
                "the sleep ended {:?} early",
                deadline - sleep_ended
            );
            assert_eq!(tick, Ok(deadline));
            assert!(
                tick_ended >= deadline,
                "the tick came {:?} early",
                deadline - tick_ended
            );
        }
    }
}

any_driver_test! {
    fn the_loop_clock_is_fresh_when_block_on_starts(mode) {
        let rt = mode.runtime();
        rt.block_on(async { ringloop::time::now() });
        std::thread::sleep(Duration::from_millis(50));
        let before = Instant::now();
        // time::now() is read at the first look of this block_on, not left over
        // from the previous one.
        let now = rt.block_on(async { ringloop::time::now() });
        assert!(now >= before, "time::now() lags by {:?}", before - now);
    }
}
