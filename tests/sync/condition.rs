//! Condition: notify needs the lock, notify(n) wakes the n oldest, wait releases the
//! lock and holds it again on return, wait_for, a shared and a foreign lock,
//! cancellation in each state of a wait (no lost notification, no leaked lock), ten
//! thousand waiters, and randomized producer/consumer cancel schedules.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::sync::{Condition, Lock, NotLockedError};

use super::*;
use crate::support::{poll_once, yield_until, Rng};

/// Spawns a task that takes `cond`'s lock, waits once, and logs `name` when it has
/// returned (holding the lock).
fn spawn_waiter(
    cond: &Condition,
    log: &Rc<RefCell<Vec<usize>>>,
    name: usize,
) -> ringloop::JoinHandle<()> {
    let (cond, log) = (cond.clone(), log.clone());
    ringloop::spawn(async move {
        let guard = cond.lock().await;
        let guard = cond.wait(guard).await;
        assert!(cond.locked());
        log.borrow_mut().push(name);
        drop(guard);
    })
}

any_driver_test! {
    fn condition_notify_requires_the_lock(mode) {
        mode.run(async {
            let cond = Condition::default();
            assert!(!cond.locked());
            assert_eq!(cond.notify(1), Err(NotLockedError));
            assert_eq!(cond.notify_all(), Err(NotLockedError));
            assert_eq!(NotLockedError.to_string(), "cannot notify on un-acquired lock");
            let guard = cond.lock().await;
            assert!(cond.locked() && cond.try_lock().is_none());
            assert_eq!(cond.notify(1), Ok(()));
            assert_eq!(cond.notify_all(), Ok(()));
            assert!(format!("{cond:?}").contains("waiters: 0"), "{cond:?}");
            drop(guard);
            // The lock handle is the condition's lock.
            let _guard = cond.lock_handle().try_lock().unwrap();
            assert!(cond.locked());
            assert_eq!(cond.notify(1), Ok(()));
        });
    }
}

any_driver_test! {
    fn condition_notify_n_wakes_the_oldest(mode) {
        mode.run(async {
            let cond = Condition::new();
            let log = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..6).map(|i| spawn_waiter(&cond, &log, i)).collect();
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            assert!(!cond.locked(), "waiters release the lock while waiting");
            let guard = cond.lock().await;
            cond.notify(0).unwrap();
            cond.notify(2).unwrap();
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            // Notified, but they return only once they hold the lock again.
            assert!(log.borrow().is_empty());
            drop(guard);
            assert!(yield_until(20, || log.borrow().len() == 2).await);
            assert_eq!(*log.borrow(), [0, 1]);
            let guard = cond.lock().await;
            cond.notify(1).unwrap();
            drop(guard);
            assert!(yield_until(20, || log.borrow().len() == 3).await);
            let guard = cond.lock().await;
            cond.notify_all().unwrap();
            drop(guard);
            ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(tasks))
                .await
                .expect("waiters hung");
            assert_eq!(*log.borrow(), [0, 1, 2, 3, 4, 5]);
            assert!(!cond.locked());
        });
    }
}

any_driver_test! {
    fn condition_wait_for_predicate(mode) {
        mode.run(async {
            let cond = Condition::new();
            let value = Rc::new(Cell::new(0));
            let waiter = {
                let (cond, value) = (cond.clone(), value.clone());
                ringloop::spawn(async move {
                    let guard = cond.lock().await;
                    let guard = cond.wait_for(guard, || value.get() >= 3).await;
                    assert!(cond.locked());
                    let seen = value.get();
                    drop(guard);
                    seen
                })
            };
            // A true predicate returns without waiting.
            let guard = cond.lock().await;
            let guard = cond.wait_for(guard, || true).await;
            drop(guard);
            for _ in 0..5 {
                let guard = cond.lock().await;
                value.set(value.get() + 1);
                cond.notify_all().unwrap();
                drop(guard);
                ringloop::yield_now().await;
            }
            let seen = ringloop::wait_for(Duration::from_secs(5), waiter)
                .await
                .expect("wait_for hung")
                .unwrap();
            assert!(seen >= 3, "{seen}");
        });
    }
}

