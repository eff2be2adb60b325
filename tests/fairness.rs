//! `yield_now` fairness: yielding tasks take turns, and a task that yields in a loop
//! starves neither timers, nor other tasks, nor callbacks, nor the main future.

mod support;

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

any_driver_test! {
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

any_driver_test! {
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

any_driver_test! {
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
                main_woke < support::scaled(Duration::from_secs(2)),
                "timer starved: {main_woke:?}"
            );
            assert!(
                sleeper_woke >= Duration::from_millis(30),
                "{sleeper_woke:?}"
            );
            assert!(
                sleeper_woke < support::scaled(Duration::from_secs(2)),
                "timer starved: {sleeper_woke:?}"
            );
            assert!(spins.get() > 10, "the spinner hardly ran: {}", spins.get());
            assert!(spins.get() < MAX_SPINS, "the spinner was never stopped");
        });
    }
}

any_driver_test! {
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

any_driver_test! {
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

/// How a sleeper fares next to a busy task: the busy task's steps (reads, yields)
/// that completed after the sleeper's deadline had passed but before it woke, at
/// most, over several sleeps; and the sleeps' lateness (reported, not asserted:
/// the machine may be busy).
struct Lateness {
    steps_past_deadline: usize,
    late: Vec<Duration>,
}

/// Sleeps 10 ms `rounds` times next to `busy`, which calls its `step` closure after
/// each of its steps and stops when `stop` is set.
async fn sleeper_next_to<F>(rounds: usize, busy: impl FnOnce(Rc<dyn Fn() -> bool>) -> F) -> Lateness
where
    F: std::future::Future<Output = ()> + 'static,
{
    // The sleeper's current deadline, whether it has woken, and the steps counted
    // past the deadline in this round.
    let deadline = Rc::new(Cell::new(None::<Instant>));
    let past = Rc::new(Cell::new(0usize));
    let stop = Rc::new(Cell::new(false));
    let step: Rc<dyn Fn() -> bool> = {
        let (deadline, past, stop) = (deadline.clone(), past.clone(), stop.clone());
        Rc::new(move || {
            if deadline.get().is_some_and(|d| Instant::now() > d) {
                past.set(past.get() + 1);
            }
            !stop.get()
        })
    };
    let worker = ringloop::spawn(busy(step));
    let mut result = Lateness {
        steps_past_deadline: 0,
        late: Vec::new(),
    };
    for _ in 0..rounds {
        past.set(0);
        let start = Instant::now();
        // The sleeper's own deadline, exactly: `sleep(10 ms)` would read the clock
        // again, and a stall between the two reads (a descheduled vCPU under TCG)
        // counted the steps of that gap as late.
        let due = start + Duration::from_millis(10);
        deadline.set(Some(due));
        ringloop::time::sleep_until(due).await;
        let woke = Instant::now();
        deadline.set(None);
        result.steps_past_deadline = result.steps_past_deadline.max(past.get());
        result.late.push(woke - start - Duration::from_millis(10));
    }
    stop.set(true);
    worker.await.unwrap();
    result.late.sort();
    result
}

matrix_test! {
    fn a_busy_file_reader_does_not_delay_a_sleeper(mode) {
        // A page-cached file read in a loop: on epoll every read completes at its
        // first poll, so only the op budget makes the reader yield, and the sleeper
        // must wake at the next look at the timers, not after the reader's next
        // budgets (before the fix, up to 61 of them: 7808 reads of 256 KiB).
        let path = std::env::temp_dir().join(format!(
            "ringloop-fairness-{}-{}",
            mode.test_fn(),
            std::process::id()
        ));
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        let p = path.clone();
        let lateness = mode.run(async move {
            let file = Rc::new(ringloop::fs::File::open(&p).await.unwrap());
            sleeper_next_to(20, move |step| async move {
                let mut buf = Vec::with_capacity(256 << 10);
                let mut offset = 0;
                for _ in 0..MAX_SPINS {
                    buf.clear();
                    let (n, b) = file.read_at(buf, offset).await;
                    buf = b;
                    offset = (offset + n.unwrap() as u64) % (1 << 20);
                    if !step() {
                        break;
                    }
                }
            })
            .await
        });
        std::fs::remove_file(&path).unwrap();
        eprintln!(
            "{mode:?}: sleeper lateness median {:?}, max {:?}; reads past the deadline {}",
            lateness.late[lateness.late.len() / 2],
            lateness.late.last().unwrap(),
            lateness.steps_past_deadline
        );
        // One budget (128 reads) before the driver turn and the timers, another if
        // the deadline passed during that look; twice that as slack.
        assert!(
            lateness.steps_past_deadline <= 4 * 128,
            "{mode:?}: {} reads ran after the sleeper's deadline before it woke",
            lateness.steps_past_deadline
        );
    }
}

any_driver_test! {
    fn a_yield_loop_lets_the_timers_in_after_each_yield(mode) {
        // asyncio.sleep(0) semantics: a task that yields runs again only after the
        // loop has looked at I/O and timers.
        let lateness = mode.run(sleeper_next_to(20, |step| async move {
            for _ in 0..MAX_SPINS {
                // Some work between the yields (about a few µs).
                std::hint::black_box((0..2_000u64).sum::<u64>());
                if !step() {
                    break;
                }
                ringloop::yield_now().await;
            }
        }));
        eprintln!(
            "{mode:?}: sleeper lateness median {:?}, max {:?}; yields past the deadline {}",
            lateness.late[lateness.late.len() / 2],
            lateness.late.last().unwrap(),
            lateness.steps_past_deadline
        );
        assert!(
            lateness.steps_past_deadline <= 3,
            "{mode:?}: {} yields ran after the sleeper's deadline before it woke",
            lateness.steps_past_deadline
        );
    }
}
