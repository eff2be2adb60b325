//! Shutdown: `run` returning and `Runtime` being dropped cancel every leftover task
//! (each future dropped exactly once), tasks spawned by destructors meanwhile are
//! cancelled too, a runtime dropped inside another one, and no descriptor leak over
//! 50 runtimes (counted in a child process, alone).

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringloop::{JoinError, JoinHandle};
use support::{is_child, matrix_test_name, open_fds, poll_once, run_child, Drops};

const HOUR: Duration = Duration::from_secs(3600);

matrix_test! {
    fn shutdown_cancels_leftover_tasks(mode) {
        let drops = Drops::new();
        let resumed = Rc::new(Cell::new(0));
        let (d, r) = (drops.clone(), resumed.clone());
        let handles = mode.run(async move {
            let mut handles = Vec::new();
            for i in 0..8 {
                let (token, r) = (d.token(), r.clone());
                handles.push(ringloop::spawn(async move {
                    let _token = token;
                    if i % 2 == 0 {
                        ringloop::sleep(HOUR).await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                    r.set(r.get() + 1);
                }));
            }
            ringloop::yield_now().await;
            // Two that never started.
            for _ in 0..2 {
                let (token, r) = (d.token(), r.clone());
                handles.push(ringloop::spawn(async move {
                    let _token = token;
                    r.set(r.get() + 1);
                }));
            }
            assert_eq!(d.count(), 0);
            handles
        });
        assert_eq!(
            drops.count(),
            10,
            "each leftover future dropped exactly once"
        );
        assert_eq!(resumed.get(), 0);
        for mut handle in handles {
            assert!(handle.is_finished());
            assert_eq!(
                poll_once(&mut handle),
                Poll::Ready(Err(JoinError::Cancelled))
            );
        }

        // The same when a Runtime is dropped.
        let drops = Drops::new();
        let rt = mode.runtime();
        let token = drops.token();
        let mut waiting = rt.spawn(async move {
            let _token = token;
            ringloop::sleep(HOUR).await;
        });
        let token = drops.token();
        let mut unstarted = rt.spawn(async move { drop(token) });
        rt.block_on(async {});
        drop(rt);
        assert_eq!(drops.count(), 2);
        assert_eq!(
            poll_once(&mut waiting),
            Poll::Ready(Err(JoinError::Cancelled))
        );
        assert!(poll_once(&mut unstarted).is_ready());
    }
}

/// What a [`SpawnOnDrop`] and the task it spawns report.
#[derive(Clone, Default)]
struct Probe {
    drops: Drops,
    started: Rc<Cell<bool>>,
    passed_sleep: Rc<Cell<bool>>,
    handle: Rc<RefCell<Option<JoinHandle<()>>>>,
}

impl Probe {
    fn spawner(&self) -> SpawnOnDrop {
        SpawnOnDrop(self.clone())
    }
}

/// Spawns a task (holding a drop token, sleeping an hour) from its destructor, and
/// keeps its handle in the probe.
struct SpawnOnDrop(Probe);

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let token = self.0.drops.token();
        let started = self.0.started.clone();
        let passed = self.0.passed_sleep.clone();
        let handle = ringloop::spawn(async move {
            let _token = token;
            started.set(true);
            ringloop::sleep(HOUR).await;
            passed.set(true);
        });
        *self.0.handle.borrow_mut() = Some(handle);
    }
}

matrix_test! {
    fn tasks_spawned_during_shutdown_are_cancelled(mode) {
        for in_timer in [false, true] {
            let probe = Probe::default();
            let spawner = probe.spawner();
            let start = Instant::now();
            mode.run(async move {
                if in_timer {
                    // Dropped with the timer heap, after the tasks are gone.
                    ringloop::call_later(HOUR, move || drop(spawner));
                } else {
                    ringloop::spawn(async move {
                        let _spawner = spawner;
                        std::future::pending::<()>().await;
                    });
                }
                ringloop::yield_now().await;
            });
            assert!(
                start.elapsed() < support::scaled(Duration::from_secs(2)),
                "{:?}",
                start.elapsed()
            );
            assert_eq!(probe.drops.count(), 1, "in_timer: {in_timer}");
            assert!(!probe.passed_sleep.get());
            let mut handle = probe
                .handle
                .borrow_mut()
                .take()
                .expect("the destructor spawned");
            assert!(handle.is_finished());
            assert_eq!(
                poll_once(&mut handle),
                Poll::Ready(Err(JoinError::Cancelled))
            );
        }
    }
}