any_driver_test! {
    fn condition_with_shared_and_foreign_locks(mode) {
        mode.run(async {
            // Two conditions over one lock, as asyncio's Condition(lock).
            let lock = Lock::new();
            let a = Condition::with_lock(lock.clone());
            let b = Condition::with_lock(lock.clone());
            let guard = lock.lock().await;
            assert!(a.locked() && b.locked());
            let mut wait_a = a.wait(guard);
            assert!(poll_once(&mut wait_a).is_pending());
            assert!(!lock.locked());
            let guard = b.lock().await;
            a.notify(1).unwrap();
            drop(guard);
            let Poll::Ready(guard) = poll_once(&mut wait_a) else {
                panic!("not woken");
            };
            assert!(lock.locked());
            drop(guard);

            // A guard of another lock: that lock is released and taken again.
            let cond = Condition::new();
            let other = Lock::new();
            let guard = other.lock().await;
            let mut wait = cond.wait(guard);
            assert!(poll_once(&mut wait).is_pending());
            assert!(!other.locked());
            let cond_guard = cond.lock().await;
            cond.notify(1).unwrap();
            let Poll::Ready(guard) = poll_once(&mut wait) else {
                panic!("not woken");
            };
            assert!(other.locked());
            drop((guard, cond_guard));
            assert!(!other.locked() && !cond.locked());
        });
    }
}

any_driver_test! {
    fn condition_wait_dropped_in_each_state(mode) {
        mode.run(async {
            let cond = Condition::new();
            // Dropped before its first poll: the guard drops, the lock is free.
            let guard = cond.lock().await;
            drop(cond.wait(guard));
            assert!(!cond.locked());

            // Dropped while waiting, not notified: notify(1) goes to the next waiter.
            let mut a = cond.wait(cond.try_lock().unwrap());
            assert!(poll_once(&mut a).is_pending());
            let mut b = cond.wait(cond.try_lock().unwrap());
            assert!(poll_once(&mut b).is_pending());
            drop(a);
            let guard = cond.try_lock().unwrap();
            cond.notify(1).unwrap();
            drop(guard);
            let Poll::Ready(guard) = poll_once(&mut b) else {
                panic!("b missed the notification");
            };
            drop(guard);

            // Notified, then dropped before being polled: the notification passes on.
            let mut a = cond.wait(cond.try_lock().unwrap());
            assert!(poll_once(&mut a).is_pending());
            let mut b = cond.wait(cond.try_lock().unwrap());
            assert!(poll_once(&mut b).is_pending());
            let guard = cond.try_lock().unwrap();
            cond.notify(1).unwrap(); // to `a`
            drop(guard);
            drop(a);
            let Poll::Ready(guard) = poll_once(&mut b) else {
                panic!("the notification of a dropped waiter was lost");
            };
            drop(guard);
            assert!(!cond.locked());

            // Notified and waiting for the lock (held elsewhere), then dropped: the lock
            // is not leaked, and the notification passes on.
            let mut a = cond.wait(cond.try_lock().unwrap());
            assert!(poll_once(&mut a).is_pending());
            let mut b = cond.wait(cond.try_lock().unwrap());
            assert!(poll_once(&mut b).is_pending());
            let guard = cond.try_lock().unwrap();
            cond.notify(1).unwrap();
            assert!(poll_once(&mut a).is_pending(), "the lock is still held");
            drop(guard); // hands the lock to `a`, which is then dropped
            drop(a);
            let Poll::Ready(guard) = poll_once(&mut b) else {
                panic!("b was not notified in a's place");
            };
            drop(guard);
            assert!(!cond.locked());
            drop(b);
            assert!(cond.try_lock().is_some());
        });
    }
}

