//! Panics: in a task (`JoinError::Panicked` with the message, the runtime goes on), in
//! a gathered future, in `call_soon`/`call_later` callbacks, in destructors (run on
//! completion, by `cancel()`, by shutdown, of callbacks dropped at shutdown), and the
//! "Task exception was never retrieved" report on stderr for a panic nobody awaited
//! (checked in a child process that re-runs the test).

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use ringloop::JoinError;
use support::{
    is_child, matrix_test_name, poll_once, run_child, sleep_until_cond, yield_until, Drops,
};

const REPORT: &str = "Task exception was never retrieved";

/// Panics when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

any_driver_test! {
    fn a_panic_in_a_task_is_a_join_error(mode) {
        mode.run(async {
            let survivor = ringloop::spawn(async {
                ringloop::sleep(Duration::from_millis(20)).await;
                "survived"
            });
            let literal = ringloop::spawn(async {
                ringloop::yield_now().await;
                panic!("static message");
            });
            let n = 7;
            let formatted = ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(1)).await;
                if n == 7 {
                    panic!("formatted message {n}");
                }
                n
            });
            assert_eq!(
                literal.await,
                Err(JoinError::Panicked("static message".into()))
            );
            let err = formatted.await.unwrap_err();
            assert!(err.is_panic() && !err.is_cancelled());
            assert_eq!(err, JoinError::Panicked("formatted message 7".into()));
            assert!(err.to_string().contains("formatted message 7"), "{err}");
            // The runtime keeps running the others.
            assert_eq!(survivor.await, Ok("survived"));
            assert_eq!(ringloop::spawn(async { 1 }).await, Ok(1));
        });
    }
}

any_driver_test! {
    fn a_panic_in_a_callback_is_caught(mode) {
        mode.run(async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let l = log.clone();
            ringloop::call_soon(|| panic!("call_soon callback panics"));
            ringloop::call_soon(move || l.borrow_mut().push("soon after the panic"));
            let l = log.clone();
            ringloop::call_later(Duration::from_millis(5), || {
                panic!("call_later callback panics")
            });
            ringloop::call_later(Duration::from_millis(10), move || {
                l.borrow_mut().push("later after the panic")
            });
            let task = ringloop::spawn(async {
                ringloop::sleep(Duration::from_millis(15)).await;
                "task"
            });
            assert!(sleep_until_cond(Duration::from_secs(5), || log.borrow().len() == 2).await);
            assert_eq!(
                *log.borrow(),
                ["soon after the panic", "later after the panic"]
            );
            assert_eq!(task.await, Ok("task"));
        });
    }
}

any_driver_test! {
    fn a_panicking_destructor_during_cancel(mode) {
        mode.run(async {
            let handle = ringloop::spawn(async {
                let _bomb = PanicOnDrop("dropped while cancelled");
                std::future::pending::<()>().await;
            });
            ringloop::yield_now().await;
            assert!(handle.cancel());
            let result = ringloop::wait_for(Duration::from_secs(10), handle).await;
            assert_eq!(
                result,
                Ok(Err(JoinError::Panicked("dropped while cancelled".into())))
            );
            // The runtime goes on.
            ringloop::sleep(Duration::from_millis(1)).await;
            assert_eq!(ringloop::spawn(async { 2 }).await, Ok(2));
        });
    }
}

any_driver_test! {
    fn a_panicking_destructor_at_shutdown(mode) {
        let other_dropped = Rc::new(Cell::new(false));
        let flag = other_dropped.clone();
        let (mut bomb, mut plain) = mode.run(async move {
            let bomb = ringloop::spawn(async {
                let _bomb = PanicOnDrop("dropped at shutdown");
                ringloop::sleep(Duration::from_secs(3600)).await;
            });
            let plain = ringloop::spawn(async move {
                struct SetOnDrop(Rc<Cell<bool>>);
                impl Drop for SetOnDrop {
                    fn drop(&mut self) {
                        self.0.set(true);
                    }
                }
                let _guard = SetOnDrop(flag);
                std::future::pending::<()>().await;
            });
            ringloop::yield_now().await;
            (bomb, plain)
        });
        // Shutdown got past the panic and cancelled the other task too.
        assert!(other_dropped.get());
        assert!(bomb.is_finished() && plain.is_finished());
        assert_eq!(
            poll_once(&mut bomb),
            std::task::Poll::Ready(Err(JoinError::Panicked("dropped at shutdown".into())))
        );
        assert_eq!(
            poll_once(&mut plain),
            std::task::Poll::Ready(Err(JoinError::Cancelled))
        );
        // And this thread can run a runtime again.
        assert_eq!(
            mode.run(async { ringloop::spawn(async { 3 }).await }),
            Ok(3)
        );
    }
}

/// Re-runs the current test in a child process and returns its stderr, after
/// checking that the child passed.
fn child_stderr(module_path: &str, mode: support::Mode) -> String {
    let output = run_child(&matrix_test_name(module_path, mode), &[]);
    assert!(output.success, "the child failed:\n{output:#?}");
    output.stderr
}

/// The lines of `stderr` that report an unretrieved panic.
fn reports(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains(REPORT))
        .collect()
}

