//! Tasks: `spawn` and `JoinHandle` (output, start on yield, detach on drop, cancel,
//! `is_finished`), task ids and names, `current_task()` and `all_tasks()`.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::{JoinError, JoinHandle, TaskState};
use support::{sleep_until_cond, yield_until, Drops};

const HOUR: Duration = Duration::from_secs(3600);

any_driver_test! {
    fn join_gives_output(mode) {
        mode.run(async {
            assert_eq!(ringloop::spawn(async { 6 * 7 }).await, Ok(42));
            let text = ringloop::spawn(async {
                ringloop::sleep(Duration::from_millis(5)).await;
                String::from("after a sleep")
            });
            assert_eq!(text.await.as_deref(), Ok("after a sleep"));
            let unit = ringloop::spawn(async {});
            assert_eq!(unit.await, Ok(()));
        });
    }
}

any_driver_test! {
    fn a_tasks_wakers_are_one_waker(mode) {
        mode.run(async {
            // A waker kept from one poll will_wake the next poll's (borrowed) waker,
            // and a clone of a clone too: futures that keep a waker compare them
            // to skip re-registering, which must not fail for the same task.
            let same = ringloop::spawn(async {
                let kept = std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await;
                let again = kept.clone();
                ringloop::yield_now().await;
                std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(kept.will_wake(cx.waker()) && again.will_wake(cx.waker()))
                })
                .await
            })
            .await;
            assert_eq!(same, Ok(true));
        });
    }
}

any_driver_test! {
    fn tasks_start_only_when_the_spawner_yields(mode) {
        mode.run(async {
            let log = Rc::new(RefCell::new(Vec::new()));
            let l = log.clone();
            let outer = ringloop::spawn(async move {
                let l2 = l.clone();
                let inner = ringloop::spawn(async move { l2.borrow_mut().push("inner") });
                l.borrow_mut().push("outer before yield");
                assert!(!inner.is_finished());
                ringloop::yield_now().await;
                l.borrow_mut().push("outer after yield");
                inner.await.unwrap();
            });
            // The main future has not yielded yet: nothing ran.
            assert!(log.borrow().is_empty());
            assert!(!outer.is_finished());
            outer.await.unwrap();
            assert_eq!(
                *log.borrow(),
                ["outer before yield", "inner", "outer after yield"]
            );
        });
    }
}

any_driver_test! {
    fn dropping_the_handle_detaches(mode) {
        mode.run(async {
            let done = Rc::new(Cell::new(false));
            let d = done.clone();
            let handle = ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(20)).await;
                d.set(true);
            });
            drop(handle);
            assert!(
                sleep_until_cond(Duration::from_secs(5), || done.get()).await,
                "a detached task did not run to completion"
            );
        });
    }
}

any_driver_test! {
    fn cancel_drops_the_future_of_a_waiting_task(mode) {
        mode.run(async {
            let drops = Drops::new();
            let reached_end = Rc::new(Cell::new(false));
            let (token, end) = (drops.token(), reached_end.clone());
            let handle = ringloop::spawn(async move {
                let _token = token;
                std::future::pending::<()>().await;
                end.set(true);
            });
            ringloop::yield_now().await;
            assert!(!handle.is_finished());
            assert_eq!(drops.count(), 0);
            assert!(handle.cancel());
            // A second request is harmless.
            assert!(handle.cancel());
            assert_eq!(handle.await, Err(JoinError::Cancelled));
            assert_eq!(drops.count(), 1);
            assert!(!reached_end.get());
        });
    }
}

any_driver_test! {
    fn cancel_before_the_first_poll(mode) {
        mode.run(async {
            let drops = Drops::new();
            let polled = Rc::new(Cell::new(false));
            let (token, p) = (drops.token(), polled.clone());
            let handle = ringloop::spawn(async move {
                let _token = token;
                p.set(true);
            });
            assert!(handle.cancel());
            let result = handle.await;
            assert!(
                result.as_ref().is_err_and(JoinError::is_cancelled),
                "{result:?}"
            );
            assert!(
                !polled.get(),
                "a task cancelled before it started was polled"
            );
            assert_eq!(drops.count(), 1);
        });
    }
}

any_driver_test! {
    fn cancel_on_a_finished_task_does_nothing(mode) {
        mode.run(async {
            let handle = ringloop::spawn(async { "done" });
            assert!(yield_until(100, || handle.is_finished()).await);
            assert!(!handle.cancel());
            assert!(handle.is_finished());
            assert_eq!(handle.await, Ok("done"));
        });
    }
}

