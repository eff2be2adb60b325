//! Lock, Event and Condition against asyncio's own scenarios (CPython 3.13,
//! `Lib/test/test_asyncio/test_locks.py`: `LockTests`, `EventTests`,
//! `ConditionTests`), translated where Rust can say the same thing: fairness,
//! cancellation races, and what `locked()` reports meanwhile. asyncio's
//! `await asyncio.sleep(0)` is a `yield_now()`, an `asyncio.Future` a `Promise`.
//!
//! Left out: the tests where one task releases a lock another task acquired
//! (a `LockGuard` belongs to its holder), and the ones where a cancelled
//! `cond.wait()` holds the lock again afterwards (a dropped future cannot hand a
//! guard back; `Condition::wait` documents what it does instead).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::{Condition, Event, Lock, Promise};
use ringloop::JoinHandle;

use super::*;

type Log = Rc<RefCell<Vec<u32>>>;

async fn settle<T>(tasks: Vec<JoinHandle<T>>) -> Vec<Result<T, ringloop::JoinError>> {
    ringloop::wait_for(Duration::from_secs(10), ringloop::gather_all(tasks))
        .await
        .expect("a task hung")
}

thread_local! {
    /// Guards held "for good": kept until the test's thread ends rather than
    /// forgotten, since a forgotten guard leaks its lock (valgrind's leak check,
    /// ci/valgrind.sh, reports it).
    static KEPT: RefCell<Vec<ringloop::sync::LockGuard>> = const { RefCell::new(Vec::new()) };
}

fn keep(guard: ringloop::sync::LockGuard) {
    KEPT.with(|kept| kept.borrow_mut().push(guard));
}

/// A task that takes `lock`, logs `tag`, and keeps the lock until `until` is set
/// (or for good, without one).
fn lock_and_log(lock: &Lock, log: &Log, tag: u32, until: Option<Event>) -> JoinHandle<()> {
    let (lock, log) = (lock.clone(), log.clone());
    ringloop::spawn(async move {
        let guard = lock.lock().await;
        log.borrow_mut().push(tag);
        match until {
            Some(event) => event.wait().await,
            None => keep(guard),
        }
    })
}

any_driver_test! {
    // test_acquire: waiters get the lock in arrival order, one per release, and a
    // task arriving after a release queues behind the waiters.
    fn lock_waiters_in_order(mode) {
        mode.run(async {
            let lock = Lock::new();
            let log: Log = Rc::default();
            let held = lock.lock().await;
            let (e1, e2) = (Event::new(), Event::new());
            let t1 = lock_and_log(&lock, &log, 1, Some(e1.clone()));
            let t2 = lock_and_log(&lock, &log, 2, Some(e2.clone()));
            ringloop::yield_now().await;
            assert!(log.borrow().is_empty());
            drop(held);
            ringloop::yield_now().await;
            assert_eq!(*log.borrow(), [1]);
            ringloop::yield_now().await;
            assert_eq!(*log.borrow(), [1]);
            let t3 = lock_and_log(&lock, &log, 3, None);
            e1.set();
            support::yield_until(10, || log.borrow().len() == 2).await;
            assert_eq!(*log.borrow(), [1, 2]);
            e2.set();
            settle(vec![t1, t2, t3]).await;
            assert_eq!(*log.borrow(), [1, 2, 3]);
        });
    }
}

any_driver_test! {
    // test_cancel_race: A holds the lock, B and C wait. B is cancelled and A
    // releases in the same turn: the lock goes to C, and B's cancellation loses
    // nothing. Until C runs, the lock is not held (asyncio's `locked()` is false
    // then), but nobody else can take it.
    fn lock_cancel_race(mode) {
        mode.run(async {
            let lock = Lock::new();
            let log: Log = Rc::default();
            let fa = Promise::<()>::new();
            let ta = {
                let (lock, fa) = (lock.clone(), fa.clone());
                ringloop::spawn(async move {
                    let _guard = lock.lock().await;
                    let _ = fa.wait().await;
                })
            };
            ringloop::yield_now().await;
            assert!(lock.locked());
            let tb = lock_and_log(&lock, &log, 2, Some(Event::new()));
            ringloop::yield_now().await;
            let tc = lock_and_log(&lock, &log, 3, None);
            ringloop::yield_now().await;
            assert!(format!("{lock:?}").contains("waiters: 2"), "{lock:?}");
            fa.set_result(()).unwrap();
            tb.cancel();
            assert!(support::yield_until(10, || ta.is_finished() && tb.is_finished()).await);
            if !tc.is_finished() {
                assert!(!lock.locked(), "handed to C, which has not run: not held yet");
                assert!(lock.try_lock().is_none(), "but C keeps its turn");
            }
            let results = settle(vec![ta, tb, tc]).await;
            assert!(results[1].as_ref().unwrap_err().is_cancelled());
            assert_eq!(*log.borrow(), [3]);
        });
    }
}

