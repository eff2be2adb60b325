//! `gather!` and `gather_all`: results in argument order whatever the completion
//! order, concurrency, borrowing locals, join handles as arguments, ten thousand
//! futures each woken once (per-child wake tracking), and dropping a gather drops
//! every unfinished future.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringloop::sync::Event;
use ringloop::{gather, gather_all, JoinError};
use support::{yield_until, Drops};

/// Waits for `after` (if any), records `tag` as finished in `log`, sets `done`,
/// returns `tag`: the order of completion is fixed by the events, not by timing
/// (timers 20 ms apart fired in one turn on a loaded machine, and then the gather
/// polled them in argument order).
async fn step(after: Option<&Event>, tag: u32, done: &Event, log: &RefCell<Vec<u32>>) -> u32 {
    match after {
        Some(event) => event.wait().await,
        // A real suspension first, so the order is not that of the first polls.
        None => ringloop::sleep(Duration::from_millis(1)).await,
    }
    log.borrow_mut().push(tag);
    done.set();
    tag
}

any_driver_test! {
    fn gather_results_are_in_argument_order(mode) {
        mode.run(async {
            let log = RefCell::new(Vec::new());
            let (one, two, three) = (Event::new(), Event::new(), Event::new());
            let (a, b, c, d) = gather!(
                step(Some(&two), 1, &one, &log),
                step(Some(&three), 2, &two, &log),
                step(None, 3, &three, &log),
                async { "x" }
            )
            .await;
            assert_eq!((a, b, c, d), (1, 2, 3, "x"));
            assert_eq!(*log.borrow(), [3, 2, 1], "completion order");
            // A single future and a trailing comma.
            let (only,) = gather!(async { 5 },).await;
            assert_eq!(only, 5);
        });
    }
}

any_driver_test! {
    fn gather_runs_futures_concurrently(mode) {
        mode.run(async {
            let log = RefCell::new(Vec::new());
            let step = |tag: u32| {
                let log = &log;
                async move {
                    log.borrow_mut().push(format!("start {tag}"));
                    ringloop::sleep(Duration::from_millis(150)).await;
                    log.borrow_mut().push(format!("end {tag}"));
                }
            };
            let start = Instant::now();
            gather!(
                step(0),
                step(1),
                step(2),
                step(3),
                step(4),
                step(5),
                step(6),
                step(7)
            )
            .await;
            let elapsed = start.elapsed();
            // Every future started before any finished.
            let first_end = log.borrow().iter().position(|e| e.starts_with("end"));
            assert_eq!(first_end, Some(8), "{:?}", log.borrow());
            // About the longest (150 ms), far from the sum (1200 ms).
            assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
            assert!(
                elapsed < support::scaled(Duration::from_millis(900)),
                "not concurrent: {elapsed:?}"
            );

            let start = Instant::now();
            let sleeps = (0..20).map(|_| ringloop::sleep(Duration::from_millis(100)));
            assert_eq!(gather_all(sleeps).await.len(), 20);
            let elapsed = start.elapsed();
            assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
            assert!(
                elapsed < support::scaled(Duration::from_millis(1000)),
                "not concurrent: {elapsed:?}"
            );
        });
    }
}

any_driver_test! {
    fn gather_borrows_locals(mode) {
        mode.run(async {
            let words = [String::from("borrowed"), String::from("words")];
            let mut left = 0;
            let mut right = Vec::new();
            let shared = RefCell::new(0);
            let (n, first) = gather!(
                async {
                    ringloop::yield_now().await;
                    left += 10;
                    *shared.borrow_mut() += 1;
                    words.len()
                },
                async {
                    right.push(words[0].as_str());
                    ringloop::sleep(Duration::from_millis(1)).await;
                    *shared.borrow_mut() += 1;
                    words[0].as_str()
                },
            )
            .await;
            assert_eq!((n, first), (2, "borrowed"));
            assert_eq!(
                (left, right, shared.into_inner()),
                (10, vec!["borrowed"], 2)
            );

            let total = Cell::new(0);
            let lengths = gather_all(words.iter().map(|w| {
                let total = &total;
                async move {
                    ringloop::yield_now().await;
                    total.set(total.get() + w.len());
                    w.len()
                }
            }))
            .await;
            assert_eq!((lengths, total.get()), (vec![8, 5], 13));
        });
    }
}

any_driver_test! {
    fn gather_accepts_join_handles(mode) {
        mode.run(async {
            let slow = ringloop::spawn(async {
                ringloop::sleep(Duration::from_millis(20)).await;
                "slow"
            });
            let fast = ringloop::spawn(async { "fast" });
            let cancelled = ringloop::spawn(std::future::pending::<&str>());
            cancelled.cancel();
            let (a, b, c, d) = gather!(slow, fast, cancelled, async { "inline" }).await;
            assert_eq!(
                (a, b, c, d),
                (Ok("slow"), Ok("fast"), Err(JoinError::Cancelled), "inline")
            );

            let handles: Vec<_> = (0..30u64)
                .map(|i| {
                    ringloop::spawn(async move {
                        ringloop::sleep(Duration::from_millis(30 - i)).await;
                        i * 2
                    })
                })
                .collect();
            let results = gather_all(handles).await;
            let expected: Vec<_> = (0..30).map(|i| Ok(i * 2)).collect();
            assert_eq!(results, expected);
        });
    }
}

