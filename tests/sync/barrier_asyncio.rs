//! Barrier against asyncio's own scenarios (CPython 3.13,
//! `Lib/test/test_asyncio/test_locks.py`, `BarrierTests`), translated; above all
//! the ones where the barrier is reset or aborted while a round drains (its
//! released tasks have not all run yet): those tasks see the reset or the abort,
//! tasks arriving meanwhile wait for the drain, and nobody is left blocked.
//!
//! `async with barrier as i` is `let i = barrier.wait().await?`, `await
//! asyncio.sleep(0)` a `yield_now()`, and a coroutine's `nonlocal` counters are
//! `Rc<Cell<usize>>`s.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::{Barrier, BrokenBarrierError};

use super::*;

/// asyncio's test barrier size.
const N: usize = 5;

/// Runs `n` tasks made by `coro` and returns their outputs; panics if they have
/// not all finished within a generous limit (a task left blocked forever).
async fn gather_tasks<F, Fut>(n: usize, coro: F) -> Vec<Fut::Output>
where
    F: Fn() -> Fut,
    Fut: Future + 'static,
    Fut::Output: 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| ringloop::spawn(coro())).collect();
    ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
        .await
        .expect("a task was left blocked on the barrier")
        .into_iter()
        .map(|r| r.expect("a task failed"))
        .collect()
}

fn counter() -> Rc<Cell<usize>> {
    Rc::default()
}

fn bump(c: &Cell<usize>) -> usize {
    c.set(c.get() + 1);
    c.get()
}

fn state(barrier: &Barrier) -> String {
    format!("{barrier:?}")
}

any_driver_test! {
    // test_reset_barrier_while_tasks_draining: the last task out of a round resets
    // the barrier (nobody is inside any more: the others are waiting for the next
    // round, which the reset does not break), then everyone passes twice more.
    fn reset_by_the_last_task_out_of_a_round(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let (count, second, broken, last) = (counter(), counter(), counter(), counter());
            gather_tasks(N, || {
                let (barrier, count, second, broken, last) = (
                    barrier.clone(), count.clone(), second.clone(), broken.clone(), last.clone(),
                );
                async move {
                    barrier.wait().await.unwrap();
                    if bump(&count) == N {
                        barrier.reset();
                        barrier.wait().await.unwrap();
                    } else {
                        match barrier.wait().await {
                            Ok(_) => bump(&second),
                            Err(BrokenBarrierError) => bump(&broken),
                        };
                    }
                    barrier.wait().await.unwrap();
                    bump(&last);
                }
            })
            .await;
            assert!(!barrier.broken());
            assert_eq!((second.get(), broken.get(), last.get()), (N - 1, 0, N));
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}

any_driver_test! {
    // test_reset_barrier_when_tasks_half_draining: once three released tasks have
    // run, the third resets the barrier; the two released ones that have not run
    // yet get BrokenBarrierError.
    fn reset_while_half_drained_breaks_the_rest(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let rest_of_tasks = N / 2;
            let (passed, broken) = (counter(), counter());
            gather_tasks(N, || {
                let (barrier, passed, broken) = (barrier.clone(), passed.clone(), broken.clone());
                async move {
                    match barrier.wait().await {
                        Err(BrokenBarrierError) => {
                            bump(&broken);
                        }
                        Ok(_) => {
                            if bump(&passed) == N - rest_of_tasks {
                                barrier.reset();
                            }
                        }
                    }
                }
            })
            .await;
            assert_eq!(broken.get(), rest_of_tasks);
            assert_eq!(barrier.n_waiting(), 0);
            assert!(!state(&barrier).contains("Resetting"), "{barrier:?}");
            assert!(!barrier.broken());
        });
    }
}