any_driver_test! {
    // The same window, step by step: released to a waiter that has not run,
    // the lock is not `locked()` (as in asyncio), newcomers still queue behind
    // that waiter, and once it runs the lock is held.
    fn lock_handed_to_a_waiter_not_yet_run(mode) {
        mode.run(async {
            use crate::support::poll_once;
            use std::task::Poll;

            let lock = Lock::new();
            let held = lock.try_lock().unwrap();
            let mut a = lock.lock();
            assert!(poll_once(&mut a).is_pending());
            drop(held);
            assert!(!lock.locked());
            assert!(lock.try_lock().is_none());
            let mut b = lock.lock();
            assert!(poll_once(&mut b).is_pending(), "a newcomer queues");
            let Poll::Ready(guard) = poll_once(&mut a) else { panic!("a was handed the lock") };
            assert!(lock.locked());
            drop(guard);
            assert!(!lock.locked());
            drop(b); // handed the lock, dropped before it ran: the lock is free
            assert!(!lock.locked());
            assert!(lock.try_lock().is_some());
        });
    }
}

any_driver_test! {
    // test_cancel_release_race (bpo-32734): the first of three waiters is
    // cancelled as the lock is released; exactly one task gets the lock, the
    // second waiter.
    fn lock_cancel_release_race(mode) {
        mode.run(async {
            let lock = Lock::new();
            let got = Rc::new(Cell::new(0));
            let held = lock.lock().await;
            let spawn_one = || {
                let (lock, got) = (lock.clone(), got.clone());
                ringloop::spawn(async move {
                    keep(lock.lock().await);
                    got.set(got.get() + 1);
                })
            };
            let (t1, t2, t3) = (spawn_one(), spawn_one(), spawn_one());
            ringloop::yield_now().await;
            t1.cancel();
            drop(held);
            assert!(t1.await.unwrap_err().is_cancelled());
            assert!(support::yield_until(10, || t2.is_finished()).await);
            assert_eq!(got.get(), 1);
            assert!(!t3.is_finished());
            t3.cancel();
            assert!(t3.await.unwrap_err().is_cancelled());
            assert_eq!(got.get(), 1);
        });
    }
}

any_driver_test! {
    // test_finished_waiter_cancelled: a waiter woken by a release and cancelled
    // before it ran passes the lock to the task behind it, spawned just before.
    fn lock_finished_waiter_cancelled(mode) {
        mode.run(async {
            let lock = Lock::new();
            let held = lock.lock().await;
            let tb = {
                let lock = lock.clone();
                ringloop::spawn(async move { drop(lock.lock().await) })
            };
            ringloop::yield_now().await;
            let log: Log = Rc::default();
            let tc = lock_and_log(&lock, &log, 3, None);
            tb.cancel();
            drop(held);
            assert!(support::yield_until(10, || tc.is_finished()).await);
            assert!(lock.locked());
            assert!(tb.await.unwrap_err().is_cancelled());
            assert_eq!(*log.borrow(), [3]);
        });
    }
}

any_driver_test! {
    // EventTests test_wait: a task spawned just before `set()` runs first (it finds
    // the event set), then the woken waiters in their order.
    fn event_waiters_and_a_newcomer(mode) {
        mode.run(async {
            let ev = Event::new();
            let log: Log = Rc::default();
            let spawn_one = |tag| {
                let (ev, log) = (ev.clone(), log.clone());
                ringloop::spawn(async move {
                    ev.wait().await;
                    log.borrow_mut().push(tag);
                })
            };
            let (t1, t2) = (spawn_one(1), spawn_one(2));
            ringloop::yield_now().await;
            assert!(log.borrow().is_empty());
            let t3 = spawn_one(3);
            ev.set();
            settle(vec![t1, t2, t3]).await;
            assert_eq!(*log.borrow(), [3, 1, 2]);
        });
    }
}

any_driver_test! {
    // test_clear_with_waiters and test_wait_cancel: a set() reaches the waiter
    // even if cleared before it runs; a cancelled wait leaves no waiter behind.
    fn event_set_clear_and_cancel(mode) {
        mode.run(async {
            let ev = Event::new();
            let log: Log = Rc::default();
            let t = {
                let (ev, log) = (ev.clone(), log.clone());
                ringloop::spawn(async move {
                    ev.wait().await;
                    log.borrow_mut().push(1);
                })
            };
            ringloop::yield_now().await;
            ev.set();
            ev.clear();
            assert!(!ev.is_set());
            ev.set();
            ev.set();
            settle(vec![t]).await;
            assert_eq!(*log.borrow(), [1]);
            assert!(format!("{ev:?}").contains("waiters: 0"), "{ev:?}");
            ev.clear();
            let w = {
                let ev = ev.clone();
                ringloop::spawn(async move { ev.wait().await })
            };
            ringloop::yield_now().await;
            assert!(format!("{ev:?}").contains("waiters: 1"), "{ev:?}");
            w.cancel();
            assert!(w.await.unwrap_err().is_cancelled());
            assert!(format!("{ev:?}").contains("waiters: 0"), "{ev:?}");
        });
    }
}

