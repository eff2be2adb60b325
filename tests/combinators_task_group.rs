//! `TaskGroup`: values in spawn order, the first `Err` or panic cancelling the
//! siblings at once (their futures dropped, whether or not `join` runs), spawning
//! after a failure or after the group closed, nested spawning through a handle,
//! dropping the group or its `join`, an empty group, named members, cancelling one
//! member; randomized schedules of failures, nested spawns and cancellations over
//! many seeds.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::{wait_for, FailureCause, TaskGroup};
use support::{yield_until, DropToken, Drops, Rng};

/// Awaits `future`, failing the test instead of hanging if it takes over 5 s.
async fn bounded<F: std::future::IntoFuture>(future: F) -> F::Output {
    wait_for(Duration::from_secs(5), future)
        .await
        .expect("hung: not done within 5 s")
}

/// A task body that holds `token`, sleeps an hour and then succeeds.
async fn forever(token: DropToken) -> Result<u32, String> {
    let _token = token;
    ringloop::sleep(Duration::from_secs(3600)).await;
    Ok(0)
}

any_driver_test! {
    fn all_ok_in_spawn_order(mode) {
        mode.run(async {
            let group = TaskGroup::new();
            let finish_order = Rc::new(RefCell::new(Vec::new()));
            for i in 0..6u64 {
                let finish_order = finish_order.clone();
                let task = group.spawn(async move {
                    ringloop::sleep(Duration::from_millis(5 * (6 - i))).await;
                    finish_order.borrow_mut().push(i);
                    Ok::<_, String>(i * 10)
                });
                assert_eq!(task.index(), Some(i as usize));
            }
            let joined = wait_for(Duration::from_secs(5), group.join()).await.unwrap();
            assert_eq!(joined, Ok(vec![0, 10, 20, 30, 40, 50]));
            assert_eq!(*finish_order.borrow(), [5, 4, 3, 2, 1, 0]);

            // No tasks: Ok at once.
            let empty = TaskGroup::<(), ()>::new();
            assert_eq!(bounded(empty.join()).await, Ok(vec![]));
        });
    }
}

any_driver_test! {
    fn first_err_cancels_the_siblings(mode) {
        mode.run(async {
            let drops = Drops::new();
            let group = TaskGroup::new();
            let siblings: Vec<_> = (0..5).map(|_| group.spawn(forever(drops.token()))).collect();
            let failing = group.spawn(async {
                ringloop::sleep(Duration::from_millis(10)).await;
                Err("boom".to_owned())
            });
            let start = Instant::now();
            let error = wait_for(Duration::from_secs(5), group.join())
                .await
                .unwrap()
                .unwrap_err();
            assert!(start.elapsed() < support::scaled(Duration::from_secs(2)));
            assert_eq!(drops.count(), 5, "every sibling's future was dropped");
            assert!(siblings.iter().all(|t| t.is_finished()) && failing.is_finished());
            assert_eq!(error.cancelled, 5);
            assert_eq!(error.failures.len(), 1);
            assert_eq!(error.failures[0].index, 5);
            assert_eq!(error.failures[0].id, failing.id());
            assert_eq!(error.failures[0].cause, FailureCause::Error("boom".to_owned()));
            assert_eq!(
                error.to_string(),
                format!("1 task(s) of the group failed: task 5 (id {}): boom (5 cancelled)", failing.id())
            );
        });
    }
}

any_driver_test! {
    fn failure_cancels_siblings_without_join(mode) {
        mode.run(async {
            let drops = Drops::new();
            let group = TaskGroup::new();
            for _ in 0..3 {
                group.spawn(forever(drops.token()));
            }
            group.spawn(async { Err("early".to_owned()) });
            // Nobody is in `join`: the failure alone cancels the others.
            assert!(yield_until(10, || drops.count() == 3).await, "{}", drops.count());
            let error = bounded(group.join()).await.unwrap_err();
            assert_eq!((error.failures.len(), error.cancelled), (1, 3));
        });
    }
}