/// Pending on its first poll, after which `wakers` holds its waker; ready with its
/// index on the next poll. Counts every poll in `polls`.
struct WakeOnce {
    index: usize,
    polled: bool,
    polls: Rc<Cell<usize>>,
    wakers: Rc<RefCell<Vec<(usize, Waker)>>>,
}

impl Future for WakeOnce {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls.set(self.polls.get() + 1);
        if self.polled {
            return Poll::Ready(self.index);
        }
        self.polled = true;
        self.wakers
            .borrow_mut()
            .push((self.index, cx.waker().clone()));
        Poll::Pending
    }
}

any_driver_test! {
    fn gather_all_ten_thousand_futures_each_woken_once(mode) {
        const N: usize = 10_000;
        mode.run(async {
            let polls = Rc::new(Cell::new(0));
            let wakers = Rc::new(RefCell::new(Vec::new()));
            let futures: Vec<_> = (0..N)
                .map(|index| WakeOnce {
                    index,
                    polled: false,
                    polls: polls.clone(),
                    wakers: wakers.clone(),
                })
                .collect();
            let w = wakers.clone();
            // Wakes every future once, in reverse order, a hundred per turn.
            let waker_task = ringloop::spawn(async move {
                assert!(yield_until(1000, || w.borrow().len() == N).await);
                let all: Vec<_> = w.borrow_mut().drain(..).collect();
                for (n, (_, waker)) in all.into_iter().rev().enumerate() {
                    waker.wake();
                    if n % 100 == 99 {
                        ringloop::yield_now().await;
                    }
                }
            });
            let start = Instant::now();
            let results = ringloop::wait_for(Duration::from_secs(20), gather_all(futures)).await;
            let elapsed = start.elapsed();
            let results = results.expect("gather_all of 10,000 futures timed out");
            waker_task.await.unwrap();
            assert!(
                results.iter().copied().eq(0..N),
                "results out of input order"
            );
            // Each future was polled once, then once more after its single wake: a
            // wake-up polls only the woken children.
            assert_eq!(polls.get(), 2 * N);
            assert!(elapsed < support::scaled(Duration::from_secs(5)), "{elapsed:?}");
        });
    }
}

any_driver_test! {
    fn gather_all_completes_out_of_order_in_input_order(mode) {
        mode.run(async {
            // Above the wake-tracking threshold, with timers waking the children.
            let futures = (0..200u64).map(|i| async move {
                ringloop::sleep(Duration::from_millis((i * 7) % 23)).await;
                ringloop::yield_now().await;
                i
            });
            let results = ringloop::wait_for(Duration::from_secs(10), gather_all(futures)).await;
            assert_eq!(results, Ok((0..200).collect::<Vec<_>>()));
            let empty: Vec<std::future::Ready<u8>> = Vec::new();
            assert_eq!(gather_all(empty).await, Vec::<u8>::new());
        });
    }
}

any_driver_test! {
    fn dropping_gather_drops_unfinished_futures(mode) {
        mode.run(async {
            let drops = Drops::new();
            let finished = Rc::new(Cell::new(0));
            let child = |ms: Option<u64>| {
                let token = drops.token();
                let finished = finished.clone();
                async move {
                    let _token = token;
                    match ms {
                        Some(ms) => ringloop::sleep(Duration::from_millis(ms)).await,
                        None => std::future::pending().await,
                    }
                    finished.set(finished.get() + 1);
                }
            };
            let result = ringloop::wait_for(
                Duration::from_millis(50),
                gather!(
                    child(Some(0)),
                    child(None),
                    child(Some(3_600_000)),
                    child(None)
                ),
            )
            .await;
            assert!(result.is_err());
            assert_eq!(finished.get(), 1);
            assert_eq!(drops.count(), 4, "every future dropped exactly once");

            // gather_all, below and above the wake-tracking threshold.
            for n in [5usize, 40] {
                let drops = Drops::new();
                let mut gathering = Box::pin(gather_all((0..n).map(|i| {
                    let token = drops.token();
                    async move {
                        let _token = token;
                        if i % 2 == 0 {
                            ringloop::yield_now().await;
                        } else {
                            ringloop::sleep(Duration::from_secs(3600)).await;
                        }
                    }
                })));
                for _ in 0..3 {
                    poll_fn(|cx| {
                        assert!(gathering.as_mut().poll(cx).is_pending());
                        Poll::Ready(())
                    })
                    .await;
                    ringloop::yield_now().await;
                }
                assert_eq!(
                    drops.count(),
                    n.div_ceil(2),
                    "finished children dropped their futures"
                );
                drop(gathering);
                assert_eq!(drops.count(), n, "n = {n}");
            }

            // Never polled at all.
            let drops = Drops::new();
            let (t1, t2) = (drops.token(), drops.token());
            let never = gather!(async move { drop(t1) }, async move { drop(t2) });
            assert_eq!(drops.count(), 0);
            drop(never);
            assert_eq!(drops.count(), 2);
        });
    }
}
