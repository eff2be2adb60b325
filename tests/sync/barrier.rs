//! Barrier: arrival indices, cyclic rounds, n_waiting/parties/broken, abort and
//! reset (also while a round drains), a waiter cancelled while the barrier fills,
//! and randomized cancel schedules. asyncio's own scenarios are in
//! `barrier_asyncio.rs`.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::sync::{Barrier, BrokenBarrierError};

use super::*;
use crate::support::{poll_once, Rng};

any_driver_test! {
    fn barrier_rounds_and_indices(mode) {
        mode.run(async {
            let barrier = Barrier::new(3);
            assert_eq!((barrier.parties(), barrier.n_waiting(), barrier.broken()), (3, 0, false));
            for round in 0..3 {
                let mut a = barrier.wait();
                let mut b = barrier.wait();
                assert!(poll_once(&mut a).is_pending());
                assert_eq!(barrier.n_waiting(), 1);
                assert!(poll_once(&mut b).is_pending());
                assert_eq!(barrier.n_waiting(), 2);
                assert!(format!("{barrier:?}").contains("n_waiting: 2"), "{barrier:?}");
                // The third arrival completes the round and gets parties - 1.
                assert_eq!(barrier.wait().await, Ok(2), "round {round}");
                assert_eq!(barrier.n_waiting(), 0, "ready for the next round at once");
                assert_eq!(poll_once(&mut a), Poll::Ready(Ok(0)));
                assert_eq!(poll_once(&mut b), Poll::Ready(Ok(1)));
            }
            // Tasks: each index once.
            let tasks = (0..3).map(|_| {
                let barrier = barrier.clone();
                ringloop::spawn(async move { barrier.wait().await })
            });
            let mut indices: Vec<_> = ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("barrier hung")
                .into_iter()
                .map(|r| r.unwrap().unwrap())
                .collect();
            indices.sort_unstable();
            assert_eq!(indices, [0, 1, 2]);
            // parties == 0 behaves as 1.
            let one = Barrier::new(0);
            assert_eq!(one.parties(), 1);
            assert_eq!(one.wait().await, Ok(0));
        });
    }
}

any_driver_test! {
    fn barrier_abort_and_reset(mode) {
        mode.run(async {
            let barrier = Barrier::new(3);
            let mut a = barrier.wait();
            assert!(poll_once(&mut a).is_pending());
            barrier.abort();
            assert!(barrier.broken());
            assert_eq!(barrier.n_waiting(), 0);
            assert_eq!(poll_once(&mut a), Poll::Ready(Err(BrokenBarrierError)));
            assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
            assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
            // reset repairs it.
            barrier.reset();
            assert!(!barrier.broken());
            let mut a = barrier.wait();
            let mut b = barrier.wait();
            assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
            // reset sends the waiting tasks away, without breaking the barrier.
            barrier.reset();
            assert!(!barrier.broken());
            assert_eq!(barrier.n_waiting(), 0);
            assert_eq!(poll_once(&mut a), Poll::Ready(Err(BrokenBarrierError)));
            assert_eq!(poll_once(&mut b), Poll::Ready(Err(BrokenBarrierError)));
            // A round after the reset needs all three parties again.
            let mut a = barrier.wait();
            let mut b = barrier.wait();
            assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
            assert_eq!(barrier.wait().await, Ok(2));
            assert_eq!(poll_once(&mut a), Poll::Ready(Ok(0)));
            assert_eq!(poll_once(&mut b), Poll::Ready(Ok(1)));
            // A round that has passed, but whose released tasks have not run yet, is
            // broken for them by an abort (asyncio: they check the state as they
            // run); the task that completed it had passed.
            let mut a = barrier.wait();
            assert!(poll_once(&mut a).is_pending());
            let mut b = barrier.wait();
            assert!(poll_once(&mut b).is_pending());
            let mut c = barrier.wait();
            assert_eq!(poll_once(&mut c), Poll::Ready(Ok(2)));
            assert!(format!("{barrier:?}").contains("Draining"), "{barrier:?}");
            barrier.abort();
            assert_eq!(poll_once(&mut a), Poll::Ready(Err(BrokenBarrierError)));
            assert_eq!(poll_once(&mut b), Poll::Ready(Err(BrokenBarrierError)));
            assert!(barrier.broken());
            barrier.reset();
            assert!(format!("{barrier:?}").contains("Filling"), "{barrier:?}");
            assert_eq!(BrokenBarrierError.to_string(), "the barrier is broken (aborted, or reset while waiting)");
        });
    }
}