any_driver_test! {
    // test_reset_barrier_when_tasks_half_draining_half_blocking: the first two
    // released tasks wait again (they wait for the drain); the third resets and
    // waits again; the two released tasks not yet run are broken and wait again:
    // the five make the next round.
    fn reset_while_draining_with_tasks_waiting_for_the_drain(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let blocking_tasks = N / 2;
            let (count, broken_released, broken_blocked) = (counter(), counter(), counter());
            gather_tasks(N, || {
                let (barrier, count, broken_released, broken_blocked) = (
                    barrier.clone(),
                    count.clone(),
                    broken_released.clone(),
                    broken_blocked.clone(),
                );
                async move {
                    match barrier.wait().await {
                        Err(BrokenBarrierError) => {
                            bump(&broken_released);
                            barrier.wait().await.unwrap();
                        }
                        Ok(_) if bump(&count) > blocking_tasks => {
                            barrier.reset();
                            barrier.wait().await.unwrap();
                        }
                        Ok(_) => {
                            if barrier.wait().await.is_err() {
                                bump(&broken_blocked);
                            }
                        }
                    }
                }
            })
            .await;
            assert_eq!(broken_released.get(), blocking_tasks);
            assert_eq!(broken_blocked.get(), 0);
            assert_eq!(barrier.n_waiting(), 0);
            assert!(!state(&barrier).contains("Resetting"), "{barrier:?}");
            assert!(!barrier.broken());
        });
    }
}