any_driver_test! {
    fn a_panic_is_a_failure(mode) {
        mode.run(async {
            let drops = Drops::new();
            let group = TaskGroup::<u32, String>::new();
            group.spawn(async { Ok(1) });
            group.spawn(forever(drops.token()));
            group.spawn(async {
                ringloop::sleep(Duration::from_millis(5)).await;
                panic!("task blew up");
            });
            let error = wait_for(Duration::from_secs(5), group.join())
                .await
                .unwrap()
                .unwrap_err();
            assert_eq!(drops.count(), 1);
            assert_eq!(error.failures.len(), 1);
            assert_eq!(error.failures[0].index, 2);
            assert_eq!(error.failures[0].cause, FailureCause::Panicked("task blew up".to_owned()));
            assert_eq!(error.panics().collect::<Vec<_>>(), ["task blew up"]);
            assert_eq!(error.errors().count(), 0);
            assert_eq!(error.cancelled, 1);
        });
    }
}

any_driver_test! {
    fn failures_in_one_turn_and_later_ones(mode) {
        mode.run(async {
            // Two tasks that fail on their first poll, in the same turn: the first
            // cancels the second before it runs.
            let group = TaskGroup::<(), u32>::new();
            group.spawn(async { Err(1) });
            group.spawn(async { Err(2) });
            let error = bounded(group.join()).await.unwrap_err();
            assert_eq!(error.errors().collect::<Vec<_>>(), [&1]);
            assert_eq!(error.cancelled, 1);

            // A failure while `join` is already waiting.
            let drops = Drops::new();
            let group = TaskGroup::new();
            group.spawn(forever(drops.token()));
            let handle = group.handle();
            let joining = ringloop::spawn(group.join());
            ringloop::sleep(Duration::from_millis(10)).await;
            assert!(!joining.is_finished());
            handle.spawn(async { Err("late".to_owned()) });
            let error = wait_for(Duration::from_secs(5), joining).await.unwrap().unwrap();
            let error = error.unwrap_err();
            assert_eq!(error.errors().collect::<Vec<_>>(), [&"late".to_owned()]);
            assert_eq!(drops.count(), 1);
        });
    }
}

any_driver_test! {
    fn spawning_after_a_failure_cancels_at_once(mode) {
        mode.run(async {
            let group = TaskGroup::new();
            group.spawn(async { Err::<u32, _>("first") });
            ringloop::yield_now().await;
            let drops = Drops::new();
            let polled = Rc::new(Cell::new(false));
            let (token, flag) = (drops.token(), polled.clone());
            let late = group.spawn(async move {
                let _token = token;
                flag.set(true);
                Ok(1)
            });
            assert_eq!(late.index(), Some(1));
            assert!(yield_until(10, || late.is_finished()).await);
            assert_eq!(drops.count(), 1);
            assert!(!polled.get(), "never polled");
            let error = bounded(group.join()).await.unwrap_err();
            assert_eq!((error.failures.len(), error.cancelled), (1, 1));
        });
    }
}

any_driver_test! {
    fn dropping_the_group_or_its_join_cancels(mode) {
        mode.run(async {
            let drops = Drops::new();
            let group = TaskGroup::new();
            for _ in 0..4 {
                group.spawn(forever(drops.token()));
            }
            group.spawn(async { Ok(1) });
            ringloop::yield_now().await;
            drop(group);
            assert!(yield_until(10, || drops.count() == 4).await);

            let drops = Drops::new();
            let group = TaskGroup::new();
            for _ in 0..4 {
                group.spawn(forever(drops.token()));
            }
            assert!(wait_for(Duration::from_millis(10), group.join()).await.is_err());
            assert!(yield_until(10, || drops.count() == 4).await);

            // `join` dropped before its first poll.
            let drops = Drops::new();
            let group = TaskGroup::new();
            group.spawn(forever(drops.token()));
            drop(group.join());
            assert!(yield_until(10, || drops.count() == 1).await);

        });
        // Created, joined and dropped with no task: needs no runtime until a spawn.
        drop(TaskGroup::<(), ()>::new());
        let mut join = Box::pin(TaskGroup::<(), ()>::new().join());
        assert_eq!(support::poll_once(&mut join), std::task::Poll::Ready(Ok(vec![])));
    }
}

