//! Semaphore and BoundedSemaphore: counting, FIFO hand-off (no barging),
//! release/forget, the bounded over-release error, a permit handed to a waiter
//! dropped before it runs, and randomized cancel schedules.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::sync::{BoundedSemaphore, Semaphore, TooManyReleasesError};

use super::*;
use crate::support::{poll_once, Rng};

any_driver_test! {
    fn semaphore_methods(mode) {
        mode.run(async {
            let sem = Semaphore::new(2);
            assert_eq!(sem.available_permits(), 2);
            assert!(!sem.locked());
            let a = sem.acquire().await;
            let b = sem.try_acquire().expect("a second permit");
            assert!(sem.locked());
            assert_eq!(sem.available_permits(), 0);
            assert!(sem.try_acquire().is_none());
            assert!(format!("{sem:?}").contains("permits: 0"), "{sem:?}");
            drop(a);
            assert_eq!(sem.available_permits(), 1);
            // forget keeps the permit taken; release adds one.
            b.forget();
            assert_eq!(sem.available_permits(), 1);
            sem.release();
            assert_eq!(sem.available_permits(), 2);
            // An unbounded semaphore may grow past its initial value, as in asyncio.
            sem.release();
            assert_eq!(sem.available_permits(), 3);
            // A clone is a handle to the same semaphore.
            let other = sem.clone();
            let _p = other.try_acquire().unwrap();
            assert_eq!(sem.available_permits(), 2);
            // Zero permits: acquire waits until a release.
            let zero = Semaphore::new(0);
            assert!(zero.locked());
            let mut acquire = zero.acquire();
            assert!(poll_once(&mut acquire).is_pending());
            zero.release();
            assert_eq!(zero.available_permits(), 0, "handed to the waiter");
            assert!(matches!(poll_once(&mut acquire), Poll::Ready(_)));
            assert_eq!(zero.available_permits(), 1, "the permit was dropped");
        });
    }
}

any_driver_test! {
    fn semaphore_is_fifo_and_newcomers_do_not_barge(mode) {
        mode.run(async {
            let sem = Semaphore::new(2);
            let order = Rc::new(RefCell::new(Vec::new()));
            let held = (sem.acquire().await, sem.acquire().await);
            let tasks: Vec<_> = (0..10)
                .map(|i| {
                    let (sem, order) = (sem.clone(), order.clone());
                    ringloop::spawn(async move {
                        let _permit = sem.acquire().await;
                        order.borrow_mut().push(i);
                        ringloop::yield_now().await;
                    })
                })
                .collect();
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            assert!(order.borrow().is_empty());
            drop(held);
            // Both permits went to the two oldest waiters: none for a newcomer.
            assert_eq!(sem.available_permits(), 0);
            assert!(sem.try_acquire().is_none());
            let late = {
                let (sem, order) = (sem.clone(), order.clone());
                ringloop::spawn(async move {
                    let _permit = sem.acquire().await;
                    order.borrow_mut().push(99);
                })
            };
            ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("waiters hung");
            late.await.unwrap();
            let expected: Vec<i32> = (0..10).chain([99]).collect();
            assert_eq!(*order.borrow(), expected);
            assert_eq!(sem.available_permits(), 2);
        });
    }
}

any_driver_test! {
    fn semaphore_permit_handed_to_a_dropped_waiter_passes_on(mode) {
        mode.run(async {
            let sem = Semaphore::new(1);
            let held = sem.try_acquire().unwrap();
            let mut a = sem.acquire();
            let mut b = sem.acquire();
            assert!(poll_once(&mut a).is_pending());
            assert!(poll_once(&mut b).is_pending());
            drop(held); // handed to `a`
            assert_eq!(sem.available_permits(), 0);
            drop(a); // never polled again: the permit passes to `b`
            assert_eq!(sem.available_permits(), 0);
            let Poll::Ready(permit) = poll_once(&mut b) else {
                panic!("b was not handed the permit");
            };
            drop(permit);
            assert_eq!(sem.available_permits(), 1);
            // The last waiter dropped after a hand-off: the permit returns to the count.
            let held = sem.try_acquire().unwrap();
            let mut c = sem.acquire();
            assert!(poll_once(&mut c).is_pending());
            drop(held);
            drop(c);
            assert_eq!(sem.available_permits(), 1);
            // A release() handed to a waiter that is then dropped is not lost either.
            let zero = Semaphore::new(0);
            let mut d = zero.acquire();
            assert!(poll_once(&mut d).is_pending());
            zero.release();
            drop(d);
            assert_eq!(zero.available_permits(), 1);
            drop(b);
        });
    }
}