matrix_test! {
    fn no_descriptor_leak(mode) {
        if !is_child() {
            // Alone in a process, so that other tests' descriptors do not count.
            let output = run_child(&matrix_test_name(module_path!(), mode), &[]);
            assert!(output.success, "{output:#?}");
            return;
        }
        let before_any = open_fds();
        drop(mode.runtime());
        // The first runtime may leave its wake-up eventfd in the slot pool, kept for
        // the next runtime (runtime/shared.rs); nothing more.
        let baseline = open_fds();
        assert!(baseline <= before_any + 1, "{before_any} -> {baseline}");
        for i in 0..50 {
            let rt = mode.runtime();
            rt.block_on(async {
                let task = ringloop::spawn(ringloop::sleep(Duration::from_millis(1)));
                ringloop::spawn(ringloop::sleep(HOUR));
                ringloop::call_later(HOUR, || {});
                task.await.unwrap();
            });
            drop(rt);
            assert_eq!(open_fds(), baseline, "after runtime {i}");
        }
        // Also after a plain run.
        mode.run(ringloop::sleep(Duration::from_millis(1)));
        assert_eq!(open_fds(), baseline);
    }
}

matrix_test! {
    fn a_runtime_dropped_inside_another(mode) {
        let drops = Drops::new();
        let inner = mode.runtime();
        let mut leftovers: Vec<_> = (0..3)
            .map(|_| {
                let token = drops.token();
                inner.spawn(async move {
                    let _token = token;
                    ringloop::sleep(HOUR).await;
                })
            })
            .collect();
        inner.block_on(ringloop::yield_now());
        let d = drops.clone();
        let outer_result = mode.run(async move {
            let outer_task = ringloop::spawn(async {
                ringloop::sleep(Duration::from_millis(20)).await;
                "outer task"
            });
            let dropper = ringloop::spawn(async move {
                drop(inner);
                ringloop::yield_now().await;
                d.count()
            });
            let dropped_then = dropper.await.unwrap();
            ringloop::sleep(Duration::from_millis(1)).await;
            (dropped_then, outer_task.await)
        });
        assert_eq!(outer_result, (3, Ok("outer task")));
        assert_eq!(drops.count(), 3);
        for handle in &mut leftovers {
            assert_eq!(poll_once(handle), Poll::Ready(Err(JoinError::Cancelled)));
        }
    }
}

matrix_test! {

    fn a_task_spawned_while_an_inner_runtime_drops_is_cancelled(mode) {
        let probe = Probe::default();
        let inner = mode.runtime();
        let spawner = probe.spawner();
        let _leftover = inner.spawn(async move {
            let _spawner = spawner;
            std::future::pending::<()>().await;
        });
        inner.block_on(ringloop::yield_now());
        let p = probe.clone();
        mode.run(async move {
            let dropper = ringloop::spawn(async move { drop(inner) });
            dropper.await.unwrap();
            for _ in 0..3 {
                ringloop::yield_now().await;
            }
            // The inner runtime's shutdown cancelled what its destructor spawned...
            let mut handle = p
                .handle
                .borrow_mut()
                .take()
                .expect("the destructor spawned");
            assert!(
                handle.is_finished(),
                "it is still alive (on the outer runtime)"
            );
            assert_eq!(
                poll_once(&mut handle),
                Poll::Ready(Err(JoinError::Cancelled))
            );
            // ... which never ran on the outer one.
            assert!(!p.started.get(), "it ran on the outer runtime");
            assert_eq!(p.drops.count(), 1);
        });
        assert!(!probe.passed_sleep.get());
    }
}