any_driver_test! {
    fn nested_spawning_through_a_handle(mode) {
        mode.run(async {
            let group = TaskGroup::new();
            let handle = group.handle();
            for i in 0..3u64 {
                let handle = handle.clone();
                group.spawn(async move {
                    ringloop::sleep(Duration::from_millis(5)).await;
                    // Each child spawns a grandchild; join waits for it too.
                    let grandchild = handle.spawn(async move {
                        ringloop::sleep(Duration::from_millis(5)).await;
                        Ok(100 + i)
                    });
                    assert!(grandchild.index().is_some());
                    Ok::<_, ()>(i)
                });
            }
            drop(handle);
            let mut values = wait_for(Duration::from_secs(5), group.join())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(values[..3], [0, 1, 2], "the first three in spawn order");
            values[3..].sort_unstable();
            assert_eq!(values[3..], [100, 101, 102]);

            // After join, a handle's spawn is cancelled at once and not tracked.
            let group = TaskGroup::new();
            let handle = group.handle();
            bounded(group.join()).await.unwrap();
            let drops = Drops::new();
            let polled = Rc::new(Cell::new(false));
            let (token, flag) = (drops.token(), polled.clone());
            let late = handle.spawn(async move {
                let _token = token;
                flag.set(true);
                Ok::<(), ()>(())
            });
            assert_eq!(late.index(), None);
            assert!(yield_until(10, || drops.count() == 1).await);
            assert!(late.is_finished());
            assert!(!polled.get(), "cancelled before its first poll");
        });
    }
}

any_driver_test! {
    fn task_group_randomized_schedules(mode) {
        mode.run(async {
            for seed in 0..200u64 {
                run_random_group(seed).await;
            }
        });
    }
}

/// What a task of the random group does when it finishes.
#[derive(Clone, Copy, PartialEq, Debug)]
enum End {
    Ok,
    Err,
    Panic,
}

