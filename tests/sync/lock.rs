//! Lock: mutual exclusion, FIFO hand-off (no barging), try_lock, guards held
//! across awaits in spawned tasks, a hand-off to a waiter dropped before it runs,
//! and randomized cancel schedules.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::sync::Lock;
use ringloop::JoinError;

use super::*;
use crate::support::{poll_once, yield_until, Rng};

any_driver_test! {
    fn lock_methods(mode) {
        mode.run(async {
            let lock = Lock::default();
            assert!(!lock.locked());
            let guard = lock.lock().await;
            assert!(lock.locked());
            assert!(lock.try_lock().is_none());
            // A clone is a handle to the same lock.
            let other = lock.clone();
            assert!(other.locked());
            assert!(format!("{lock:?}").contains("locked: true"), "{lock:?}");
            drop(guard);
            assert!(!lock.locked() && !other.locked());
            let guard = other.try_lock().expect("free");
            assert!(lock.locked());
            drop(guard);
            assert!(!lock.locked());
        });
    }
}

any_driver_test! {
    fn lock_excludes_and_guard_crosses_awaits(mode) {
        mode.run(async {
            let lock = Lock::new();
            let inside = Rc::new(Cell::new(0));
            let most = Rc::new(Cell::new(0));
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let (lock, inside, most) = (lock.clone(), inside.clone(), most.clone());
                    ringloop::spawn(async move {
                        for _ in 0..5 {
                            let guard = lock.lock().await;
                            inside.set(inside.get() + 1);
                            most.set(most.get().max(inside.get()));
                            ringloop::sleep(Duration::from_micros(100)).await;
                            ringloop::yield_now().await;
                            inside.set(inside.get() - 1);
                            drop(guard);
                        }
                    })
                })
                .collect();
            let results = ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("tasks hung");
            assert!(results.iter().all(Result::is_ok), "{results:?}");
            assert_eq!(most.get(), 1);
            assert!(!lock.locked());
        });
    }
}

any_driver_test! {
    fn lock_is_fifo_and_newcomers_do_not_barge(mode) {
        mode.run(async {
            let lock = Lock::new();
            let order = Rc::new(RefCell::new(Vec::new()));
            let held = lock.lock().await;
            let tasks: Vec<_> = (0..10)
                .map(|i| {
                    let (lock, order) = (lock.clone(), order.clone());
                    ringloop::spawn(async move {
                        let _guard = lock.lock().await;
                        order.borrow_mut().push(i);
                        ringloop::yield_now().await;
                    })
                })
                .collect();
            // Every task is queued (each ran once, in spawn order).
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            assert!(order.borrow().is_empty());
            drop(held);
            // Handed to the oldest waiter, which has not run: not held yet (asyncio's
            // `locked()`), but a newcomer cannot take it.
            assert!(!lock.locked());
            assert!(lock.try_lock().is_none());
            let late = {
                let (lock, order) = (lock.clone(), order.clone());
                ringloop::spawn(async move {
                    let _guard = lock.lock().await;
                    order.borrow_mut().push(99);
                })
            };
            ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("waiters hung");
            late.await.unwrap();
            let expected: Vec<i32> = (0..10).chain([99]).collect();
            assert_eq!(*order.borrow(), expected);
            assert!(!lock.locked());
        });
    }
}

any_driver_test! {
    fn lock_handed_to_a_dropped_waiter_passes_on(mode) {
        mode.run(async {
            let lock = Lock::new();
            let held = lock.try_lock().unwrap();
            let mut a = lock.lock();
            let mut b = lock.lock();
            let mut c = lock.lock();
            assert!(poll_once(&mut a).is_pending());
            assert!(poll_once(&mut b).is_pending());
            assert!(poll_once(&mut c).is_pending());
            drop(held); // handed to `a`
            assert!(!lock.locked() && lock.try_lock().is_none());
            drop(a); // never polled again: the lock passes to `b`
            assert!(!lock.locked() && lock.try_lock().is_none());
            // `c` leaves while only waiting: nothing changes for `b`.
            drop(c);
            let Poll::Ready(guard) = poll_once(&mut b) else {
                panic!("b was not handed the lock");
            };
            drop(guard);
            assert!(!lock.locked());
            // The same with the last waiter: the lock becomes free.
            let held = lock.try_lock().unwrap();
            let mut d = lock.lock();
            assert!(poll_once(&mut d).is_pending());
            drop(held);
            drop(d);
            assert!(!lock.locked());
            // Dropped before its first poll: nothing happens.
            drop(lock.lock());
            assert!(!lock.locked());
            drop(b);
        });
    }
}

