//! The runtime: `run` returns the value, several `block_on`s on one `Runtime` share
//! its tasks, `Runtime::spawn` before `block_on`, nested `run`/`block_on` panic
//! clearly, a panicking main future leaves the runtime usable, runtimes on several
//! threads at once, and `driver_kind()`/`features()`. Shutdown is in `shutdown.rs`.

mod support;

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringloop::{DriverKind, KernelCompat};

const HOUR: Duration = Duration::from_secs(3600);

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(String::new, |s| s.to_string()),
    }
}

#[test]
fn ringloop_run_returns_the_value() {
    // The default driver (auto, or RINGLOOP_DRIVER): driver-independent by design.
    let value = ringloop::run(async {
        ringloop::sleep(Duration::from_millis(1)).await;
        (String::from("value"), 42)
    });
    assert_eq!(value, (String::from("value"), 42));
}

matrix_test! {
    fn run_returns_the_value_promptly(mode) {
        let start = Instant::now();
        let value = mode.run(async {
            // Leftover tasks sleeping for an hour do not hold up the return.
            ringloop::spawn(ringloop::sleep(HOUR));
            ringloop::spawn(std::future::pending::<()>());
            ringloop::yield_now().await;
            vec![1, 2, 3]
        });
        assert_eq!(value, [1, 2, 3]);
        assert!(
            start.elapsed() < support::scaled(Duration::from_secs(2)),
            "{:?}",
            start.elapsed()
        );
    }
}

matrix_test! {
    fn block_on_again_runs_earlier_tasks(mode) {
        let rt = mode.runtime();
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        let started = Rc::new(Cell::new(false));
        let s = started.clone();
        // The first block_on returns the handle of a task that is still sleeping.
        #[allow(clippy::async_yields_async)]
        let handle = rt.block_on(async move {
            let handle = ringloop::spawn(async move {
                s.set(true);
                ringloop::sleep(Duration::from_millis(30)).await;
                d.set(true);
                "from the first block_on"
            });
            ringloop::yield_now().await;
            handle
        });
        assert!(started.get() && !done.get());
        // The task sleeps through the gap and finishes during the second block_on
        // (which waits for it: a fixed sleep could end in the same turn as the
        // task's, and the main future is polled first, when a thread is starved
        // for longer than both, as under valgrind).
        let d = done.clone();
        let ran = rt.block_on(support::sleep_until_cond(support::step(), move || d.get()));
        assert!(ran, "the earlier task did not run during the second block_on");
        assert!(handle.is_finished());
        assert_eq!(rt.block_on(handle), Ok("from the first block_on"));
        assert_eq!(rt.block_on(async { 7 }), 7);
    }
}

matrix_test! {
    fn spawn_before_block_on(mode) {
        let rt = mode.runtime();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let handle = rt.spawn(async move {
            r.set(true);
            "spawned early"
        });
        assert_eq!(handle.name(), format!("Task-{}", handle.id()));
        assert!(!ran.get(), "ran before any block_on");
        let ran2 = Rc::new(Cell::new(false));
        let r2 = ran2.clone();
        let other = rt.spawn(async move { r2.set(true) });
        // An unrelated block_on runs it too.
        rt.block_on(ringloop::yield_now());
        assert!(ran2.get());
        assert_eq!(rt.block_on(handle), Ok("spawned early"));
        assert!(other.is_finished());
    }
}