/// A random group: tasks sleep a random while, some spawn children, and end with a
/// value, an `Err` or a panic; `join` is sometimes cut short by a timeout. Checks:
/// once a task fails, no other task of the group ever runs again (it was cancelled at
/// once); `join` reports exactly the tasks that ended, and counts the rest as
/// cancelled; every future is dropped exactly once.
async fn run_random_group(seed: u64) {
    let rng = Rc::new(RefCell::new(Rng::new(seed)));
    let drops = Drops::new();
    let spawned = Rc::new(Cell::new(0usize));
    // Spawned while the group was open (the rest was cancelled at once, untracked).
    let tracked = Rc::new(Cell::new(0usize));
    // (index, how it ended), in the order the tasks ended.
    let ends = Rc::new(RefCell::new(Vec::<(usize, End)>::new()));
    let group = TaskGroup::<usize, usize>::new();
    let handle = group.handle();

    fn spawn_random(
        handle: &ringloop::TaskGroupHandle<usize, usize>,
        rng: &Rc<RefCell<Rng>>,
        drops: &Drops,
        spawned: &Rc<Cell<usize>>,
        tracked: &Rc<Cell<usize>>,
        ends: &Rc<RefCell<Vec<(usize, End)>>>,
        depth: u32,
    ) {
        let (ms, end, children) = {
            let mut rng = rng.borrow_mut();
            let end = match rng.below(20) {
                0 => End::Panic,
                1 | 2 => End::Err,
                _ => End::Ok,
            };
            let children = if depth < 2 { rng.below(3) } else { 0 };
            (rng.below(5), end, children)
        };
        spawned.set(spawned.get() + 1);
        let token = drops.token();
        let (h, rng, drops, spawned, ends) = (
            handle.clone(),
            rng.clone(),
            drops.clone(),
            spawned.clone(),
            ends.clone(),
        );
        let tracked_in_task = tracked.clone();
        let index = Rc::new(Cell::new(usize::MAX));
        let my_index = index.clone();
        let task = handle.spawn(async move {
            let _token = token;
            ringloop::sleep(Duration::from_millis(ms)).await;
            for _ in 0..children {
                spawn_random(
                    &h,
                    &rng,
                    &drops,
                    &spawned,
                    &tracked_in_task,
                    &ends,
                    depth + 1,
                );
            }
            ringloop::yield_now().await;
            let i = my_index.get();
            ends.borrow_mut().push((i, end));
            match end {
                End::Ok => Ok(i),
                End::Err => Err(i),
                End::Panic => panic!("task {i} panics"),
            }
        });
        index.set(task.index().unwrap_or(usize::MAX));
        if task.index().is_some() {
            tracked.set(tracked.get() + 1);
        }
    }

    let first = 1 + rng.borrow_mut().below(8);
    for _ in 0..first {
        spawn_random(&handle, &rng, &drops, &spawned, &tracked, &ends, 0);
    }
    let limit = if rng.borrow_mut().chance(20) {
        Duration::from_millis(rng.borrow_mut().below(6))
    } else {
        Duration::from_secs(5)
    };
    let joined = wait_for(limit, group.join()).await;
    // Children spawned after the group closed are cancelled at once; wait for every
    // future to be gone.
    assert!(
        yield_until(100, || drops.count() == spawned.get()).await,
        "seed {seed}: {} of {} futures dropped",
        drops.count(),
        spawned.get()
    );
    let ends = ends.borrow();
    let first_failure = ends.iter().position(|&(_, end)| end != End::Ok);
    if let Some(at) = first_failure {
        assert_eq!(
            at,
            ends.len() - 1,
            "seed {seed}: a task ran after a failure: {ends:?}"
        );
    }
    let Ok(joined) = joined else { return };
    match joined {
        Ok(values) => {
            assert!(first_failure.is_none(), "seed {seed}");
            assert_eq!(values.len(), ends.len(), "seed {seed}");
            assert_eq!(values.len(), tracked.get(), "seed {seed}");
            assert!(
                values.iter().enumerate().all(|(i, &v)| i == v),
                "seed {seed}: order"
            );
        }
        Err(error) => {
            let at = first_failure.unwrap_or_else(|| panic!("seed {seed}: Err without failure"));
            let (index, end) = ends[at];
            assert_eq!(error.failures.len(), 1, "seed {seed}");
            assert_eq!(error.failures[0].index, index, "seed {seed}");
            let expected = match end {
                End::Err => FailureCause::Error(index),
                _ => FailureCause::Panicked(format!("task {index} panics")),
            };
            assert_eq!(error.failures[0].cause, expected, "seed {seed}");
            assert_eq!(ends.len() + error.cancelled, tracked.get(), "seed {seed}");
        }
    }
}

/// A future that is ready at once with `Ok(2)` and panics when dropped afterwards.
struct PanicsWhenDropped;

impl std::future::Future for PanicsWhenDropped {
    type Output = Result<u32, String>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(2))
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("destructor blew up");
    }
}

any_driver_test! {
    fn a_panic_in_a_finished_futures_destructor_is_a_failure(mode) {
        mode.run(async {
            let group = TaskGroup::<u32, String>::new();
            group.spawn(async { Ok(1) });
            // Returns Ok, then its destructor panics as the future is dropped: the
            // group must not report success.
            group.spawn(PanicsWhenDropped);
            let error = bounded(group.join()).await.unwrap_err();
            assert_eq!(error.failures.len(), 1);
            assert_eq!(error.failures[0].index, 1);
            assert_eq!(
                error.failures[0].cause,
                FailureCause::Panicked("destructor blew up".to_owned())
            );
        });
    }
}