any_driver_test! {
    fn condition_waiter_task_cancelled_after_notify(mode) {
        mode.run(async {
            let cond = Condition::new();
            let log = Rc::new(RefCell::new(Vec::new()));
            let first = spawn_waiter(&cond, &log, 1);
            let second = spawn_waiter(&cond, &log, 2);
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            let guard = cond.lock().await;
            cond.notify(1).unwrap(); // wakes `first`...
            first.cancel(); // ...which is dropped before it runs
            drop(guard);
            assert!(first.await.unwrap_err().is_cancelled());
            ringloop::wait_for(Duration::from_secs(5), second)
                .await
                .expect("the notification was lost with the cancelled task")
                .unwrap();
            assert_eq!(*log.borrow(), [2]);
            assert!(!cond.locked());
        });
    }
}

any_driver_test! {
    fn condition_ten_thousand_waiters(mode) {
        mode.run(async {
            const N: usize = 10_000;
            let cond = Condition::new();
            let go = Rc::new(Cell::new(false));
            let started = Rc::new(Cell::new(0));
            let passed = Rc::new(Cell::new(0));
            let tasks: Vec<_> = (0..N)
                .map(|_| {
                    let (cond, go) = (cond.clone(), go.clone());
                    let (started, passed) = (started.clone(), passed.clone());
                    ringloop::spawn(async move {
                        let guard = cond.lock().await;
                        started.set(started.get() + 1);
                        let guard = cond.wait_for(guard, || go.get()).await;
                        passed.set(passed.get() + 1);
                        drop(guard);
                    })
                })
                .collect();
            assert!(yield_until(10 * N, || started.get() == N).await);
            let guard = cond.lock().await;
            go.set(true);
            cond.notify_all().unwrap();
            drop(guard);
            ringloop::wait_for(Duration::from_secs(20), ringloop::gather_all(tasks))
                .await
                .expect("waiters hung");
            assert_eq!(passed.get(), N);
            assert!(!cond.locked());
        });
    }
}

/// The shared state of one [`condition_schedule`].
struct Shop {
    /// Both conditions share this lock.
    lock: Lock,
    /// Consumers wait here for an item.
    nonempty: Condition,
    /// The producer waits here for its item to be taken.
    empty: Condition,
    items: Cell<usize>,
    consumed: Cell<usize>,
    holders: Rc<Cell<usize>>,
    most: Cell<usize>,
}

impl Shop {
    /// Marks the lock held (checking exclusion) until the holder drops.
    fn hold(&self) -> Holder {
        let holder = Holder::enter(&self.holders);
        self.most.set(self.most.get().max(self.holders.get()));
        holder
    }

    /// Takes an item if there is one (lock held) and tells the producer.
    fn take(&self) {
        if self.items.get() > 0 {
            self.items.set(self.items.get() - 1);
            self.consumed.set(self.consumed.get() + 1);
            self.empty.notify(1).unwrap();
        }
    }
}

/// A one-shot consumer: waits for one item (its lock or its wait may be abandoned at
/// a random point, and then it leaves for good), takes it if there is one, leaves.
async fn flaky_consumer(shop: Rc<Shop>, mut rng: Rng) {
    let Some(guard) = maybe_abandon(&mut rng, shop.nonempty.lock()).await else {
        return;
    };
    let holder = shop.hold();
    if shop.items.get() == 0 {
        drop(holder);
        let wait = shop.nonempty.wait(guard);
        let abandoned = if rng.chance(50) {
            give_up_after(rng.below(6), wait).await
        } else {
            maybe_abandon(&mut rng, wait).await
        };
        let Some(guard) = abandoned else {
            return;
        };
        let _holder = shop.hold();
        shop.take();
        drop(guard);
    } else {
        shop.take();
        drop(holder);
        drop(guard);
    }
}

