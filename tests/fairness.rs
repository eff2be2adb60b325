//! `yield_now` fairness: yielding tasks take turns, and a task that yields in a loop
//! starves neither timers, nor other tasks, nor callbacks, nor the main future.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Upper bound on the iterations of a spinning task, so that a starved test still ends.
const MAX_SPINS: usize = 5_000_000;

/// Spawns a task that yields in a loop until `stop` is set (or `MAX_SPINS`), counting
/// its iterations in `spins`.
fn spawn_spinner(stop: Rc<Cell<bool>>, spins: Rc<Cell<usize>>) -> ringloop::JoinHandle<()> {
    ringloop::spawn(async move {
        for _ in 0..MAX_SPINS {
            if stop.get() {
                return;
            }
            spins.set(spins.get() + 1);
            ringloop::yield_now().await;
        }
    })
}

matrix_test! {
    fn two_yielding_tasks_alternate(mode) {
        mode.run(async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let worker = |name: &'static str| {
                let log = log.clone();
                ringloop::spawn(async move {
                    for i in 0..5 {
                        log.borrow_mut().push(format!("{name}{i}"));
                        ringloop::yield_now().await;
                    }
                })
            };
            let a = worker("a");
            let b = worker("b");
            a.await.unwrap();
            b.await.unwrap();
            let expected: Vec<String> = (0..5)
                .flat_map(|i| [format!("a{i}"), format!("b{i}")])
                .collect();
            assert_eq!(*log.borrow(), expected);
        });
    }
}

matrix_test! {
    fn three_tasks_round_robin(mode) {
        mode.run(async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let handles: Vec<_> = (0..3)
                .map(|id| {
                    let log = log.clone();
                    ringloop::spawn(async move {
                        for _ in 0..4 {
                            log.borrow_mut().push(id);
                            ringloop::yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            assert_eq!(*log.borrow(), [0, 1, 2].repeat(4));
        });
    }
}

matrix_test! {
    fn a_yield_loop_does_not_starve_timers(mode) {
        mode.run(async {
            let stop = Rc::new(Cell::new(false));
            let spins = Rc::new(Cell::new(0));
            let spinner = spawn_spinner(stop.clone(), spins.clone());

            let start = Instant::now();
            // A sleeping task and the main future's own sleep both need the timer.
            let sleeper = ringloop::spawn(async {
                ringloop::sleep(Duration::from_millis(30)).await;
                Instant::now()
            });
            ringloop::sleep(Duration::from_millis(20)).await;
            let main_woke = start.elapsed();
            let sleeper_woke = sleeper.await.unwrap().duration_since(start);
            stop.set(true);
            spinner.await.unwrap();

            assert!(main_woke >= Duration::from_millis(20), "{main_woke:?}");
            assert!(
                main_woke < common::scaled(Duration::from_secs(2)),
                "timer starved: {main_woke:?}"
            );
            assert!(
                sleeper_woke >= Duration::from_millis(30),
                "{sleeper_woke:?}"
            );
            assert!(
                sleeper_woke < common::scaled(Duration::from_secs(2)),
                "timer starved: {sleeper_woke:?}"
            );
            assert!(spins.get() > 10, "the spinner hardly ran: {}", spins.get());
            assert!(spins.get() < MAX_SPINS, "the spinner was never stopped");
        });
    }
}

matrix_test! {
    fn a_yield_loop_does_not_starve_tasks_or_callbacks(mode) {
        mode.run(async {
            let stop = Rc::new(Cell::new(false));
            let spins = Rc::new(Cell::new(0));
            let spinner = spawn_spinner(stop.clone(), spins.clone());

            let steps = Rc::new(Cell::new(0));
            let s = steps.clone();
            let stepper = ringloop::spawn(async move {
                for _ in 0..100 {
                    s.set(s.get() + 1);
                    ringloop::yield_now().await;
                }
            });
            let callback_ran = Rc::new(Cell::new(false));
            let c = callback_ran.clone();
            ringloop::call_soon(move || c.set(true));

            let result = ringloop::wait_for(Duration::from_secs(10), stepper).await;
            assert_eq!(result, Ok(Ok(())), "the other task was starved");
            assert_eq!(steps.get(), 100);
            assert!(callback_ran.get(), "the callback was starved");
            // Both made progress side by side: the spinner was not finished first.
            assert!(spins.get() >= 100, "{}", spins.get());
            assert!(
                spins.get() < MAX_SPINS,
                "the spinner ran to its limit first"
            );
            stop.set(true);
            spinner.await.unwrap();
        });
    }
}

matrix_test! {
    fn the_main_future_gets_turns_while_tasks_spin(mode) {
        mode.run(async {
            let stop = Rc::new(Cell::new(false));
            let spins = Rc::new(Cell::new(0));
            let spinner = spawn_spinner(stop.clone(), spins.clone());
            let mut seen = Vec::new();
            for _ in 0..5 {
                ringloop::yield_now().await;
                seen.push(spins.get());
            }
            stop.set(true);
            spinner.await.unwrap();
            // The main future was polled between the spinner's turns, long before the
            // spinner could reach its limit.
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
            assert!(*seen.last().unwrap() < MAX_SPINS / 10, "{seen:?}");
        });
    }
}