any_driver_test! {
    fn members_have_names(mode) {
        mode.run(async {
            let group = TaskGroup::<String, String>::new();
            let named = group.spawn_named("fetcher", async {
                ringloop::yield_now().await;
                Ok(ringloop::current_task().unwrap().name)
            });
            let plain = group.spawn(async { Ok(ringloop::current_task().unwrap().name) });
            let handle = group.handle();
            let nested = Rc::new(RefCell::new(None));
            let n = nested.clone();
            group.spawn_named("spawner", async move {
                let task = handle.spawn_named("nested", async { Ok(ringloop::current_task().unwrap().name) });
                *n.borrow_mut() = Some(task);
                Ok("spawner".to_owned())
            });
            assert_eq!(named.name(), "fetcher");
            assert_eq!(plain.name(), format!("Task-{}", plain.id()));
            let listed = ringloop::all_tasks();
            assert!(listed.iter().any(|t| t.id == named.id() && t.name == "fetcher"), "{listed:?}");
            let values = bounded(group.join()).await.unwrap();
            assert_eq!(values, ["fetcher".to_owned(), plain.name(), "spawner".into(), "nested".into()]);
            assert_eq!(nested.borrow().as_ref().unwrap().name(), "nested");
            assert_eq!(named.name(), "fetcher", "the name outlives the task");

            // A closed group's spawn keeps the name too.
            let group = TaskGroup::<(), ()>::new();
            let handle = group.handle();
            bounded(group.join()).await.unwrap();
            let late = handle.spawn_named("late", async { Ok(()) });
            assert_eq!((late.name().as_str(), late.index()), ("late", None));
        });
    }
}

any_driver_test! {
    fn cancelling_one_member_leaves_the_group_going(mode) {
        mode.run(async {
            let drops = Drops::new();
            let group = TaskGroup::new();
            group.spawn(async { Ok::<_, String>(1) });
            let doomed = group.spawn(forever(drops.token()));
            let sibling_done = Rc::new(Cell::new(false));
            let done = sibling_done.clone();
            group.spawn(async move {
                ringloop::sleep(Duration::from_millis(20)).await;
                done.set(true);
                Ok(3)
            });
            ringloop::yield_now().await;
            assert!(doomed.cancel());
            assert!(yield_until(10, || drops.count() == 1).await, "the member was not cancelled");
            assert!(doomed.is_finished());
            assert!(!doomed.cancel(), "cancelled twice");
            assert!(!sibling_done.get());
            // The group is not failed: its other members run to the end, and it
            // succeeds without the cancelled member's value.
            assert_eq!(bounded(group.join()).await, Ok(vec![1, 3]));
            assert!(sibling_done.get());

            // A member that cancels itself, and one cancelled before it started.
            let group = TaskGroup::<u32, String>::new();
            let me = Rc::new(RefCell::new(None::<ringloop::GroupTask>));
            let m = me.clone();
            let itself = group.spawn(async move {
                ringloop::yield_now().await;
                assert!(m.borrow().as_ref().unwrap().cancel());
                ringloop::yield_now().await;
                unreachable!("ran past its own cancel");
            });
            *me.borrow_mut() = Some(itself.clone());
            let unstarted = group.spawn(async { Ok(5) });
            assert!(unstarted.cancel());
            group.spawn(async { Ok(6) });
            assert_eq!(bounded(group.join()).await, Ok(vec![6]));

            // With a failure as well, the cancelled member counts as cancelled.
            let drops = Drops::new();
            let group = TaskGroup::new();
            let doomed = group.spawn(forever(drops.token()));
            group.spawn(async {
                ringloop::sleep(Duration::from_millis(5)).await;
                Err::<u32, _>("boom".to_owned())
            });
            ringloop::yield_now().await;
            assert!(doomed.cancel());
            let error = bounded(group.join()).await.unwrap_err();
            assert_eq!(error.errors().collect::<Vec<_>>(), [&"boom".to_owned()]);
            assert_eq!(error.cancelled, 1);
        });
    }
}
