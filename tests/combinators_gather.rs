//! `as_completed` (with and without a timeout), `try_gather!` and `try_gather_all`:
//! completion order, thousands of futures each polled only when woken, join handles
//! as inputs, dropping mid-way drops every unfinished future (and queued output) at
//! once, the first `Err` drops the rest before the gather returns, `Ok` outputs in
//! argument order; randomized schedules of errors and drops.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_core::stream::{FusedStream, Stream};
use ringloop::sync::Promise;
use ringloop::{as_completed, try_gather, try_gather_all, wait_for, JoinError};
use support::{poll_once, sleep_until_cond, yield_until, DropToken, Drops, Rng};

/// Yields `times` times (each a self-wake), counting every poll in `polls`, then
/// returns `value`.
struct YieldTimes<T> {
    times: usize,
    polls: Rc<Cell<usize>>,
    value: Option<T>,
}

fn yield_times<T>(times: usize, polls: &Rc<Cell<usize>>, value: T) -> YieldTimes<T> {
    YieldTimes {
        times,
        polls: polls.clone(),
        value: Some(value),
    }
}

impl<T> Unpin for YieldTimes<T> {}

impl<T> Future for YieldTimes<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.polls.set(self.polls.get() + 1);
        if self.times == 0 {
            return Poll::Ready(self.value.take().expect("polled after completion"));
        }
        self.times -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Gates that futures wait at: gate `i`'s future is pending until [`Gates::open`]
/// opens it (waking it), then ready with `i`. Counts every poll.
#[derive(Default)]
struct Gates {
    wakers: RefCell<Vec<Option<Waker>>>,
    open: RefCell<Vec<bool>>,
    polls: Cell<usize>,
}

impl Gates {
    fn new(n: usize) -> Rc<Gates> {
        Rc::new(Gates {
            wakers: RefCell::new(vec![None; n]),
            open: RefCell::new(vec![false; n]),
            polls: Cell::new(0),
        })
    }

