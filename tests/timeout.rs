//! `wait_for` and `timeout`: `Ok` when the future wins, `Err(TimeoutError)` (never
//! early) when the time runs out, zero durations, a future finishing right at the
//! deadline, dropping the inner future on timeout and when the `wait_for` itself is
//! dropped, and join handles as the inner future.

mod support;

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringloop::{timeout, wait_for, TimeoutError};
use support::{sleep_until_cond, yield_until, Drops};

const HOUR: Duration = Duration::from_secs(3600);

any_driver_test! {
    fn wait_for_ok_when_the_future_wins(mode) {
        mode.run(async {
            let start = Instant::now();
            let slowish = async {
                ringloop::sleep(Duration::from_millis(10)).await;
                5
            };
            assert_eq!(wait_for(Duration::from_secs(5), slowish).await, Ok(5));
            assert!(
                start.elapsed() < support::scaled(Duration::from_secs(4)),
                "{:?}",
                start.elapsed()
            );
            assert_eq!(
                wait_for(Duration::from_millis(10), async { "ready" }).await,
                Ok("ready")
            );
        });
    }
}

any_driver_test! {
    fn wait_for_err_when_time_runs_out(mode) {
        mode.run(async {
            let drops = Drops::new();
            let token = drops.token();
            let reached_end = Rc::new(Cell::new(false));
            let end = reached_end.clone();
            let slow = async move {
                let _token = token;
                ringloop::sleep(HOUR).await;
                end.set(true);
            };
            let limit = Duration::from_millis(30);
            let start = Instant::now();
            let result = wait_for(limit, slow).await;
            let elapsed = start.elapsed();
            assert_eq!(result, Err(TimeoutError));
            assert!(elapsed >= limit, "timed out early, after {elapsed:?}");
            assert!(
                elapsed < limit * 5 + Duration::from_millis(200),
                "{elapsed:?}"
            );
            // The inner future was dropped when the time ran out.
            assert_eq!(drops.count(), 1);
            assert!(!reached_end.get());
            let error: std::io::Error = TimeoutError.into();
            assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
            assert!(!TimeoutError.to_string().is_empty());
        });
    }
}

any_driver_test! {
    fn zero_and_huge_durations(mode) {
        mode.run(async {
            assert_eq!(wait_for(Duration::ZERO, async { 1 }).await, Ok(1));
            assert_eq!(
                wait_for(Duration::ZERO, std::future::pending::<()>()).await,
                Err(TimeoutError)
            );
            let start = Instant::now();
            let r = wait_for(Duration::MAX, ringloop::sleep(Duration::from_millis(5))).await;
            assert_eq!(r, Ok(()));
            assert!(start.elapsed() < support::scaled(Duration::from_secs(2)));
        });
    }
}

any_driver_test! {
    fn a_future_finishing_at_the_deadline(mode) {
        mode.run(async {
            for ms in [1u64, 2, 5, 10] {
                for _ in 0..5 {
                    let d = Duration::from_millis(ms);
                    let start = Instant::now();
                    let deadline = start + d;
                    let inner = async move {
                        ringloop::time::sleep_until(deadline).await;
                        Instant::now()
                    };
                    let result = wait_for(d, inner).await;
                    let elapsed = start.elapsed();
                    // Either side may win, but nothing returns early or late.
                    if let Ok(finished) = result {
                        assert!(finished >= deadline);
                    }
                    assert!(elapsed >= d, "{elapsed:?}");
                    assert!(elapsed < d * 5 + support::scaled(Duration::from_millis(200)), "{elapsed:?}");
                    // The same with the inner sleep created after the wait_for's clock.
                    let result = wait_for(d, ringloop::sleep(d)).await;
                    assert!(result.is_ok() || result == Err(TimeoutError));
                }
            }
        });
    }
}

any_driver_test! {
    fn dropping_wait_for_drops_the_inner_future(mode) {
        mode.run(async {
            let drops = Drops::new();
            // Dropped after a poll.
            {
                let token = drops.token();
                let mut waiting = pin!(wait_for(HOUR, async move {
                    let _token = token;
                    std::future::pending::<()>().await;
                }));
                poll_fn(|cx| {
                    assert!(waiting.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                assert_eq!(drops.count(), 0);
            }
            assert_eq!(drops.count(), 1);
            // Dropped before any poll.
            let token = drops.token();
            let never_polled = wait_for(HOUR, async move { drop(token) });
            drop(never_polled);
            assert_eq!(drops.count(), 2);
            // Inside a cancelled task.
            let token = drops.token();
            let task = ringloop::spawn(wait_for(HOUR, async move {
                let _token = token;
                std::future::pending::<()>().await;
            }));
            ringloop::yield_now().await;
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
            assert_eq!(drops.count(), 3);
        });
    }
}

any_driver_test! {
    fn timeout_is_wait_for(mode) {
        mode.run(async {
            let ok: Result<u8, TimeoutError> = timeout(Duration::from_secs(5), async { 3 }).await;
            assert_eq!(ok, Ok(3));
            let limit = Duration::from_millis(20);
            let start = Instant::now();
            let err = timeout(limit, ringloop::sleep(HOUR)).await;
            assert_eq!(err, Err(TimeoutError));
            assert!(start.elapsed() >= limit);
            let drops = Drops::new();
            let token = drops.token();
            let _ = timeout(Duration::from_millis(1), async move {
                let _token = token;
                std::future::pending::<()>().await;
            })
            .await;
            assert_eq!(drops.count(), 1);
        });
    }
}

any_driver_test! {
    fn wait_for_a_join_handle(mode) {
        mode.run(async {
            let quick = ringloop::spawn(async { 9 });
            assert_eq!(wait_for(Duration::from_secs(5), quick).await, Ok(Ok(9)));

            // Timing out cancels the task, as asyncio's wait_for cancels it.
            let drops = Drops::new();
            let token = drops.token();
            let slow = ringloop::spawn(async move {
                let _token = token;
                ringloop::sleep(Duration::from_secs(3600)).await;
            });
            let id = slow.id();
            assert_eq!(
                wait_for(Duration::from_millis(1), slow).await,
                Err(TimeoutError)
            );
            assert!(yield_until(10, || drops.count() == 1).await, "not cancelled");
            assert!(ringloop::all_tasks().iter().all(|t| t.id != id));

            // A borrowed handle or a shielded one is left running.
            let done = Rc::new(Cell::new(0));
            let spawn_slow = || {
                let d = done.clone();
                ringloop::spawn(async move {
                    ringloop::sleep(Duration::from_millis(30)).await;
                    d.set(d.get() + 1);
                })
            };
            let mut borrowed = spawn_slow();
            assert_eq!(
                wait_for(Duration::from_millis(1), &mut borrowed).await,
                Err(TimeoutError)
            );
            let shielded = spawn_slow();
            assert_eq!(
                wait_for(Duration::from_millis(1), ringloop::shield_handle(shielded)).await,
                Err(TimeoutError)
            );
            assert_eq!(done.get(), 0);
            assert!(sleep_until_cond(Duration::from_secs(5), || done.get() == 2).await);
            assert_eq!(borrowed.await, Ok(()));
        });
    }
}