/// One seeded schedule: a producer hands over items one at a time (`notify(1)` per
/// item, then it waits until the item is taken); a steady consumer and a stream of
/// flaky one-shot consumers wait for them; flaky waits are abandoned, and flaky
/// tasks cancelled, at random points. With one item in flight and the flaky
/// consumers never coming back, a notification lost with a dropped waiter leaves the
/// item untaken and the schedule hangs.
async fn condition_schedule(seed: u64) {
    const ITEMS: usize = 20;
    let lock = Lock::new();
    let shop = Rc::new(Shop {
        nonempty: Condition::with_lock(lock.clone()),
        empty: Condition::with_lock(lock.clone()),
        lock,
        items: Cell::new(0),
        consumed: Cell::new(0),
        holders: Rc::new(Cell::new(0)),
        most: Cell::new(0),
    });
    let steady = {
        let shop = shop.clone();
        ringloop::spawn(async move {
            loop {
                let guard = shop.nonempty.lock().await;
                let ready = || shop.items.get() > 0 || shop.consumed.get() == ITEMS;
                let guard = shop.nonempty.wait_for(guard, ready).await;
                let _holder = shop.hold();
                if shop.consumed.get() == ITEMS {
                    return;
                }
                shop.take();
                drop(guard);
            }
        })
    };
    let flaky = Rc::new(RefCell::new(Vec::new()));
    let producer = {
        let (shop, flaky) = (shop.clone(), flaky.clone());
        let mut rng = Rng::new(seed);
        ringloop::spawn(async move {
            for item in 0..ITEMS as u64 {
                for k in 0..rng.below(4) {
                    let own = Rng::new(seed.wrapping_mul(1000).wrapping_add(item * 4 + k));
                    let handle = ringloop::spawn(flaky_consumer(shop.clone(), own));
                    // Sometimes cancel the whole task a few turns from now.
                    let cancel_after = rng.chance(30).then(|| rng.below(6));
                    let watcher = ringloop::spawn(async move {
                        if let Some(turns) = cancel_after {
                            for _ in 0..turns {
                                ringloop::yield_now().await;
                            }
                            handle.cancel();
                        }
                        handle.await
                    });
                    flaky.borrow_mut().push(watcher);
                }
                yield_some(&mut rng, 4).await;
                let guard = shop.lock.lock().await;
                let holder = shop.hold();
                shop.items.set(shop.items.get() + 1);
                shop.nonempty.notify(1).unwrap();
                // Holding on a little makes notified waiters queue for the lock.
                yield_some(&mut rng, 3).await;
                drop(holder);
                let _guard = shop.empty.wait_for(guard, || shop.items.get() == 0).await;
            }
            let _guard = shop.lock.lock().await;
            shop.nonempty.notify_all().unwrap();
        })
    };
    let all = async {
        producer.await.unwrap();
        steady.await.unwrap();
        let flaky = std::mem::take(&mut *flaky.borrow_mut());
        for result in ringloop::gather_all(flaky).await {
            if let Err(e) = result.and_then(|r| r) {
                assert!(
                    e.is_cancelled(),
                    "seed {seed}: a flaky consumer failed: {e}"
                );
            }
        }
    };
    ringloop::wait_for(SCHEDULE_LIMIT, all)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "seed {seed}: hung with {} items waiting, {} consumed",
                shop.items.get(),
                shop.consumed.get()
            )
        });
    assert_eq!(shop.consumed.get(), ITEMS, "seed {seed}");
    assert!(
        shop.most.get() <= 1,
        "seed {seed}: {} lock holders at once",
        shop.most.get()
    );
    assert!(!shop.lock.locked(), "seed {seed}: the lock was leaked");
    assert!(
        shop.lock.try_lock().is_some(),
        "seed {seed}: the lock was leaked"
    );
}

any_driver_test! {
    fn condition_random_cancel_schedules(mode) {
        mode.run(async {
            let before = dropped_after_wake();
            for seed in 0..SEEDS {
                condition_schedule(seed).await;
            }
            // The schedules reach the delicate state: woken (handed something), then
            // dropped before being polled again.
            let hits = dropped_after_wake() - before;
            eprintln!("condition: {hits} waiters dropped after a wake");
            assert!(hits >= SEEDS / 10, "only {hits} waiters dropped after a wake");
        });
    }
}