any_driver_test! {
    fn an_unretrieved_panic_is_reported_when_the_handle_drops(mode) {
        if !is_child() {
            let stderr = child_stderr(module_path!(), mode);
            let reports = reports(&stderr);
            assert_eq!(reports.len(), 1, "stderr:\n{stderr}");
            assert!(
                reports[0].contains("marker-handle-dropped-late"),
                "{}",
                reports[0]
            );
            assert!(
                reports[0].contains("reporter"),
                "no task name: {}",
                reports[0]
            );
            // Reported when the handle was dropped, not earlier or later.
            let before = stderr
                .find("-- dropping the handle --")
                .expect("first marker");
            let report = stderr.find(REPORT).expect("report");
            let after = stderr.find("-- dropped --").expect("second marker");
            assert!(before < report && report < after, "stderr:\n{stderr}");
            return;
        }
        mode.run(async {
            let handle = ringloop::spawn(async {
                ringloop::yield_now().await;
                panic!("marker-handle-dropped-late");
            });
            handle.set_name("reporter");
            assert!(yield_until(100, || handle.is_finished()).await);
            eprintln!("-- dropping the handle --");
            drop(handle);
            eprintln!("-- dropped --");
            ringloop::sleep(Duration::from_millis(5)).await;
        });
    }
}

any_driver_test! {
    fn a_detached_task_panic_is_reported(mode) {
        if !is_child() {
            let stderr = child_stderr(module_path!(), mode);
            let reports = reports(&stderr);
            assert_eq!(reports.len(), 1, "stderr:\n{stderr}");
            assert!(reports[0].contains("marker-detached"), "{}", reports[0]);
            return;
        }
        mode.run(async {
            let done = Rc::new(Cell::new(false));
            let d = done.clone();
            let handle = ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(5)).await;
                d.set(true);
                panic!("marker-detached");
            });
            drop(handle);
            assert!(sleep_until_cond(Duration::from_secs(5), || done.get()).await);
            ringloop::sleep(Duration::from_millis(5)).await;
        });
    }
}

any_driver_test! {
    fn an_awaited_panic_is_not_reported(mode) {
        if !is_child() {
            let stderr = child_stderr(module_path!(), mode);
            assert_eq!(reports(&stderr), Vec::<&str>::new(), "stderr:\n{stderr}");
            // The panic itself did happen (the default hook printed it).
            assert!(stderr.contains("marker-awaited"), "stderr:\n{stderr}");
            return;
        }
        mode.run(async {
            let handle = ringloop::spawn(async {
                ringloop::yield_now().await;
                panic!("marker-awaited");
            });
            assert!(yield_until(100, || handle.is_finished()).await);
            assert_eq!(
                handle.await,
                Err(JoinError::Panicked("marker-awaited".into()))
            );
            ringloop::sleep(Duration::from_millis(5)).await;
        });
    }
}

any_driver_test! {
    fn a_panicking_destructor_after_the_output(mode) {
        mode.run(async {
            // The future's locals are dropped as it returns: the panic wins.
            let handle = ringloop::spawn(async {
                let _bomb = PanicOnDrop("dropped on completion");
                ringloop::yield_now().await;
                5
            });
            assert_eq!(
                handle.await,
                Err(JoinError::Panicked("dropped on completion".into()))
            );
            // A non-string payload still gives a Panicked error.
            let any = ringloop::spawn(async { std::panic::panic_any(5u8) }).await;
            assert!(any.is_err_and(|e| e.is_panic()));
        });
    }
}

any_driver_test! {
    fn a_panic_in_a_gathered_future_drops_its_siblings(mode) {
        mode.run(async {
            let drops = Drops::new();
            let (t1, t2) = (drops.token(), drops.token());
            let handle = ringloop::spawn(async move {
                ringloop::gather!(
                    async move {
                        let _token = t1;
                        std::future::pending::<()>().await;
                    },
                    async {
                        ringloop::sleep(Duration::from_millis(5)).await;
                        panic!("one gathered future panics");
                    },
                    async move {
                        let _token = t2;
                        ringloop::sleep(Duration::from_secs(3600)).await;
                    },
                )
                .await
            });
            let result = ringloop::wait_for(Duration::from_secs(10), handle).await;
            assert_eq!(
                result,
                Ok(Err(JoinError::Panicked(
                    "one gathered future panics".into()
                )))
            );
            assert_eq!(drops.count(), 2);
        });
    }
}

any_driver_test! {
    fn panicking_callback_destructors_at_shutdown(mode) {
        let drops = Drops::new();
        let d = drops.clone();
        let start = std::time::Instant::now();
        mode.run(async move {
            let (bomb, token) = (PanicOnDrop("timer closure dropped"), d.token());
            ringloop::call_later(Duration::from_secs(3600), move || drop((bomb, token)));
            let (bomb, token) = (PanicOnDrop("soon closure dropped"), d.token());
            ringloop::call_soon(move || drop((bomb, token)));
            let token = d.token();
            ringloop::call_later(Duration::from_secs(3600), move || drop(token));
        });
        // Shutdown went on past both panics and dropped everything.
        assert_eq!(drops.count(), 3);
        assert!(start.elapsed() < support::scaled(Duration::from_secs(2)));
        assert_eq!(
            mode.run(async { ringloop::spawn(async { 1 }).await }),
            Ok(1)
        );
    }
}
