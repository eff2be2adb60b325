//! Semaphore against asyncio's own scenarios (CPython 3.13,
//! `Lib/test/test_asyncio/test_locks.py`, `SemaphoreTests`), translated: a waiter
//! that was handed a permit but has not run yet keeps its place in line, so a task
//! that releases and at once acquires again queues behind it, and `locked()` says
//! so; the acquirer that takes its permit hands the permits left over to the
//! waiters queued behind it. asyncio's `await asyncio.sleep(0)` is a
//! `yield_now()`, `acquire()` without `release()` is `acquire().await.forget()`,
//! and `sem._value` is `available_permits()`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::{BoundedSemaphore, Semaphore};
use ringloop::JoinHandle;

use super::*;

type Log = Rc<RefCell<Vec<u32>>>;

/// A task that takes a permit for good, then logs `tag`.
fn take_and_log(sem: &Semaphore, log: &Log, tag: u32) -> JoinHandle<()> {
    let (sem, log) = (sem.clone(), log.clone());
    ringloop::spawn(async move {
        sem.acquire().await.forget();
        log.borrow_mut().push(tag);
    })
}

async fn settle<T>(tasks: Vec<JoinHandle<T>>) -> Vec<Result<T, ringloop::JoinError>> {
    ringloop::wait_for(Duration::from_secs(10), ringloop::gather_all(tasks))
        .await
        .expect("a task hung")
}

any_driver_test! {
    // test_acquire_fifo_order_2: c2 releases and acquires again while c3, handed
    // the second permit, has not run yet: c2 goes behind c3.
    fn release_then_acquire_goes_behind_a_woken_waiter(mode) {
        mode.run(async {
            let sem = Semaphore::new(1);
            let log: Log = Rc::default();
            let t1 = take_and_log(&sem, &log, 1);
            let t2 = {
                let (sem, log) = (sem.clone(), log.clone());
                ringloop::spawn(async move {
                    sem.acquire().await.forget();
                    log.borrow_mut().push(2);
                    sem.release();
                    sem.acquire().await.forget();
                    log.borrow_mut().push(4);
                })
            };
            let t3 = take_and_log(&sem, &log, 3);
            ringloop::yield_now().await;
            sem.release();
            sem.release();
            settle(vec![t1, t2, t3]).await;
            assert_eq!(*log.borrow(), [1, 2, 3, 4]);
        });
    }
}

any_driver_test! {
    // test_acquire_fifo_order_4: three releases while one task waits leave the
    // count at 2, yet the semaphore is locked (the woken waiter has not run), so
    // the releaser and a third task queue; when the woken one runs, it hands the
    // two permits to them, in order, before a task it spawns runs.
    fn a_woken_waiter_keeps_the_semaphore_locked_and_passes_the_surplus_on(mode) {
        mode.run(async {
            let sem = Semaphore::new(0);
            let log: Log = Rc::default();
            let t4: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
            let t1 = {
                let (sem, log, t4) = (sem.clone(), log.clone(), t4.clone());
                ringloop::spawn(async move {
                    assert_eq!(sem.available_permits(), 0);
                    sem.acquire().await.forget();
                    // Both waiters behind it were handed a permit.
                    assert_eq!(sem.available_permits(), 0);
                    let log4 = log.clone();
                    *t4.borrow_mut() = Some(ringloop::spawn(async move {
                        log4.borrow_mut().push(4);
                    }));
                    log.borrow_mut().push(1);
                })
            };
            let t2 = {
                let (sem, log) = (sem.clone(), log.clone());
                ringloop::spawn(async move {
                    sem.release();
                    sem.release();
                    sem.release();
                    assert_eq!(sem.available_permits(), 2);
                    assert!(sem.locked(), "t1 was handed a permit and has not run");
                    assert!(sem.try_acquire().is_none());
                    sem.acquire().await.forget();
                    log.borrow_mut().push(2);
                })
            };
            let t3 = {
                let (sem, log) = (sem.clone(), log.clone());
                ringloop::spawn(async move {
                    // Runs after t2, before t1 (woken by t2) does.
                    assert_eq!(sem.available_permits(), 2);
                    assert!(sem.locked());
                    sem.acquire().await.forget();
                    assert!(sem.locked());
                    log.borrow_mut().push(3);
                })
            };
            for result in settle(vec![t1, t2, t3]).await {
                result.unwrap();
            }
            let t4 = t4.borrow_mut().take().expect("t1 spawned t4");
            settle(vec![t4]).await.pop().unwrap().unwrap();
            assert_eq!(*log.borrow(), [1, 2, 3, 4]);
            assert_eq!(sem.available_permits(), 0);
        });
    }
}

any_driver_test! {
    // test_acquire: three permits, two taken; three tasks want one each, then a
    // fourth; two releases go to the two oldest waiters, not to the newcomer.
    fn acquire_counts_and_hands_releases_to_the_oldest(mode) {
        mode.run(async {
            let sem = Semaphore::new(3);
            sem.acquire().await.forget();
            sem.acquire().await.forget();
            assert!(!sem.locked());
            let log: Log = Rc::default();
            let t1 = take_and_log(&sem, &log, 1);
            let t2 = take_and_log(&sem, &log, 2);
            let t3 = take_and_log(&sem, &log, 3);
            ringloop::yield_now().await;
            assert_eq!(*log.borrow(), [1]);
            assert!(sem.locked());
            assert_eq!(sem.available_permits(), 0);
            let t4 = take_and_log(&sem, &log, 4);
            sem.release();
            sem.release();
            assert_eq!(sem.available_permits(), 0);
            support::yield_until(10, || log.borrow().len() == 3).await;
            assert_eq!(*log.borrow(), [1, 2, 3]);
            assert!(sem.locked());
            assert_eq!(sem.available_permits(), 0);
            assert!(t1.is_finished() && t2.is_finished() && t3.is_finished());
            assert!(!t4.is_finished());
            sem.release();
            settle(vec![t4]).await;
            assert_eq!(*log.borrow(), [1, 2, 3, 4]);
        });
    }
}