any_driver_test! {
    fn lock_waiter_task_cancelled_after_hand_off(mode) {
        mode.run(async {
            let lock = Lock::new();
            let log = Rc::new(RefCell::new(Vec::new()));
            let held = lock.lock().await;
            let spawn_waiter = |name: &'static str| {
                let (lock, log) = (lock.clone(), log.clone());
                ringloop::spawn(async move {
                    let _guard = lock.lock().await;
                    log.borrow_mut().push(name);
                })
            };
            let first = spawn_waiter("first");
            let second = spawn_waiter("second");
            ringloop::yield_now().await;
            drop(held); // hands the lock to `first` and wakes it
            first.cancel(); // dropped at its next turn, before it runs
            assert_eq!(first.await, Err(JoinError::Cancelled));
            assert_eq!(
                ringloop::wait_for(Duration::from_secs(5), second).await,
                Ok(Ok(()))
            );
            assert_eq!(*log.borrow(), ["second"]);
            assert!(!lock.locked());
        });
    }
}

any_driver_test! {
    fn lock_holder_task_cancelled_releases(mode) {
        mode.run(async {
            let lock = Lock::new();
            let holder = {
                let lock = lock.clone();
                ringloop::spawn(async move {
                    let _guard = lock.lock().await;
                    std::future::pending::<()>().await;
                })
            };
            assert!(yield_until(10, || lock.locked()).await);
            holder.cancel();
            let guard = ringloop::wait_for(Duration::from_secs(5), lock.lock())
                .await
                .expect("the cancelled holder kept the lock");
            drop(guard);
            assert!(!lock.locked());
        });
    }
}

/// One seeded schedule: tasks loop lock / hold across yields / unlock; some
/// acquisitions are abandoned at random points, some tasks cancelled.
async fn lock_schedule(seed: u64) {
    const TASKS: u64 = 8;
    const ROUNDS: usize = 8;
    let lock = Lock::new();
    let holders = Rc::new(Cell::new(0));
    let most = Rc::new(Cell::new(0));
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let (lock, holders, most) = (lock.clone(), holders.clone(), most.clone());
            let mut rng = Rng::new(seed.wrapping_mul(1000).wrapping_add(i));
            ringloop::spawn(async move {
                let mut rounds = 0;
                while rounds < ROUNDS {
                    let Some(guard) = maybe_abandon(&mut rng, lock.lock()).await else {
                        yield_some(&mut rng, 3).await;
                        continue;
                    };
                    let holder = Holder::enter(&holders);
                    most.set(most.get().max(holders.get()));
                    yield_some(&mut rng, 3).await;
                    drop(holder);
                    drop(guard);
                    rounds += 1;
                    yield_some(&mut rng, 3).await;
                }
                rounds
            })
        })
        .collect();
    cancel_and_check_rounds(seed, handles, ROUNDS).await;
    assert!(
        most.get() <= 1,
        "seed {seed}: {} holders at once",
        most.get()
    );
    assert_eq!(holders.get(), 0, "seed {seed}");
    assert!(!lock.locked(), "seed {seed}: the lock was leaked");
    assert!(lock.try_lock().is_some(), "seed {seed}");
}

any_driver_test! {
    fn lock_random_cancel_schedules(mode) {
        mode.run(async {
            let before = dropped_after_wake();
            for seed in 0..SEEDS {
                lock_schedule(seed).await;
            }
            // The schedules reach the delicate state: woken (handed something), then
            // dropped before being polled again.
            let hits = dropped_after_wake() - before;
            eprintln!("lock: {hits} waiters dropped after a wake");
            assert!(hits >= SEEDS / 10, "only {hits} waiters dropped after a wake");
        });
    }
}