any_driver_test! {
    fn a_task_cancels_itself_through_its_handle(mode) {
        mode.run(async {
            let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::new(RefCell::new(None));
            let log = Rc::new(RefCell::new(Vec::new()));
            let (s, l) = (slot.clone(), log.clone());
            let handle = ringloop::spawn(async move {
                ringloop::yield_now().await;
                let accepted = s.borrow().as_ref().expect("handle stored").cancel();
                l.borrow_mut().push(format!("cancel returned {accepted}"));
                // The next suspension point is where the task stops.
                ringloop::yield_now().await;
                l.borrow_mut().push("after the suspension point".to_owned());
            });
            *slot.borrow_mut() = Some(handle);
            assert!(yield_until(100, || !log.borrow().is_empty()).await);
            let handle = slot.borrow_mut().take().unwrap();
            let result = ringloop::wait_for(Duration::from_secs(10), handle).await;
            assert_eq!(result, Ok(Err(JoinError::Cancelled)));
            assert_eq!(*log.borrow(), ["cancel returned true"]);
        });
    }
}

any_driver_test! {
    fn cancel_a_task_blocked_in_a_long_sleep(mode) {
        let start = Instant::now();
        mode.run(async {
            let drops = Drops::new();
            let token = drops.token();
            let handle = ringloop::spawn(async move {
                let _token = token;
                ringloop::sleep(HOUR).await;
            });
            ringloop::sleep(Duration::from_millis(10)).await;
            assert!(!handle.is_finished());
            assert!(handle.cancel());
            let result = ringloop::wait_for(Duration::from_secs(10), handle).await;
            assert_eq!(result, Ok(Err(JoinError::Cancelled)));
            assert_eq!(drops.count(), 1);
        });
        assert!(
            start.elapsed() < support::scaled(Duration::from_secs(5)),
            "{:?}",
            start.elapsed()
        );
    }
}

any_driver_test! {
    fn is_finished_tracks_the_task(mode) {
        mode.run(async {
            let handle = ringloop::spawn(ringloop::sleep(Duration::from_millis(20)));
            assert!(!handle.is_finished(), "finished before it ran");
            ringloop::yield_now().await;
            assert!(!handle.is_finished(), "finished while sleeping");
            assert!(sleep_until_cond(Duration::from_secs(5), || handle.is_finished()).await);
            assert_eq!(handle.await, Ok(()));

            let cancelled = ringloop::spawn(std::future::pending::<()>());
            cancelled.cancel();
            assert!(yield_until(100, || cancelled.is_finished()).await);
        });
    }
}

any_driver_test! {
    fn ids_are_unique(mode) {
        mode.run(async {
            let mut ids = HashSet::new();
            let mut handles = Vec::new();
            for _ in 0..100 {
                let handle = ringloop::spawn(async {});
                assert!(ids.insert(handle.id()), "duplicate id {}", handle.id());
                handles.push(handle);
            }
            for handle in handles {
                handle.await.unwrap();
            }
            // Finished tasks do not give their ids to new ones.
            for _ in 0..100 {
                let handle = ringloop::spawn(async { ringloop::current_task().unwrap().id });
                let id = handle.id();
                assert!(ids.insert(id), "id {id} reused");
                assert_eq!(handle.await, Ok(id));
            }
            let numbers: HashSet<u64> = ids.iter().map(|id| id.as_u64()).collect();
            assert_eq!(numbers.len(), 200);
        });
    }
}

any_driver_test! {
    fn names_default_to_task_id_and_can_be_set(mode) {
        mode.run(async {
            let handle = ringloop::spawn(async {
                ringloop::yield_now().await;
                ringloop::current_task().unwrap().name
            });
            assert_eq!(handle.name(), format!("Task-{}", handle.id()));
            assert_eq!(handle.name(), format!("Task-{}", handle.id().as_u64()));
            handle.set_name("worker");
            assert_eq!(handle.name(), "worker");
            let other = ringloop::spawn(async {});
            assert_eq!(other.name(), format!("Task-{}", other.id()));
            assert!(ringloop::all_tasks()
                .iter()
                .any(|t| t.name == "worker" && t.id == handle.id()));
            assert_eq!(handle.await.as_deref(), Ok("worker"));
            other.await.unwrap();
        });
    }
}