any_driver_test! {
    // test_acquire_fifo_order: three tasks each take the permit twice, with a
    // pause while holding it; every task's second turn comes after everyone's
    // first.
    fn each_task_queues_behind_the_others_for_its_second_turn(mode) {
        mode.run(async {
            let sem = Semaphore::new(1);
            let log: Log = Rc::default();
            let tasks: Vec<_> = (1..=3)
                .map(|tag| {
                    let (sem, log) = (sem.clone(), log.clone());
                    ringloop::spawn(async move {
                        for turn in 1..=2 {
                            let permit = sem.acquire().await;
                            log.borrow_mut().push(tag * 10 + turn);
                            ringloop::sleep(Duration::from_millis(2)).await;
                            drop(permit);
                        }
                    })
                })
                .collect();
            settle(tasks).await;
            assert_eq!(*log.borrow(), [11, 21, 31, 12, 22, 32]);
        });
    }
}

any_driver_test! {
    // test_acquire_fifo_order_3: a waiter cancelled before any release is out of
    // line; the two releases go to the two others.
    fn a_cancelled_waiter_leaves_the_line(mode) {
        mode.run(async {
            let sem = Semaphore::new(0);
            let log: Log = Rc::default();
            let tasks: Vec<_> = (1..=3).map(|tag| take_and_log(&sem, &log, tag)).collect();
            ringloop::yield_now().await;
            tasks[0].cancel();
            ringloop::yield_now().await;
            sem.release();
            sem.release();
            let results = settle(tasks).await;
            assert!(results[0].as_ref().unwrap_err().is_cancelled());
            assert_eq!(*log.borrow(), [2, 3]);
        });
    }
}

any_driver_test! {
    // test_acquire_cancel_before_awoken and test_acquire_hang: waiters cancelled
    // while (or just before) a release reaches them pass it on to the next waiter,
    // and to that one only.
    fn cancelled_waiters_pass_a_release_on(mode) {
        mode.run(async {
            let sem = Semaphore::new(0);
            let log: Log = Rc::default();
            let tasks: Vec<_> = (1..=4).map(|tag| take_and_log(&sem, &log, tag)).collect();
            ringloop::yield_now().await;
            tasks[0].cancel();
            tasks[1].cancel();
            sem.release();
            assert!(support::yield_until(10, || tasks[2].is_finished()).await);
            assert!(!tasks[3].is_finished());
            assert_eq!(*log.borrow(), [3]);
            assert!(sem.locked());
            tasks[3].cancel();
            let results = settle(tasks).await;
            assert!(results[3].as_ref().unwrap_err().is_cancelled());
            assert_eq!(sem.available_permits(), 0);
        });
    }
}

any_driver_test! {
    // test_acquire_no_hang: the holder cancels the waiter it just handed the
    // permit to; the permit comes back.
    fn a_waiter_cancelled_by_its_releaser_gives_the_permit_back(mode) {
        mode.run(async {
            let sem = Semaphore::new(1);
            let waiter: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
            let holder = {
                let (sem, waiter) = (sem.clone(), waiter.clone());
                ringloop::spawn(async move {
                    let permit = sem.acquire().await;
                    ringloop::yield_now().await;
                    drop(permit);
                    waiter.borrow().as_ref().unwrap().cancel();
                })
            };
            let sem2 = sem.clone();
            *waiter.borrow_mut() = Some(ringloop::spawn(async move {
                let _permit = sem2.acquire().await;
                panic!("the cancelled waiter ran");
            }));
            settle(vec![holder]).await.pop().unwrap().unwrap();
            let waiter = waiter.borrow_mut().take().unwrap();
            let result = settle(vec![waiter]).await.pop().unwrap();
            assert!(result.unwrap_err().is_cancelled());
            let permit = ringloop::wait_for(Duration::from_secs(1), sem.acquire())
                .await
                .expect("the permit was lost");
            drop(permit);
        });
    }
}

any_driver_test! {
    // test_acquire_fifo_order_2 again, on a BoundedSemaphore (which shares the
    // semaphore's state): its releases are within the bound, and the order is the
    // same.
    fn bounded_semaphore_keeps_woken_waiters_in_line(mode) {
        mode.run(async {
            let sem = BoundedSemaphore::new(1);
            let log: Log = Rc::default();
            let spawn_one = |tag, again| {
                let (sem, log) = (sem.clone(), log.clone());
                ringloop::spawn(async move {
                    sem.acquire().await.forget();
                    log.borrow_mut().push(tag);
                    if again {
                        assert_eq!(sem.release(), Ok(()));
                        sem.acquire().await.forget();
                        log.borrow_mut().push(4);
                    }
                })
            };
            let tasks = vec![spawn_one(1, false), spawn_one(2, true), spawn_one(3, false)];
            ringloop::yield_now().await;
            assert_eq!(sem.release(), Ok(()));
            assert_eq!(sem.release(), Ok(()));
            for result in settle(tasks).await {
                result.unwrap();
            }
            assert_eq!(*log.borrow(), [1, 2, 3, 4]);
        });
    }
}
