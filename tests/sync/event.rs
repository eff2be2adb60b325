//! Event: set/clear/is_set/wait, every current waiter released by a set even if the
//! event is cleared at once, dropped waiters, and ten thousand waiters.

use std::cell::Cell;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::sync::Event;

use super::*;
use crate::support::{poll_once, yield_until, Rng};

any_driver_test! {
    fn event_methods(mode) {
        mode.run(async {
            let event = Event::default();
            assert!(!event.is_set());
            let other = event.clone();
            other.set();
            assert!(event.is_set());
            // Set: wait returns at once, any number of times.
            let mut wait = event.wait();
            assert_eq!(poll_once(&mut wait), Poll::Ready(()));
            event.wait().await;
            event.set(); // setting a set event does nothing
            assert!(format!("{event:?}").contains("set: true"), "{event:?}");
            event.clear();
            assert!(!event.is_set() && !other.is_set());
            let mut wait = event.wait();
            assert!(poll_once(&mut wait).is_pending());
            event.clear(); // clearing a clear event does nothing
            assert!(poll_once(&mut wait).is_pending());
            event.set();
            assert_eq!(poll_once(&mut wait), Poll::Ready(()));
        });
    }
}

any_driver_test! {
    fn event_set_then_clear_releases_current_waiters(mode) {
        mode.run(async {
            let event = Event::new();
            let passed = Rc::new(Cell::new(0));
            let spawn_waiter = || {
                let (event, passed) = (event.clone(), passed.clone());
                ringloop::spawn(async move {
                    event.wait().await;
                    passed.set(passed.get() + 1);
                })
            };
            let early: Vec<_> = (0..5).map(|_| spawn_waiter()).collect();
            ringloop::yield_now().await;
            event.set();
            event.clear();
            // Arrived after the clear: waits for the next set.
            let late = spawn_waiter();
            ringloop::wait_for(Duration::from_secs(5), ringloop::gather_all(early))
                .await
                .expect("waiters released by set() hung");
            assert_eq!(passed.get(), 5);
            for _ in 0..5 {
                ringloop::yield_now().await;
            }
            assert!(!late.is_finished());
            event.set();
            ringloop::wait_for(Duration::from_secs(5), late)
                .await
                .expect("late waiter hung")
                .unwrap();
            assert_eq!(passed.get(), 6);
        });
    }
}

any_driver_test! {
    fn event_dropped_waiters_leave(mode) {
        mode.run(async {
            let event = Event::new();
            let mut waits: Vec<_> = (0..6).map(|_| event.wait()).collect();
            for wait in &mut waits {
                assert!(poll_once(wait).is_pending());
            }
            // Drop some while waiting (first, middle, last), one before its first poll.
            let last = waits.pop().unwrap();
            drop(last);
            let middle = waits.remove(2);
            drop(middle);
            let first = waits.remove(0);
            drop(first);
            drop(event.wait());
            event.set();
            for wait in &mut waits {
                assert_eq!(poll_once(wait), Poll::Ready(()));
            }
            // A waiter dropped after being released by set affects nobody.
            event.clear();
            let mut a = event.wait();
            let mut b = event.wait();
            assert!(poll_once(&mut a).is_pending() && poll_once(&mut b).is_pending());
            event.set();
            drop(a);
            assert_eq!(poll_once(&mut b), Poll::Ready(()));
        });
    }
}

any_driver_test! {
    fn event_ten_thousand_waiters(mode) {
        mode.run(async {
            const N: usize = 10_000;
            let event = Event::new();
            let started = Rc::new(Cell::new(0));
            let passed = Rc::new(Cell::new(0));
            let tasks: Vec<_> = (0..N)
                .map(|_| {
                    let (event, started, passed) = (event.clone(), started.clone(), passed.clone());
                    ringloop::spawn(async move {
                        started.set(started.get() + 1);
                        event.wait().await;
                        passed.set(passed.get() + 1);
                    })
                })
                .collect();
            assert!(yield_until(10 * N, || started.get() == N).await);
            assert_eq!(passed.get(), 0);
            event.set();
            event.clear();
            let results = ringloop::wait_for(Duration::from_secs(20), ringloop::gather_all(tasks))
                .await
                .expect("waiters hung");
            assert_eq!(results.len(), N);
            assert_eq!(passed.get(), N);

            // Ten thousand waiter futures, a random half dropped while waiting.
            let mut rng = Rng::new(7);
            let mut waits: Vec<_> = (0..N).map(|_| Some(event.wait())).collect();
            for wait in waits.iter_mut().flatten() {
                assert!(poll_once(wait).is_pending());
            }
            for wait in &mut waits {
                if rng.chance(50) {
                    *wait = None;
                }
            }
            event.set();
            for wait in waits.iter_mut().flatten() {
                assert_eq!(poll_once(wait), Poll::Ready(()));
            }
        });
    }
}