any_driver_test! {
    fn current_task_inside_and_outside_tasks(mode) {
        assert!(ringloop::current_task().is_none(), "outside any runtime");
        mode.run(async {
            let main = ringloop::current_task().expect("the main future is a task");
            assert_eq!((main.name.as_str(), main.state), ("Task-1", TaskState::Running));
            let handle = ringloop::spawn(async {
                let info = ringloop::current_task().expect("inside a task");
                assert_eq!(info.state, TaskState::Running);
                ringloop::sleep(Duration::from_millis(1)).await;
                let again = ringloop::current_task().expect("inside a task");
                assert_eq!(again.id, info.id);
                info
            });
            let id = handle.id();
            let info = handle.await.unwrap();
            assert_eq!(info.id, id);
            assert_eq!(info.name, format!("Task-{id}"));

            let in_callback = Rc::new(Cell::new(None));
            let c = in_callback.clone();
            ringloop::call_soon(move || c.set(Some(ringloop::current_task().is_none())));
            assert!(yield_until(10, || in_callback.get().is_some()).await);
            assert_eq!(in_callback.get(), Some(true), "a callback is not a task");
            assert_eq!(ringloop::current_task(), Some(main));
        });
    }
}

any_driver_test! {
    fn all_tasks_lists_live_tasks_with_states(mode) {
        assert!(ringloop::all_tasks().is_empty(), "outside any runtime");
        mode.run(async {
            let waiting = ringloop::spawn(ringloop::sleep(HOUR));
            let finished = ringloop::spawn(async {});
            let to_cancel = ringloop::spawn(ringloop::sleep(HOUR));
            ringloop::yield_now().await;
            assert!(finished.is_finished());
            let scheduled = ringloop::spawn(async {});
            assert!(to_cancel.cancel());

            let tasks = ringloop::all_tasks();
            let state_of = |id| tasks.iter().find(|t| t.id == id).map(|t| t.state);
            assert_eq!(state_of(waiting.id()), Some(TaskState::Waiting));
            assert_eq!(state_of(scheduled.id()), Some(TaskState::Scheduled));
            assert_eq!(state_of(to_cancel.id()), Some(TaskState::Cancelling));
            assert_eq!(state_of(finished.id()), None, "a finished task is listed");
            assert_eq!(tasks.len(), 4, "{tasks:?}");
            let main = ringloop::current_task().unwrap();
            assert_eq!(tasks[0], main, "the main task comes first");

            // A task sees itself as running, and the main task waiting for it.
            let me = ringloop::spawn(async move {
                let id = ringloop::current_task().unwrap().id;
                let tasks = ringloop::all_tasks();
                let state_of = |id| tasks.iter().find(|t| t.id == id).map(|t| t.state);
                (state_of(id), state_of(main.id))
            });
            assert_eq!(
                me.await,
                Ok((Some(TaskState::Running), Some(TaskState::Waiting)))
            );

            assert_eq!(to_cancel.await, Err(JoinError::Cancelled));
            scheduled.await.unwrap();
            let ids: Vec<_> = ringloop::all_tasks().into_iter().map(|t| t.id).collect();
            assert_eq!(ids, [main.id, waiting.id()]);
            waiting.cancel();
            assert_eq!(waiting.await, Err(JoinError::Cancelled));
            assert_eq!(ringloop::all_tasks(), [main]);
        });
    }
}

any_driver_test! {
    fn block_on_runs_its_future_as_the_main_task(mode) {
        let rt = mode.runtime();
        // A task spawned before `block_on` takes the first id; the main task the next.
        let early = rt.spawn(async { ringloop::all_tasks() });
        let (main, seen_by_task) = rt.block_on(async {
            let main = ringloop::current_task().expect("the main task");
            (main, early.await.unwrap())
        });
        assert_eq!(main.id.as_u64(), 2);
        assert_eq!(main.name, "Task-2");
        let listed = seen_by_task.iter().find(|t| t.id == main.id);
        assert!(
            matches!(listed.map(|t| t.state), Some(TaskState::Waiting | TaskState::Scheduled)),
            "{seen_by_task:?}"
        );

        // Each `block_on` is a new main task; the last one is gone.
        let again = rt.block_on(async {
            let me = ringloop::current_task().unwrap();
            assert_eq!(ringloop::all_tasks(), std::slice::from_ref(&me));
            me
        });
        assert!(again.id > main.id);
        assert_eq!(again.name, format!("Task-{}", again.id));

        // A task running in a later `block_on` does not see an old main task.
        let lister = rt.spawn(async { ringloop::all_tasks() });
        let tasks = rt.block_on(lister).unwrap();
        assert!(tasks.iter().all(|t| t.id != again.id), "{tasks:?}");
        assert!(ringloop::current_task().is_none(), "outside block_on");

        // A main future that panics leaves no main task behind.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async { panic!("main panics") })
        }));
        assert!(caught.is_err());
        let tasks = rt.block_on(async { ringloop::spawn(async { ringloop::all_tasks() }).await });
        assert_eq!(tasks.unwrap().len(), 2, "the old main task is still listed");
    }
}
