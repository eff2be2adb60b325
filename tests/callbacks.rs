//! Loop callbacks: `call_soon` order (FIFO) and callbacks queued by callbacks waiting
//! a turn, `call_later`/`call_at` deadline order and FIFO for equal deadlines,
//! cancelling (never runs, the closure is dropped, also after the runtime is gone),
//! `CallbackHandle::when()`, and spawning from a callback.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use support::{sleep_until_cond, yield_until, Drops};

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

any_driver_test! {
    fn call_soon_runs_in_fifo_order(mode) {
        mode.run(async {
            let order = log();
            for i in 0..20 {
                let order = order.clone();
                ringloop::call_soon(move || order.borrow_mut().push(i));
            }
            assert!(
                order.borrow().is_empty(),
                "call_soon ran a callback at once"
            );
            assert!(yield_until(10, || order.borrow().len() == 20).await);
            assert_eq!(*order.borrow(), (0..20).collect::<Vec<_>>());
        });
    }
}

any_driver_test! {
    fn call_soon_from_a_callback_runs_on_a_later_turn(mode) {
        mode.run(async {
            // The main future is polled once per loop turn: count its polls.
            let turn = Rc::new(Cell::new(0));
            let seen = log();
            let (t, s) = (turn.clone(), seen.clone());
            ringloop::call_soon(move || {
                s.borrow_mut().push(("first", t.get()));
                let (t, s) = (t.clone(), s.clone());
                ringloop::call_soon(move || s.borrow_mut().push(("queued by first", t.get())));
            });
            let (t, s) = (turn.clone(), seen.clone());
            ringloop::call_soon(move || s.borrow_mut().push(("second", t.get())));
            for _ in 0..5 {
                turn.set(turn.get() + 1);
                ringloop::yield_now().await;
            }
            assert_eq!(
                *seen.borrow(),
                [("first", 1), ("second", 1), ("queued by first", 2)]
            );

            // A callback that keeps rescheduling itself does not hold up the loop.
            fn chain(count: Rc<Cell<u32>>) {
                count.set(count.get() + 1);
                if count.get() < 1000 {
                    ringloop::call_soon(move || chain(count));
                }
            }
            let count = Rc::new(Cell::new(0));
            let c = count.clone();
            ringloop::call_soon(move || chain(c));
            ringloop::yield_now().await;
            assert_eq!(count.get(), 1);
            ringloop::yield_now().await;
            assert_eq!(count.get(), 2);
        });
    }
}

any_driver_test! {
    fn timer_callbacks_run_in_deadline_order(mode) {
        mode.run(async {
            // Each entry: its name, the earliest and the latest its deadline can be
            // (`call_later` reads the clock inside the call, between the two reads
            // around it), and when it ran.
            let order: Log<(&str, Instant, Instant, Instant)> = log();
            let start = Instant::now();
            for (ms, name) in [(30, "c"), (10, "a"), (20, "b"), (0, "now")] {
                let delay = Duration::from_millis(ms);
                let before = Instant::now();
                let slot = Rc::new(Cell::new((before + delay, before + delay)));
                let (order, window) = (order.clone(), slot.clone());
                ringloop::call_later(delay, move || {
                    let (earliest, latest) = window.get();
                    order.borrow_mut().push((name, earliest, latest, Instant::now()))
                });
                slot.set((before + delay, Instant::now() + delay));
            }
            let order2 = order.clone();
            let due = start + Duration::from_millis(15);
            ringloop::call_at(due, move || {
                order2.borrow_mut().push(("at 15", due, due, Instant::now()))
            });
            assert!(sleep_until_cond(Duration::from_secs(5), || order.borrow().len() == 5).await);
            let order = order.borrow();
            let names: Vec<_> = order.iter().map(|e| e.0).collect();
            // In deadline order: an entry never runs before one whose deadline
            // was surely earlier. The windows are microseconds wide and the
            // deadlines 5 ms apart, so on a machine that schedules the calls
            // promptly this is the one order below; one that stalls between the
            // calls (a loaded emulated VM) moves the deadlines, and the order
            // follows them.
            for (i, first) in order.iter().enumerate() {
                for after in &order[i + 1..] {
                    assert!(
                        after.2 >= first.1,
                        "{} ran before {}, whose deadline was earlier: {names:?}",
                        first.0,
                        after.0
                    );
                }
            }
            if order.iter().all(|e| e.2 - e.1 < Duration::from_millis(1)) {
                assert_eq!(names, ["now", "a", "at 15", "b", "c"]);
            }
            for &(name, earliest, _, ran) in order.iter() {
                assert!(ran >= earliest, "{name} ran {:?} early", earliest - ran);
            }
            assert!(start.elapsed() >= Duration::from_millis(30));
        });
    }
}