any_driver_test! {
    fn semaphore_waiter_task_cancelled_after_hand_off(mode) {
        mode.run(async {
            let sem = Semaphore::new(1);
            let held = sem.acquire().await;
            let got = Rc::new(Cell::new(0));
            let spawn_waiter = || {
                let (sem, got) = (sem.clone(), got.clone());
                ringloop::spawn(async move {
                    let _permit = sem.acquire().await;
                    got.set(got.get() + 1);
                })
            };
            let first = spawn_waiter();
            let second = spawn_waiter();
            ringloop::yield_now().await;
            drop(held);
            first.cancel();
            assert!(first.await.unwrap_err().is_cancelled());
            ringloop::wait_for(Duration::from_secs(5), second)
                .await
                .expect("the permit was lost with the cancelled task")
                .unwrap();
            assert_eq!(got.get(), 1);
            assert_eq!(sem.available_permits(), 1);
        });
    }
}

any_driver_test! {
    fn bounded_semaphore_over_release_is_an_error(mode) {
        mode.run(async {
            let sem = BoundedSemaphore::new(2);
            assert_eq!(sem.release(), Err(TooManyReleasesError));
            assert_eq!(sem.available_permits(), 2);
            assert_eq!(
                TooManyReleasesError.to_string(),
                "BoundedSemaphore released too many times"
            );
            let a = sem.acquire().await;
            let b = sem.try_acquire().unwrap();
            assert!(sem.locked() && sem.try_acquire().is_none());
            assert!(format!("{sem:?}").starts_with("BoundedSemaphore"), "{sem:?}");
            // Manual style: forget the permit, release later.
            a.forget();
            assert_eq!(sem.release(), Ok(()));
            assert_eq!(sem.available_permits(), 1);
            // A release to a waiter is fine while below the bound.
            let mut waiter = sem.acquire();
            let _c = sem.try_acquire().unwrap();
            assert!(poll_once(&mut waiter).is_pending());
            b.forget();
            assert_eq!(sem.release(), Ok(()));
            assert!(matches!(poll_once(&mut waiter), Poll::Ready(_)));
            // Released for a permit that is still alive: that permit's drop stays at
            // the bound instead of exceeding it.
            let sem = BoundedSemaphore::new(1);
            let permit = sem.try_acquire().unwrap();
            assert_eq!(sem.release(), Ok(()));
            assert_eq!(sem.release(), Err(TooManyReleasesError));
            drop(permit);
            assert_eq!(sem.available_permits(), 1);
            // Bound zero: nothing to release, ever.
            let zero = BoundedSemaphore::new(0);
            assert!(zero.locked());
            assert_eq!(zero.release(), Err(TooManyReleasesError));
        });
    }
}

/// One seeded schedule over a semaphore of `PERMITS`, as the lock's: holders never
/// exceed the permits, and every permit comes back.
async fn semaphore_schedule(seed: u64) {
    const PERMITS: usize = 3;
    const TASKS: u64 = 10;
    const ROUNDS: usize = 8;
    let sem = Semaphore::new(PERMITS);
    let holders = Rc::new(Cell::new(0));
    let most = Rc::new(Cell::new(0));
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let (sem, holders, most) = (sem.clone(), holders.clone(), most.clone());
            let mut rng = Rng::new(seed.wrapping_mul(1000).wrapping_add(i));
            ringloop::spawn(async move {
                let mut rounds = 0;
                while rounds < ROUNDS {
                    let Some(permit) = maybe_abandon(&mut rng, sem.acquire()).await else {
                        yield_some(&mut rng, 3).await;
                        continue;
                    };
                    let holder = Holder::enter(&holders);
                    most.set(most.get().max(holders.get()));
                    yield_some(&mut rng, 4).await;
                    drop(holder);
                    if rng.chance(10) {
                        // asyncio's manual style.
                        permit.forget();
                        sem.release();
                    } else {
                        drop(permit);
                    }
                    rounds += 1;
                    yield_some(&mut rng, 3).await;
                }
                rounds
            })
        })
        .collect();
    cancel_and_check_rounds(seed, handles, ROUNDS).await;
    assert!(most.get() <= PERMITS, "seed {seed}: {} holders", most.get());
    assert_eq!(holders.get(), 0, "seed {seed}");
    assert_eq!(
        sem.available_permits(),
        PERMITS,
        "seed {seed}: permits leaked or invented"
    );
}

any_driver_test! {
    fn semaphore_random_cancel_schedules(mode) {
        mode.run(async {
            let before = dropped_after_wake();
            for seed in 0..SEEDS {
                semaphore_schedule(seed).await;
            }
            // The schedules reach the delicate state: woken (handed something), then
            // dropped before being polled again.
            let hits = dropped_after_wake() - before;
            eprintln!("semaphore: {hits} waiters dropped after a wake");
            assert!(hits >= SEEDS / 10, "only {hits} waiters dropped after a wake");
        });
    }
}