    fn future(self: &Rc<Self>, index: usize) -> impl Future<Output = usize> {
        let gates = self.clone();
        poll_fn(move |cx| {
            gates.polls.set(gates.polls.get() + 1);
            if gates.open.borrow()[index] {
                return Poll::Ready(index);
            }
            gates.wakers.borrow_mut()[index] = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// How many gates have a waiting future.
    fn waiting(&self) -> usize {
        self.wakers.borrow().iter().flatten().count()
    }

    fn open(&self, index: usize) {
        self.open.borrow_mut()[index] = true;
        let waker = self.wakers.borrow_mut()[index].take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Spawns a task that opens every gate in the order `(i * 7919) % n`, a hundred
    /// per loop turn, once all `n` futures are waiting; returns that order.
    fn open_all_later(self: &Rc<Self>, n: usize) -> Vec<usize> {
        let order: Vec<usize> = (0..n).map(|i| (i * 7919) % n).collect();
        let (gates, opening) = (self.clone(), order.clone());
        ringloop::spawn(async move {
            assert!(yield_until(1000, || gates.waiting() == n).await);
            for (k, &i) in opening.iter().enumerate() {
                gates.open(i);
                if k % 100 == 99 {
                    ringloop::yield_now().await;
                }
            }
        });
        order
    }
}

/// Sleeps `ms`, then returns `value`.
async fn after<T>(ms: u64, value: T) -> T {
    ringloop::sleep(Duration::from_millis(ms)).await;
    value
}

/// `value` at `start` + `ms` (scaled): deadlines taken from one instant, so that
/// the order they end in does not depend on when each future first ran (a slow
/// machine, valgrind or TCG, can take longer than the gaps between two polls).
async fn at<T>(start: Instant, ms: u32, value: T) -> T {
    ringloop::time::sleep_until(start + support::scaled(Duration::from_millis(1)) * ms).await;
    value
}

any_driver_test! {
    fn as_completed_yields_in_completion_order(mode) {
        mode.run(async {
            let start = Instant::now();
            let mut stream =
                as_completed([at(start, 60, "c"), at(start, 0, "a"), at(start, 30, "b")]);
            assert_eq!(stream.size_hint(), (3, Some(3)));
            let mut order = Vec::new();
            while let Some(item) = wait_for(Duration::from_secs(5), stream.next()).await.unwrap() {
                order.push(item);
            }
            assert_eq!(order, ["a", "b", "c"]);
            assert!(stream.is_terminated() && stream.is_empty());
            assert_eq!(stream.next().await, None, "stays ended");

            // Empty: ends at once. Borrowing locals is fine.
            let mut empty = as_completed(Vec::<std::future::Ready<u8>>::new());
            assert_eq!(poll_once(&mut Box::pin(empty.next())), Poll::Ready(None));
            let words = [String::from("x"), String::from("yy")];
            let mut lengths = as_completed(words.iter().map(|w| async move { w.len() }));
            let mut got = Vec::new();
            while let Some(n) = lengths.next().await {
                got.push(n);
            }
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
        });
    }
}

any_driver_test! {
    fn as_completed_thousands_each_polled_only_when_woken(mode) {
        const N: usize = 5000;
        mode.run(async {
            let polls = Rc::new(Cell::new(0));
            // Future i yields (i * 7919) % 50 times: fewer yields finish first.
            let times = |i: usize| (i * 7919) % 50;
            let mut stream = as_completed((0..N).map(|i| yield_times(times(i), &polls, i)));
            let start = Instant::now();
            let mut outputs = Vec::with_capacity(N);
            while let Some(i) = wait_for(Duration::from_secs(10), stream.next()).await.unwrap() {
                outputs.push(i);
            }
            assert!(start.elapsed() < support::scaled(Duration::from_secs(8)), "{:?}", start.elapsed());
            assert_eq!(outputs.len(), N);
            assert!(
                outputs.windows(2).all(|w| times(w[0]) <= times(w[1])),
                "not in completion order"
            );
            let mut sorted = outputs.clone();
            sorted.sort_unstable();
            assert!(sorted.iter().copied().eq(0..N));
            // One poll to start plus one per self-wake: nobody was polled for nothing.
            let expected: usize = (0..N).map(|i| times(i) + 1).sum();
            assert_eq!(polls.get(), expected);
        });
    }
}

any_driver_test! {
    fn thousands_woken_one_by_one_are_polled_once_more_each(mode) {
        // 5000 futures (prime to 7919), woken from outside in a scrambled order:
        // each is polled once to start and once after its wake, and as_completed
        // yields them in wake order.
        const N: usize = 5000;
        mode.run(async {
            let gates = Gates::new(N);
            let mut stream = as_completed((0..N).map(|i| gates.future(i)));
            let order = gates.open_all_later(N);
            let mut outputs = Vec::with_capacity(N);
            while let Some(i) = wait_for(Duration::from_secs(10), stream.next()).await.unwrap() {
                outputs.push(i);
            }
            assert!(outputs == order, "not in wake order");
            assert_eq!(gates.polls.get(), 2 * N);

            let gates = Gates::new(N);
            let all = try_gather_all((0..N).map(|i| {
                let future = gates.future(i);
                async move { Ok::<_, ()>(future.await) }
            }));
            gates.open_all_later(N);
            let all = wait_for(Duration::from_secs(10), all).await.unwrap();
            assert!(all.unwrap().iter().copied().eq(0..N), "input order");
            assert_eq!(gates.polls.get(), 2 * N);
        });
    }
}

any_driver_test! {
    fn dropping_as_completed_drops_the_rest(mode) {
        mode.run(async {
            for n in [8usize, 100] {
                let drops = Drops::new();
                let finished = Rc::new(Cell::new(0));
                let mut stream = as_completed((0..n).map(|i| {
                    let (token, finished) = (drops.token(), finished.clone());
                    async move {
                        let _token = token;
                        let ms = if i % 2 == 0 { i as u64 / 2 } else { 3_600_000 };
                        ringloop::sleep(Duration::from_millis(ms)).await;
                        finished.set(finished.get() + 1);
                        i
                    }
                }));
                for _ in 0..3 {
                    let i = wait_for(Duration::from_secs(5), stream.next()).await.unwrap();
                    assert_eq!(i.map(|i| i % 2), Some(0));
                }
                assert_eq!(stream.len(), n - 3);
                let before = finished.get();
                drop(stream);
                assert_eq!(drops.count(), n, "n = {n}: every future dropped exactly once");
                ringloop::sleep(Duration::from_millis(5)).await;
                assert_eq!(finished.get(), before, "nothing ran after the drop");
            }

            // Queued outputs are dropped with the stream too.
            let drops = Drops::new();
            let tokens: Vec<DropToken> = (0..20).map(|_| drops.token()).collect();
            let mut stream = as_completed(tokens.into_iter().map(|t| async move { t }));
            let first = stream.next().await.unwrap();
            drop(first);
            assert_eq!(drops.count(), 1);
            drop(stream);
            assert_eq!(drops.count(), 20);
        });
    }
}

any_driver_test! {
    fn as_completed_over_join_handles(mode) {
        mode.run(async {
            // The tasks finish in the order the test releases them, last spawned
            // first, one at a time: the stream yields each as it finishes. (Sleeps
            // of 30 - i ms, even to deadlines from one instant, came out of order
            // in a VM under TCG, where spawning the 30 took longer than the gaps.)
            let releases: Vec<Promise<()>> = (0..30).map(|_| Promise::new()).collect();
            let handles: Vec<_> = releases
                .iter()
                .enumerate()
                .map(|(i, release)| {
                    let release = release.clone();
                    ringloop::spawn(async move {
                        release.wait().await.unwrap();
                        i as u64
                    })
                })
                .collect();
            let mut stream = as_completed(handles);
            let mut order = Vec::new();
            for release in releases.iter().rev() {
                release.set_result(()).unwrap();
                let output = wait_for(Duration::from_secs(5), stream.next()).await.unwrap();
                order.push(output.unwrap().unwrap());
            }
            assert_eq!(wait_for(Duration::from_secs(5), stream.next()).await.unwrap(), None);
            assert_eq!(order, (0..30).rev().collect::<Vec<_>>());

            // Dropping a stream of borrowed handles leaves the tasks running.
            let done = Rc::new(Cell::new(0));
            let spawn_all = || -> Vec<_> {
                (0..20u64)
                    .map(|i| {
                        let done = done.clone();
                        ringloop::spawn(async move {
                            ringloop::sleep(Duration::from_millis(5 + i)).await;
                            done.set(done.get() + 1);
                        })
                    })
                    .collect()
            };
            let mut handles = spawn_all();
            let mut stream = as_completed(handles.iter_mut());
            assert_eq!(stream.next().await, Some(Ok(())));
            drop(stream);
            assert!(sleep_until_cond(Duration::from_secs(5), || done.get() == 20).await);
            drop(handles);

            // Dropping a stream that owns the handles cancels the unfinished tasks,
            // as dropping any `handle.await` does.
            let drops = Drops::new();
            let handles: Vec<_> = (0..20u64)
                .map(|i| {
                    let token = drops.token();
                    ringloop::spawn(async move {
                        let _token = token;
                        let ms = if i == 3 { 1 } else { 3_600_000 };
                        ringloop::sleep(Duration::from_millis(ms)).await;
                        i
                    })
                })
                .collect();
            let mut stream = as_completed(handles);
            assert_eq!(stream.next().await, Some(Ok(3)));
            drop(stream);
            assert!(yield_until(10, || drops.count() == 20).await, "not cancelled");
            let cancelled = ringloop::spawn(std::future::pending::<()>());
            cancelled.cancel();
            assert_eq!(as_completed([cancelled]).next().await, Some(Err(JoinError::Cancelled)));
        });
    }
}

any_driver_test! {
    fn as_completed_with_a_timeout(mode) {
        mode.run(async {
            const HOUR_MS: u64 = 3_600_000;
            // Outputs in completion order until the timeout, then one TimeoutError
            // per unfinished future, which is dropped at the timeout.
            let drops = Drops::new();
            let futures = [HOUR_MS, 1, HOUR_MS, 2, HOUR_MS].map(|ms| {
                let token = drops.token();
                async move {
                    let _token = token;
                    after(ms, ms).await
                }
            });
            // 50 ms for futures of 1 and 2 ms, scaled (a VM under emulation ran
            // them more than 50 ms after the stream's first poll).
            let timeout = support::scaled(Duration::from_millis(50));
            let mut stream = as_completed(futures).with_timeout(timeout);
            assert_eq!(stream.len(), 5);
            assert_eq!(stream.next().await, Some(Ok(1)));
            assert_eq!(stream.next().await, Some(Ok(2)));
            assert_eq!(drops.count(), 2);
            let started = Instant::now();
            assert_eq!(stream.next().await, Some(Err(ringloop::TimeoutError)));
            assert!(started.elapsed() < Duration::from_secs(30));
            assert_eq!(drops.count(), 5, "the unfinished futures were not dropped at the timeout");
            assert_eq!(stream.size_hint(), (2, Some(2)));
            assert!(!stream.is_terminated());
            assert_eq!(stream.next().await, Some(Err(ringloop::TimeoutError)));
            assert_eq!(stream.next().await, Some(Err(ringloop::TimeoutError)));
            assert_eq!(stream.next().await, None);
            assert!(stream.is_terminated());
            assert_eq!(stream.next().await, None);

            // Everything done in time: no error, and the end comes at once.
            let polls = Rc::new(Cell::new(0));
            let futures = [yield_times(3, &polls, 'b'), yield_times(1, &polls, 'a')];
            let mut stream = as_completed(futures).with_timeout(Duration::from_secs(3600));
            assert_eq!(stream.next().await, Some(Ok('a')));
            assert_eq!(stream.next().await, Some(Ok('b')));
            assert_eq!(stream.next().await, None);

            // A zero timeout still takes what is ready at the first poll.
            let futures: Vec<Pin<Box<dyn Future<Output = u32>>>> =
                vec![Box::pin(std::future::pending()), Box::pin(async { 7 })];
            let mut stream = as_completed(futures).with_timeout(Duration::ZERO);
            assert_eq!(stream.next().await, Some(Ok(7)));
            assert_eq!(stream.next().await, Some(Err(ringloop::TimeoutError)));
            assert_eq!(stream.next().await, None);

            // Join handles: by value, cancelled at the timeout; borrowed, left running.
            let spawn_slow = |drops: &Drops| {
                let token = drops.token();
                ringloop::spawn(async move {
                    let _token = token;
                    after(40, ()).await
                })
            };
            let (kept_drops, given_drops) = (Drops::new(), Drops::new());
            let mut kept = [spawn_slow(&kept_drops), spawn_slow(&kept_drops)];
            let given = [spawn_slow(&given_drops), spawn_slow(&given_drops)];
            let mut borrowed = as_completed(kept.iter_mut()).with_timeout(Duration::from_millis(1));
            let mut owned = as_completed(given).with_timeout(Duration::from_millis(1));
            assert_eq!(owned.next().await, Some(Err(ringloop::TimeoutError)));
            assert_eq!(borrowed.next().await, Some(Err(ringloop::TimeoutError)));
            drop((owned, borrowed));
            assert!(yield_until(10, || given_drops.count() == 2).await, "the owned handles were not cancelled");
            for handle in kept {
                assert_eq!(wait_for(Duration::from_secs(5), handle).await, Ok(Ok(())));
            }
            assert_eq!(kept_drops.count(), 2);
        });
    }
}

any_driver_test! {
    fn as_completed_next_is_cancel_safe(mode) {
        mode.run(async {
            // Bounding each `next` by a timeout too short for most of them loses nothing.
            let mut stream = as_completed((0..40u64).map(|i| after(i % 9, i)));
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(5);
            while !stream.is_terminated() && Instant::now() < deadline {
                if let Ok(Some(i)) = wait_for(Duration::from_micros(300), stream.next()).await {
                    got.push(i);
                }
            }
            got.sort_unstable();
            assert_eq!(got, (0..40).collect::<Vec<_>>());
        });
    }
}

any_driver_test! {
    fn try_gather_ok_in_argument_order(mode) {
        mode.run(async {
            let log = RefCell::new(Vec::new());
            let step = |ms: u64, tag: &'static str| {
                let log = &log;
                async move {
                    ringloop::sleep(Duration::from_millis(ms)).await;
                    log.borrow_mut().push(tag);
                    Ok::<_, String>(tag)
                }
            };
            let result = try_gather!(step(40, "a"), step(0, "b"), step(20, "c"), async {
                Ok(3.5)
            })
            .await;
            assert_eq!(result, Ok(("a", "b", "c", 3.5)));
            assert_eq!(*log.borrow(), ["b", "c", "a"], "ran concurrently");
            assert_eq!(try_gather!(async { Ok::<_, ()>(1) },).await, Ok((1,)));

            let all = try_gather_all((0..100u64).map(|i| after((i * 13) % 17, Ok::<_, ()>(i))));
            let all = wait_for(Duration::from_secs(5), all).await.unwrap();
            assert_eq!(all, Ok((0..100).collect::<Vec<_>>()));
            let empty = try_gather_all(Vec::<std::future::Ready<Result<u8, ()>>>::new());
            assert_eq!(empty.await, Ok(vec![]));
        });
    }
}

any_driver_test! {
    fn try_gather_first_err_drops_the_rest_at_once(mode) {
        mode.run(async {
            let drops = Drops::new();
            let pending = |token: DropToken| async move {
                let _token = token;
                ringloop::sleep(Duration::from_secs(3600)).await;
                Ok::<u32, String>(0)
            };
            let failing = async {
                ringloop::sleep(Duration::from_millis(10)).await;
                Err::<u32, _>("boom".to_owned())
            };
            let start = Instant::now();
            let mut gathering = Box::pin(try_gather!(
                pending(drops.token()),
                failing,
                pending(drops.token()),
                async { Ok(1) }
            ));
            let result = wait_for(
                Duration::from_secs(5),
                poll_fn(|cx| gathering.as_mut().poll(cx)),
            )
            .await
            .unwrap();
            assert_eq!(result, Err("boom".to_owned()));
            assert!(start.elapsed() < support::scaled(Duration::from_secs(2)));
            assert_eq!(drops.count(), 2, "dropped before the gather returned");
            drop(gathering);

            // Two errors in the same poll: the earlier argument's.
            let result = try_gather!(
                async { Ok::<u8, u8>(0) },
                async { Err::<u8, u8>(1) },
                async { Err::<u8, u8>(2) }
            )
            .await;
            assert_eq!(result, Err(1));

            // try_gather_all, below and above the wake-tracking threshold; the `Ok`
            // outputs gathered so far are dropped too.
            for n in [6usize, 300] {
                let drops = Drops::new();
                let futures = (0..n).map(|i| {
                    let token = drops.token();
                    async move {
                        if i == n / 2 {
                            ringloop::sleep(Duration::from_millis(10)).await;
                            drop(token);
                            return Err(i);
                        }
                        if i % 3 == 0 {
                            return Ok(token);
                        }
                        ringloop::sleep(Duration::from_secs(3600)).await;
                        Ok(token)
                    }
                });
                // Polled by hand, so the gather is still alive when it returns.
                let mut gathering = Box::pin(try_gather_all(futures));
                let result = wait_for(
                    Duration::from_secs(5),
                    poll_fn(|cx| gathering.as_mut().poll(cx)),
                )
                .await;
                assert_eq!(result.unwrap().err(), Some(n / 2));
                assert_eq!(drops.count(), n, "n = {n}: everything dropped on return");
                drop(gathering);
            }
        });
    }
}

any_driver_test! {
    fn try_gather_all_thousands_each_polled_only_when_woken(mode) {
        const N: usize = 4000;
        mode.run(async {
            let polls = Rc::new(Cell::new(0));
            let futures = (0..N).map(|i| yield_times(i % 13, &polls, Ok::<_, ()>(i)));
            let all = wait_for(Duration::from_secs(10), try_gather_all(futures)).await.unwrap();
            assert!(all.unwrap().iter().copied().eq(0..N));
            let expected: usize = (0..N).map(|i| i % 13 + 1).sum();
            assert_eq!(polls.get(), expected);
        });
    }
}

any_driver_test! {
    fn try_gather_and_as_completed_randomized(mode) {
        mode.run(async {
            for seed in 0..200u64 {
                let mut rng = Rng::new(seed);
                let drops = Drops::new();
                let n = 1 + rng.below(40) as usize;
                let plans: Vec<(u64, bool)> =
                    (0..n).map(|_| (rng.below(6), rng.chance(10))).collect();
                let first_err = Rc::new(Cell::new(None::<usize>));
                let make = |i: usize| {
                    let (ms, fails) = plans[i];
                    let token = drops.token();
                    let first_err = first_err.clone();
                    async move {
                        let _token = token;
                        ringloop::sleep(Duration::from_millis(ms)).await;
                        if fails {
                            if first_err.get().is_none() {
                                first_err.set(Some(i));
                            }
                            return Err(i);
                        }
                        Ok(i)
                    }
                };
                let limit = if rng.chance(25) {
                    Duration::from_millis(rng.below(5))
                } else {
                    Duration::from_secs(5)
                };
                if rng.chance(50) {
                    let result = wait_for(limit, try_gather_all((0..n).map(make))).await;
                    if let Ok(result) = result {
                        match first_err.get() {
                            None => assert_eq!(result, Ok((0..n).collect()), "seed {seed}"),
                            // The first error seen is the one returned.
                            Some(i) => assert_eq!(result, Err(i), "seed {seed}"),
                        }
                    }
                } else {
                    let mut stream = as_completed((0..n).map(make));
                    let mut seen = Vec::new();
                    let _ = wait_for(limit, async {
                        while let Some(output) = stream.next().await {
                            seen.push(output.unwrap_or_else(|i| i));
                            if rng.chance(5) {
                                break;
                            }
                        }
                    })
                    .await;
                    let remaining = stream.len();
                    drop(stream);
                    assert_eq!(seen.len() + remaining, n, "seed {seed}");
                    let mut unique = seen.clone();
                    unique.sort_unstable();
                    unique.dedup();
                    assert_eq!(unique.len(), seen.len(), "seed {seed}: an output twice");
                }
                assert_eq!(drops.count(), n, "seed {seed}: every future dropped once");
            }
        });
    }
}