any_driver_test! {
    fn barrier_waiter_cancelled_while_filling(mode) {
        mode.run(async {
            let barrier = Barrier::new(2);
            // A waiting future dropped: the count goes down again.
            let mut a = barrier.wait();
            assert!(poll_once(&mut a).is_pending());
            assert_eq!(barrier.n_waiting(), 1);
            drop(a);
            assert_eq!(barrier.n_waiting(), 0);
            // A waiting task cancelled: the same.
            let task = {
                let barrier = barrier.clone();
                ringloop::spawn(async move { barrier.wait().await })
            };
            ringloop::yield_now().await;
            assert_eq!(barrier.n_waiting(), 1);
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
            assert_eq!(barrier.n_waiting(), 0);
            // So the next two arrivals make a round, with indices 0 and 1.
            let log = Rc::new(RefCell::new(Vec::new()));
            let tasks = (0..2).map(|_| {
                let (barrier, log) = (barrier.clone(), log.clone());
                ringloop::spawn(async move {
                    let passed = barrier.wait().await;
                    log.borrow_mut().push(passed);
                })
            });
            ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("barrier hung");
            let mut log: Vec<usize> = log.borrow().iter().map(|r| r.unwrap()).collect();
            log.sort_unstable();
            assert_eq!(log, [0, 1]);
            // Indices stay distinct when a waiter between two others leaves.
            let barrier = Barrier::new(3);
            let mut a = barrier.wait();
            let mut b = barrier.wait();
            let mut c = barrier.wait();
            assert!(poll_once(&mut a).is_pending());
            assert!(poll_once(&mut b).is_pending());
            drop(a);
            assert!(poll_once(&mut c).is_pending());
            assert_eq!(barrier.wait().await, Ok(2));
            assert_eq!(poll_once(&mut b), Poll::Ready(Ok(0)));
            assert_eq!(poll_once(&mut c), Poll::Ready(Ok(1)));
            // A waiter released by the round and dropped before it ran changes nothing.
            let mut a = barrier.wait();
            let mut b = barrier.wait();
            assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
            assert_eq!(barrier.wait().await, Ok(2));
            drop(a);
            assert_eq!(poll_once(&mut b), Poll::Ready(Ok(1)));
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}

const PARTIES: usize = 3;

/// What the test knows about a [`Barrier`] in a randomized schedule.
#[derive(Default)]
struct Tracker {
    /// Completed rounds.
    rounds: Cell<usize>,
    /// `(round, index)` of every pass that was observed.
    log: RefCell<Vec<(usize, usize)>>,
}

/// Waits on `barrier`, watching how it counts. A poll either leaves the wait
/// outside (the barrier drains or resets: `n_waiting` is 0), or lets it in (one
/// more waiting), or completes the round (it was the `PARTIES`-th: index
/// `PARTIES - 1`, and the barrier drains: `n_waiting` is 0); `n_waiting` never
/// reaches `PARTIES`. Logs `(round, index)` of a pass, where `round` is how many
/// rounds had completed when the task got in.
async fn tracked_wait(barrier: &Barrier, t: &Tracker) -> Result<usize, BrokenBarrierError> {
    let mut wait = barrier.wait();
    let mut entered = None;
    poll_fn(|cx| {
        let before = barrier.n_waiting();
        let rounds = t.rounds.get();
        let poll = Pin::new(&mut wait).poll(cx);
        let after = barrier.n_waiting();
        assert!(after < PARTIES, "n_waiting {after}");
        match &poll {
            Poll::Pending => {
                if entered.is_none() && after == before + 1 {
                    entered = Some(rounds);
                }
            }
            Poll::Ready(Ok(index)) => {
                let round = match entered {
                    Some(round) => round,
                    None => {
                        assert_eq!((before, *index, after), (PARTIES - 1, PARTIES - 1, 0));
                        t.rounds.set(rounds + 1);
                        rounds
                    }
                };
                t.log.borrow_mut().push((round, *index));
            }
            Poll::Ready(Err(_)) => {}
        }
        poll
    })
    .await
}

/// One seeded schedule: workers loop on `wait()` (some waits abandoned, some
/// workers cancelled, now and then a `reset()`) until enough rounds have passed and
/// the barrier is aborted. The barrier must complete each round at its
/// `PARTIES`-th arrival, hand out distinct indices, and count its tasks exactly (a
/// dropped waiter leaves): once everyone is gone, a reset makes it empty, and a
/// fresh round passes.
async fn barrier_schedule(seed: u64) {
    const WORKERS: u64 = 7;
    const ROUNDS: usize = 15;
    let barrier = Barrier::new(PARTIES);
    let tracker = Rc::new(Tracker::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (barrier, tracker) = (barrier.clone(), tracker.clone());
            let mut rng = Rng::new(seed.wrapping_mul(1000).wrapping_add(i));
            ringloop::spawn(async move {
                loop {
                    let wait = tracked_wait(&barrier, &tracker);
                    match maybe_abandon(&mut rng, wait).await {
                        Some(Err(BrokenBarrierError)) if barrier.broken() => return,
                        Some(_) | None => {}
                    }
                    yield_some(&mut rng, 4).await;
                }
            })
        })
        .collect();
    let mut rng = Rng::new(seed);
    // Keep at least PARTIES workers, so rounds keep filling.
    let cancelled = cancel_some(&mut rng, &workers[PARTIES..], 40).await;
    let progress = async {
        while tracker.rounds.get() < ROUNDS {
            if rng.chance(3) {
                barrier.reset();
            }
            ringloop::yield_now().await;
        }
    };
    ringloop::wait_for(SCHEDULE_LIMIT, progress)
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: rounds stopped at {}", tracker.rounds.get()));
    barrier.abort();
    let results = ringloop::wait_for(SCHEDULE_LIMIT, ringloop::gather_all(workers))
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: a worker hung after abort"));
    for (i, result) in results.iter().enumerate() {
        if let Err(e) = result {
            assert!(
                i >= PARTIES && cancelled[i - PARTIES] && e.is_cancelled(),
                "seed {seed}: worker {i} failed: {e}"
            );
        }
    }
    // Per round: distinct indices, the last one exactly once. (Waiters released by
    // a round but dropped before they ran are missing from the log.)
    let mut by_round = vec![Vec::new(); tracker.rounds.get()];
    for &(round, index) in tracker.log.borrow().iter() {
        assert!(
            round < by_round.len(),
            "seed {seed}: a pass in unfinished round {round}"
        );
        by_round[round].push(index);
    }
    for (round, indices) in by_round.iter_mut().enumerate() {
        indices.sort_unstable();
        let before = indices.len();
        indices.dedup();
        assert_eq!(
            indices.len(),
            before,
            "seed {seed}: round {round} repeated an index"
        );
        assert_eq!(
            indices.last(),
            Some(&(PARTIES - 1)),
            "seed {seed}: round {round}"
        );
    }
    // Nobody is left inside: a reset empties the barrier at once, and a round
    // passes (a count left behind would keep it resetting, or trip it early).
    barrier.reset();
    assert!(
        format!("{barrier:?}").contains("Filling"),
        "seed {seed}: {barrier:?}"
    );
    assert_eq!(barrier.n_waiting(), 0, "seed {seed}");
    let round = (0..PARTIES).map(|_| {
        let barrier = barrier.clone();
        ringloop::spawn(async move { barrier.wait().await })
    });
    let mut indices: Vec<_> = ringloop::wait_for(SCHEDULE_LIMIT, ringloop::gather_all(round))
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: the last round hung"))
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..PARTIES).collect::<Vec<_>>(), "seed {seed}");
}

any_driver_test! {
    fn barrier_random_cancel_schedules(mode) {
        mode.run(async {
            let before = dropped_after_wake();
            for seed in 0..SEEDS {
                barrier_schedule(seed).await;
            }
            // The schedules reach the delicate state: woken (handed something), then
            // dropped before being polled again.
            let hits = dropped_after_wake() - before;
            eprintln!("barrier: {hits} waiters dropped after a wake");
            assert!(hits >= SEEDS / 10, "only {hits} waiters dropped after a wake");
        });
    }
}

any_driver_test! {
    fn a_completed_barrier_wait_polled_again_panics(mode) {
        mode.run(async {
            let barrier = Barrier::new(1);
            let mut wait = Box::pin(barrier.wait());
            assert_eq!(poll_once(&mut wait), Poll::Ready(Ok(0)));
            // Polling it again must not arrive at the next round unnoticed.
            let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                poll_once(&mut wait)
            }));
            assert!(again.is_err(), "a second poll arrived again: {again:?}");
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}