/// A task that waits on `cond` once, then logs `tag` and releases the lock.
fn wait_and_log(cond: &Condition, log: &Log, tag: u32) -> JoinHandle<()> {
    let (cond, log) = (cond.clone(), log.clone());
    ringloop::spawn(async move {
        let guard = cond.lock().await;
        let _guard = cond.wait(guard).await;
        log.borrow_mut().push(tag);
    })
}

any_driver_test! {
    // ConditionTests test_notify and test_notify_all: notified waiters return in
    // their order, each once the notifier has released the lock.
    fn condition_notify_in_order(mode) {
        mode.run(async {
            let cond = Condition::new();
            let log: Log = Rc::default();
            let tasks: Vec<_> = (1..=3).map(|tag| wait_and_log(&cond, &log, tag)).collect();
            ringloop::yield_now().await;
            assert!(log.borrow().is_empty());
            assert!(!cond.locked());
            let guard = cond.lock().await;
            cond.notify(1).unwrap();
            drop(guard);
            support::yield_until(10, || !log.borrow().is_empty()).await;
            assert_eq!(*log.borrow(), [1]);
            let guard = cond.lock().await;
            cond.notify(1).unwrap();
            cond.notify(2048).unwrap();
            drop(guard);
            settle(tasks).await;
            assert_eq!(*log.borrow(), [1, 2, 3]);
            // notify_all
            let log: Log = Rc::default();
            let tasks: Vec<_> = (1..=2).map(|tag| wait_and_log(&cond, &log, tag)).collect();
            ringloop::yield_now().await;
            let guard = cond.lock().await;
            cond.notify_all().unwrap();
            drop(guard);
            settle(tasks).await;
            assert_eq!(*log.borrow(), [1, 2]);
        });
    }
}

any_driver_test! {
    // test_wait_for: the predicate is checked after each notification; the
    // waiter returns only once it holds.
    fn condition_wait_for(mode) {
        mode.run(async {
            let cond = Condition::new();
            let ready = Rc::new(Cell::new(false));
            let log: Log = Rc::default();
            let t = {
                let (cond, ready, log) = (cond.clone(), ready.clone(), log.clone());
                ringloop::spawn(async move {
                    let guard = cond.lock().await;
                    let _guard = cond.wait_for(guard, || ready.get()).await;
                    log.borrow_mut().push(1);
                })
            };
            ringloop::yield_now().await;
            let guard = cond.lock().await;
            cond.notify(1).unwrap();
            drop(guard);
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            assert!(log.borrow().is_empty());
            ready.set(true);
            let guard = cond.lock().await;
            cond.notify(1).unwrap();
            drop(guard);
            settle(vec![t]).await;
            assert_eq!(*log.borrow(), [1]);
        });
    }
}

any_driver_test! {
    // test_wait_cancel_after_notify (bpo-32841): a waiter notified, then cancelled
    // while it waits for the lock again, ends cancelled and the lock is not lost;
    // test_wait_cancel: a waiter cancelled before any notification leaves no
    // waiter behind.
    fn condition_cancel_after_notify(mode) {
        mode.run(async {
            let cond = Condition::new();
            let waited = Rc::new(Cell::new(false));
            let waiter = {
                let (cond, waited) = (cond.clone(), waited.clone());
                ringloop::spawn(async move {
                    let guard = cond.lock().await;
                    waited.set(true);
                    let _guard = cond.wait(guard).await;
                })
            };
            ringloop::yield_now().await;
            let guard = cond.lock().await;
            cond.notify(1).unwrap();
            ringloop::yield_now().await; // the waiter now waits for the lock
            waiter.cancel();
            ringloop::yield_now().await;
            drop(guard);
            assert!(waiter.await.unwrap_err().is_cancelled());
            assert!(waited.get());
            assert!(!cond.locked());
            assert!(cond.try_lock().is_some(), "the lock was lost");
            // Cancelled before any notification.
            let w = {
                let cond = cond.clone();
                ringloop::spawn(async move {
                    let guard = cond.lock().await;
                    drop(cond.wait(guard).await);
                })
            };
            ringloop::yield_now().await;
            assert!(format!("{cond:?}").contains("waiters: 1"), "{cond:?}");
            w.cancel();
            assert!(w.await.unwrap_err().is_cancelled());
            assert!(format!("{cond:?}").contains("waiters: 0"), "{cond:?}");
            assert!(!cond.locked());
        });
    }
}