matrix_test! {
    fn nested_run_or_block_on_panics(mode) {
        let rt = Rc::new(mode.runtime());
        let inner_rt = rt.clone();
        let messages = rt.block_on(async move {
            let task = ringloop::spawn(async move {
                let mut messages = Vec::new();
                let nested_run = catch_unwind(|| ringloop::run(async { 1 }));
                messages.push(panic_message(nested_run.unwrap_err()));
                let same = catch_unwind(AssertUnwindSafe(|| inner_rt.block_on(async { 2 })));
                messages.push(panic_message(same.unwrap_err()));
                let other = mode.runtime();
                let other_result = catch_unwind(AssertUnwindSafe(|| other.block_on(async { 3 })));
                messages.push(panic_message(other_result.unwrap_err()));
                drop(other);
                // The task itself goes on.
                ringloop::sleep(Duration::from_millis(1)).await;
                messages
            });
            let messages = task.await.expect("the task survived");
            // In the main future too.
            let nested = catch_unwind(|| ringloop::run(async {}));
            assert!(panic_message(nested.unwrap_err()).contains("runtime"));
            // The outer runtime still works.
            ringloop::sleep(Duration::from_millis(5)).await;
            assert_eq!(ringloop::spawn(async { 4 }).await, Ok(4));
            messages
        });
        assert_eq!(messages.len(), 3);
        for message in &messages {
            assert!(message.contains("runtime"), "unclear message: {message:?}");
        }
        assert_eq!(rt.block_on(async { 5 }), 5);
    }
}

matrix_test! {
    fn runtimes_on_several_threads(mode) {
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let sum = mode.run(async move {
                        assert_eq!(ringloop::driver_kind(), mode.driver_kind());
                        let handles = (0..20u64).map(|i| {
                            ringloop::spawn(async move {
                                ringloop::sleep(Duration::from_millis(i % 7)).await;
                                ringloop::yield_now().await;
                                t * 100 + i
                            })
                        });
                        let results = ringloop::gather_all(handles.collect::<Vec<_>>()).await;
                        results.into_iter().map(Result::unwrap).sum::<u64>()
                    });
                    tx.send((t, sum)).unwrap();
                })
            })
            .collect();
        drop(tx);
        let mut sums = Vec::new();
        for _ in 0..4 {
            sums.push(
                rx.recv_timeout(Duration::from_secs(30))
                    .expect("a runtime thread hung"),
            );
        }
        for thread in threads {
            thread.join().unwrap();
        }
        sums.sort();
        let expected: Vec<_> = (0..4u64).map(|t| (t, t * 2000 + 190)).collect();
        assert_eq!(sums, expected);
    }
}

matrix_test! {
    fn driver_kind_and_features_match_the_mode(mode) {
        let rt = mode.runtime();
        assert_eq!(rt.driver_kind(), mode.driver_kind());
        let features = rt.features();
        assert_eq!(features.driver, mode.driver_kind());
        match mode {
            support::Mode::Uring510 => {
                assert!(!features.ext_arg);
                assert_eq!(features.kernel_compat, KernelCompat::V5_10);
            }
            support::Mode::Epoll => assert!(!features.ext_arg),
            support::Mode::Uring => assert_eq!(features.kernel_compat, KernelCompat::Native),
        }
        rt.block_on(async {
            assert_eq!(ringloop::driver_kind(), mode.driver_kind());
            assert_eq!(ringloop::features(), features);
            let in_task = ringloop::spawn(async { ringloop::driver_kind() }).await;
            assert_eq!(in_task, Ok(mode.driver_kind()));
        });
        assert!(format!("{rt:?}").contains(if mode == support::Mode::Epoll {
            "Epoll"
        } else {
            "IoUring"
        }));
        let outside = catch_unwind(ringloop::driver_kind);
        assert!(panic_message(outside.unwrap_err()).contains("outside"));
        assert_ne!(
            DriverKind::IoUring.to_string(),
            DriverKind::Epoll.to_string()
        );
    }
}

matrix_test! {
    fn a_panicking_main_future_leaves_the_runtime_usable(mode) {
        let rt = mode.runtime();
        let task = rt.spawn(async {
            ringloop::sleep(Duration::from_millis(10)).await;
            3
        });
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                ringloop::yield_now().await;
                panic!("the main future panics");
            })
        }));
        assert_eq!(
            panic_message(panicked.unwrap_err()),
            "the main future panics"
        );
        // The same runtime runs again, with the task spawned before.
        let result = rt.block_on(ringloop::wait_for(Duration::from_secs(5), task));
        assert_eq!(result, Ok(Ok(3)));
        drop(rt);
        // And this thread can start a new one.
        assert!(catch_unwind(|| mode.run(async { panic!("again") })).is_err());
        assert_eq!(
            mode.run(async { ringloop::spawn(async { 4 }).await }),
            Ok(4)
        );
    }
}