any_driver_test! {
    fn equal_deadlines_run_in_scheduling_order(mode) {
        mode.run(async {
            let order = log();
            let at = Instant::now() + Duration::from_millis(10);
            let at2 = at + Duration::from_millis(5);
            for i in 0..60 {
                let order = order.clone();
                let when = if i % 3 == 0 { at2 } else { at };
                ringloop::call_at(when, move || order.borrow_mut().push(i));
            }
            let past = log();
            let now = Instant::now();
            for i in 0..5 {
                let past = past.clone();
                ringloop::call_at(
                    now.checked_sub(Duration::from_secs(1)).unwrap_or(now),
                    move || past.borrow_mut().push(i),
                );
            }
            assert!(
                yield_until(10, || past.borrow().len() == 5).await,
                "past deadlines wait"
            );
            assert_eq!(*past.borrow(), [0, 1, 2, 3, 4]);
            assert!(sleep_until_cond(Duration::from_secs(5), || order.borrow().len() == 60).await);
            let expected: Vec<i32> = (0..60)
                .filter(|i| i % 3 != 0)
                .chain((0..60).filter(|i| i % 3 == 0))
                .collect();
            assert_eq!(*order.borrow(), expected);
        });
    }
}

any_driver_test! {
    fn cancel_before_firing(mode) {
        mode.run(async {
            let drops = Drops::new();
            let ran = Rc::new(Cell::new(0));
            let (token, r) = (drops.token(), ran.clone());
            let later = ringloop::call_later(Duration::from_millis(10), move || {
                let _token = token;
                r.set(r.get() + 1);
            });
            let (token, r) = (drops.token(), ran.clone());
            let at = ringloop::call_at(Instant::now(), move || {
                let _token = token;
                r.set(r.get() + 1);
            });
            assert!(!later.cancelled());
            later.cancel();
            at.cancel();
            assert!(later.cancelled() && at.cancelled());
            // A timer's closure (and what it captured) is dropped at cancel.
            assert_eq!(drops.count(), 2);
            later.cancel();
            assert!(later.cancelled());
            assert_eq!(drops.count(), 2);

            let (token, r) = (drops.token(), ran.clone());
            let soon = ringloop::call_soon(move || {
                let _token = token;
                r.set(r.get() + 1);
            });
            soon.cancel();
            assert!(soon.cancelled());
            ringloop::sleep(Duration::from_millis(30)).await;
            assert_eq!(ran.get(), 0, "a cancelled callback ran");
            // The call_soon closure is gone by the next turn.
            assert_eq!(drops.count(), 3);

            // Dropping a handle does not cancel.
            let r = ran.clone();
            drop(ringloop::call_later(Duration::from_millis(1), move || {
                r.set(r.get() + 1)
            }));
            let r = ran.clone();
            drop(ringloop::call_soon(move || r.set(r.get() + 1)));
            assert!(sleep_until_cond(Duration::from_secs(5), || ran.get() == 2).await);
        });
    }
}

any_driver_test! {
    fn when_reports_the_deadline(mode) {
        mode.run(async {
            let d = Duration::from_millis(250);
            let before = Instant::now();
            let later = ringloop::call_later(d, || {});
            let after = Instant::now();
            let when = later.when().expect("a timer has a deadline");
            assert!(
                when >= before + d && when <= after + d,
                "{:?}",
                when - before
            );

            let at = Instant::now() + Duration::from_millis(70);
            assert_eq!(ringloop::call_at(at, || {}).when(), Some(at));
            assert_eq!(ringloop::call_soon(|| {}).when(), None);
            let never = ringloop::call_later(Duration::MAX, || {});
            assert_eq!(never.when(), None);
            assert!(!format!("{never:?}").is_empty());
            later.cancel();
            assert_eq!(later.when(), Some(when), "when() survives cancel");
        });
    }
}

any_driver_test! {
    fn callbacks_spawn_tasks_and_handles_outlive_the_runtime(mode) {
        let result = Rc::new(Cell::new(None));
        let r = result.clone();
        let handles = mode.run(async move {
            // A callback runs inside the runtime: it may spawn tasks.
            ringloop::call_soon(move || {
                ringloop::spawn(async move {
                    ringloop::sleep(Duration::from_millis(1)).await;
                    r.set(Some("spawned by a callback"));
                });
            });
            assert!(sleep_until_cond(Duration::from_secs(5), || result.get().is_some()).await);
            assert_eq!(result.get(), Some("spawned by a callback"));
            (
                ringloop::call_later(Duration::from_secs(3600), || {}),
                ringloop::call_soon(|| {}),
            )
        });
        // Handles that outlive their runtime can still be cancelled.
        let (later, soon) = handles;
        later.cancel();
        soon.cancel();
        assert!(later.cancelled() && soon.cancelled());
    }
}