any_driver_test! {
    // test_abort_barrier_when_tasks_half_draining_half_blocking: the first two
    // released tasks wait again (for the drain); the third aborts: the two
    // released tasks not yet run and the two waiting for the drain are broken.
    fn abort_while_draining_with_tasks_waiting_for_the_drain(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let blocking_tasks = N / 2;
            let (count, broken_released, broken_blocked) = (counter(), counter(), counter());
            gather_tasks(N, || {
                let (barrier, count, broken_released, broken_blocked) = (
                    barrier.clone(),
                    count.clone(),
                    broken_released.clone(),
                    broken_blocked.clone(),
                );
                async move {
                    match barrier.wait().await {
                        Err(BrokenBarrierError) => {
                            bump(&broken_released);
                        }
                        Ok(_) if bump(&count) > blocking_tasks => barrier.abort(),
                        Ok(_) => {
                            if barrier.wait().await.is_err() {
                                bump(&broken_blocked);
                            }
                        }
                    }
                }
            })
            .await;
            assert!(barrier.broken());
            assert_eq!(broken_released.get(), blocking_tasks);
            assert_eq!(broken_blocked.get(), N - blocking_tasks - 1);
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}

any_driver_test! {
    // test_blocking_tasks_while_draining: two released tasks wait again at once
    // (they wait for the drain), the three others first meet at a second barrier;
    // the five make the next round.
    fn tasks_arriving_while_draining_wait_for_the_next_round(mode) {
        mode.run(async {
            let rewait = 2;
            let barrier = Barrier::new(N);
            let others = Barrier::new(N - rewait);
            let rewaited = counter();
            let indices = gather_tasks(N, || {
                let (barrier, others, rewaited) = (barrier.clone(), others.clone(), rewaited.clone());
                async move {
                    barrier.wait().await.unwrap();
                    if rewaited.get() < rewait {
                        bump(&rewaited);
                    } else {
                        others.wait().await.unwrap();
                    }
                    barrier.wait().await.unwrap()
                }
            })
            .await;
            let mut indices = indices;
            indices.sort_unstable();
            assert_eq!(indices, [0, 1, 2, 3, 4]);
        });
    }
}

any_driver_test! {
    // test_draining_state: every task but the last one out sees the barrier
    // draining.
    fn the_barrier_drains_until_the_last_task_is_out(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
            gather_tasks(N, || {
                let (barrier, seen) = (barrier.clone(), seen.clone());
                async move {
                    barrier.wait().await.unwrap();
                    seen.borrow_mut().push(state(&barrier).contains("Draining"));
                }
            })
            .await;
            assert_eq!(*seen.borrow(), [true, true, true, true, false]);
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}

any_driver_test! {
    // test_reset_barrier_while_tasks_waiting and
    // test_reset_barrier_while_tasks_waiting_and_waiting_again: a reset breaks the
    // waiting tasks; they wait again and pass with a newcomer.
    fn reset_while_waiting_then_waiting_again(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let (broken, passed) = (counter(), counter());
            let tasks: Vec<_> = (0..N - 1)
                .map(|_| {
                    let (barrier, broken, passed) = (barrier.clone(), broken.clone(), passed.clone());
                    ringloop::spawn(async move {
                        if barrier.wait().await.is_err() {
                            bump(&broken);
                        }
                        barrier.wait().await.unwrap();
                        bump(&passed);
                    })
                })
                .collect();
            ringloop::yield_now().await;
            assert_eq!(barrier.n_waiting(), N - 1);
            barrier.reset();
            assert!(state(&barrier).contains("Resetting"), "{barrier:?}");
            assert_eq!(barrier.n_waiting(), 0);
            let late = {
                let (barrier, passed) = (barrier.clone(), passed.clone());
                ringloop::spawn(async move {
                    barrier.wait().await.unwrap();
                    bump(&passed);
                })
            };
            let all = tasks.into_iter().chain([late]);
            ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(all))
                .await
                .expect("a task was left blocked on the barrier");
            assert!(!barrier.broken());
            assert_eq!((broken.get(), passed.get()), (N - 1, N));
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}

any_driver_test! {
    // test_abort_barrier_when_exception: the task with index N/2 aborts instead of
    // waiting again; everyone else is broken, in the first round (released, not yet
    // run) or the second.
    fn abort_by_one_task_breaks_everyone_else(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let (passed, broken) = (counter(), counter());
            gather_tasks(N, || {
                let (barrier, passed, broken) = (barrier.clone(), passed.clone(), broken.clone());
                async move {
                    let result = match barrier.wait().await {
                        Ok(i) if i == N / 2 => {
                            barrier.abort();
                            return;
                        }
                        Ok(_) => barrier.wait().await,
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(_) => bump(&passed),
                        Err(BrokenBarrierError) => bump(&broken),
                    };
                }
            })
            .await;
            assert!(barrier.broken());
            assert_eq!((passed.get(), broken.get()), (0, N - 1));
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}

any_driver_test! {
    // test_abort_barrier_when_exception_then_resetting: as above, then everyone
    // meets at a second barrier, one resets the first, and all pass it.
    fn abort_then_reset_between_two_barriers(mode) {
        mode.run(async {
            let (b1, b2) = (Barrier::new(N), Barrier::new(N));
            let (passed, broken, last) = (counter(), counter(), counter());
            gather_tasks(N, || {
                let (b1, b2) = (b1.clone(), b2.clone());
                let (passed, broken, last) = (passed.clone(), broken.clone(), last.clone());
                async move {
                    match b1.wait().await {
                        Ok(i) if i == N / 2 => b1.abort(),
                        Ok(_) => match b1.wait().await {
                            Ok(_) => {
                                bump(&passed);
                            }
                            Err(_) => {
                                bump(&broken);
                            }
                        },
                        Err(_) => {
                            bump(&broken);
                        }
                    }
                    // Everyone out of b1 before the reset, nobody back in before it.
                    if b2.wait().await.unwrap() == N / 2 {
                        b1.reset();
                    }
                    b2.wait().await.unwrap();
                    b1.wait().await.unwrap();
                    bump(&last);
                }
            })
            .await;
            assert!(!b1.broken());
            assert_eq!((passed.get(), broken.get(), last.get()), (0, N - 1, N));
            assert_eq!(b1.n_waiting(), 0);
        });
    }
}

any_driver_test! {
    // test_filling_tasks_cancel_one: a waiter cancelled while the barrier fills
    // leaves it; the round needs one more task.
    fn a_task_cancelled_while_filling_leaves_the_round(mode) {
        mode.run(async {
            let barrier = Barrier::new(3);
            let passed = counter();
            let spawn_one = || {
                let (barrier, passed) = (barrier.clone(), passed.clone());
                ringloop::spawn(async move {
                    barrier.wait().await.unwrap();
                    bump(&passed);
                })
            };
            let t1 = spawn_one();
            ringloop::yield_now().await;
            assert_eq!(barrier.n_waiting(), 1);
            let t2 = spawn_one();
            ringloop::yield_now().await;
            assert_eq!(barrier.n_waiting(), 2);
            t1.cancel();
            assert!(t1.await.unwrap_err().is_cancelled());
            assert_eq!(barrier.n_waiting(), 1);
            let t3 = spawn_one();
            ringloop::yield_now().await;
            assert_eq!(barrier.n_waiting(), 2);
            let t4 = spawn_one();
            ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all([t2, t3, t4]))
                .await
                .expect("a task was left blocked on the barrier");
            assert_eq!(passed.get(), 3);
            assert_eq!(barrier.n_waiting(), 0);
            assert!(!barrier.broken());
        });
    }
}

any_driver_test! {
    // test_filling_tasks_wait_twice, test_filling_tasks_check_return_value,
    // test_filling_one_task_twice, test_reset_barrier, test_abort_barrier.
    fn rounds_back_to_back_and_the_simple_cases(mode) {
        mode.run(async {
            let barrier = Barrier::new(N);
            let firsts = counter();
            let mut seconds = gather_tasks(N, || {
                let (barrier, firsts) = (barrier.clone(), firsts.clone());
                async move {
                    barrier.wait().await.unwrap();
                    bump(&firsts);
                    barrier.wait().await.unwrap()
                }
            })
            .await;
            seconds.sort_unstable();
            assert_eq!((firsts.get(), seconds), (N, vec![0, 1, 2, 3, 4]));
            assert_eq!(barrier.n_waiting(), 0);
            assert!(!barrier.broken());

            let one = Barrier::new(1);
            assert_eq!(one.wait().await, Ok(0));
            assert_eq!(one.wait().await, Ok(0));
            assert_eq!(one.n_waiting(), 0);
            one.reset();
            assert_eq!((one.n_waiting(), one.broken()), (0, false));
            one.abort();
            assert_eq!((one.n_waiting(), one.broken()), (0, true));
            assert_eq!(one.wait().await, Err(BrokenBarrierError));
        });
    }
}

any_driver_test! {
    // test_repr's walk through the states: filling, draining once the round
    // completes (newcomers wait for the drain, outside the count), resetting when
    // reset with tasks inside, broken after an abort, and filling again after a
    // reset once everyone has gone.
    fn the_states_one_after_the_other(mode) {
        mode.run(async {
            use std::pin::pin;
            use std::task::Poll;

            use crate::support::poll_once;

            let barrier = Barrier::new(3);
            assert!(state(&barrier).contains("Filling"));
            let mut a = Box::pin(barrier.wait());
            let mut b = Box::pin(barrier.wait());
            assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
            assert_eq!(barrier.n_waiting(), 2);
            assert_eq!(barrier.wait().await, Ok(2));
            assert!(state(&barrier).contains("Draining"), "{barrier:?}");
            assert_eq!(barrier.n_waiting(), 0);
            // A newcomer waits for the drain, and is not counted.
            let mut c = Box::pin(barrier.wait());
            assert!(poll_once(&mut c).is_pending());
            assert_eq!(barrier.n_waiting(), 0);
            // a leaves the drain; a reset with b still inside: resetting, and b
            // (released, not yet run) is broken.
            assert_eq!(poll_once(&mut a), Poll::Ready(Ok(0)));
            barrier.reset();
            assert!(state(&barrier).contains("Resetting"), "{barrier:?}");
            assert!(poll_once(&mut c).is_pending(), "c waits for the reset too");
            barrier.abort();
            assert!(state(&barrier).contains("Broken") && barrier.broken());
            assert_eq!(poll_once(&mut b), Poll::Ready(Err(BrokenBarrierError)));
            assert_eq!(poll_once(&mut c), Poll::Ready(Err(BrokenBarrierError)));
            barrier.reset();
            assert!(state(&barrier).contains("Filling"), "{barrier:?}");
            // A waiter dropped while waiting for a drain leaves no trace.
            let mut d = Box::pin(barrier.wait());
            let mut e = Box::pin(barrier.wait());
            assert!(poll_once(&mut d).is_pending() && poll_once(&mut e).is_pending());
            assert_eq!(barrier.wait().await, Ok(2));
            {
                let mut f = pin!(barrier.wait());
                assert!(poll_once(&mut f).is_pending());
            }
            drop(d);
            assert_eq!(poll_once(&mut e), Poll::Ready(Ok(1)));
            assert!(state(&barrier).contains("Filling"), "{barrier:?}");
            assert_eq!(barrier.n_waiting(), 0);
        });
    }
}
