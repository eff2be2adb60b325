//! `wait` and `shield`: every `ReturnWhen` with and without a timeout, handles given
//! back intact and still awaitable, pending tasks still running afterwards, panics
//! versus cancellations for `FirstException`, thousands of handles, dropping a
//! `wait` mid-way (nothing cancelled); a shielded task surviving a `wait_for`
//! timeout and the cancellation of the task awaiting it; randomized schedules.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future, IntoFuture};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringloop::{shield, shield_handle, wait, wait_for, JoinError, JoinHandle, ReturnWhen};
use support::{poll_once, sleep_until_cond, yield_until, Drops, Rng};

/// A task that sleeps `ms`, then returns `value`.
fn task_after(ms: u64, value: u32) -> JoinHandle<u32> {
    ringloop::spawn(async move {
        ringloop::sleep(Duration::from_millis(ms)).await;
        value
    })
}

/// A task that sleeps `ms`, then panics.
fn panic_after(ms: u64) -> JoinHandle<u32> {
    ringloop::spawn(async move {
        ringloop::sleep(Duration::from_millis(ms)).await;
        panic!("task failed after {ms} ms");
    })
}

fn ids<T>(handles: &[JoinHandle<T>]) -> Vec<u64> {
    handles.iter().map(|h| h.id().as_u64()).collect()
}

/// Awaits `future`, failing the test instead of hanging if it takes over 5 s.
async fn bounded<F: IntoFuture>(future: F) -> F::Output {
    wait_for(Duration::from_secs(5), future)
        .await
        .expect("hung: not done within 5 s")
}

/// Awaiting a finished handle is immediate: ready on the first poll.
fn take_now<T>(mut handle: JoinHandle<T>) -> Result<T, JoinError> {
    match poll_once(&mut handle) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a handle in `done` was not ready"),
    }
}

any_driver_test! {
    fn wait_first_completed_splits_in_input_order(mode) {
        mode.run(async {
            let handles = vec![task_after(1000, 1), task_after(10, 2), task_after(800, 3)];
            let all_ids = ids(&handles);
            let start = Instant::now();
            let (done, pending) = bounded(wait(handles, ReturnWhen::FirstCompleted, None)).await;
            assert!(start.elapsed() < support::scaled(Duration::from_millis(700)), "{:?}", start.elapsed());
            assert_eq!(ids(&done), [all_ids[1]]);
            assert_eq!(ids(&pending), [all_ids[0], all_ids[2]]);
            assert!(pending.iter().all(|h| !h.is_finished()));
            let done: Vec<_> = done.into_iter().map(take_now).collect();
            assert_eq!(done, [Ok(2)]);
            // The pending tasks kept running and finish on their own.
            let rest = wait_for(Duration::from_secs(5), ringloop::gather_all(pending)).await;
            assert_eq!(rest, Ok(vec![Ok(1), Ok(3)]));
        });
    }
}

any_driver_test! {
    fn wait_all_completed_gives_every_handle_finished(mode) {
        mode.run(async {
            let handles: Vec<_> = (0..5).map(|i| task_after(5 * (5 - i), i as u32)).collect();
            let all_ids = ids(&handles);
            let waiting = wait(handles, ReturnWhen::AllCompleted, None);
            let (done, pending) = wait_for(Duration::from_secs(5), waiting).await.unwrap();
            assert!(pending.is_empty());
            assert_eq!(ids(&done), all_ids, "input order");
            let outputs: Vec<_> = done.into_iter().map(take_now).collect();
            assert_eq!(outputs, [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4)]);
        });
    }
}

any_driver_test! {
    fn wait_first_exception_stops_at_a_panic(mode) {
        mode.run(async {
            let handles = vec![task_after(3_600_000, 1), panic_after(20), task_after(5, 3)];
            let start = Instant::now();
            let waiting = wait(handles, ReturnWhen::FirstException, None);
            let (done, pending) = wait_for(Duration::from_secs(5), waiting).await.unwrap();
            assert!(start.elapsed() < support::scaled(Duration::from_secs(2)));
            // Everything finished by then is in `done`: the quick task and the panic.
            assert_eq!(done.len(), 2);
            let outputs: Vec<_> = done.into_iter().map(take_now).collect();
            assert_eq!(outputs[0], Err(JoinError::Panicked("task failed after 20 ms".into())));
            assert_eq!(outputs[1], Ok(3));
            assert_eq!(pending.len(), 1);
            assert!(pending[0].cancel(), "the long task was still running");
        });
    }
}

any_driver_test! {
    fn wait_first_exception_ignores_cancellation_and_errors(mode) {
        mode.run(async {
            // A cancelled task and an `Err` output are not exceptions: with no panic,
            // FirstException waits for everything, like AllCompleted.
            let cancelled = task_after(3_600_000, 0);
            assert!(cancelled.cancel());
            let erring = ringloop::spawn(async { Err::<u32, &str>("an error value") });
            let erring_ok = ringloop::spawn(async {
                ringloop::sleep(Duration::from_millis(60)).await;
                Ok::<u32, &str>(7)
            });
            let start = Instant::now();
            let (done, pending) = wait(
                [erring, erring_ok],
                ReturnWhen::FirstException,
                Some(Duration::from_secs(5)),
            )
            .await;
            assert!(start.elapsed() >= Duration::from_millis(55), "{:?}", start.elapsed());
            assert_eq!((done.len(), pending.len()), (2, 0));

            let slow = task_after(60, 1);
            let start = Instant::now();
            let (done, _) = bounded(wait([cancelled, slow], ReturnWhen::FirstException, None)).await;
            assert!(start.elapsed() >= Duration::from_millis(55), "{:?}", start.elapsed());
            let outputs: Vec<_> = done.into_iter().map(take_now).collect();
            assert_eq!(outputs, [Err(JoinError::Cancelled), Ok(1)]);
        });
    }
}

any_driver_test! {
    fn wait_timeout_returns_what_is_done_and_leaves_the_rest_running(mode) {
        mode.run(async {
            for return_when in [
                ReturnWhen::FirstException,
                ReturnWhen::AllCompleted,
                ReturnWhen::FirstCompleted,
            ] {
                let slow_done = Rc::new(Cell::new(false));
                let flag = slow_done.clone();
                let slow = ringloop::spawn(async move {
                    ringloop::sleep(Duration::from_millis(400)).await;
                    flag.set(true);
                    9
                });
                // FirstCompleted must time out too: nothing finishes early for it.
                let quick = if return_when == ReturnWhen::FirstCompleted {
                    task_after(300, 1)
                } else {
                    task_after(1, 1)
                };
                let start = Instant::now();
                let (done, pending) =
                    bounded(wait([slow, quick], return_when, Some(Duration::from_millis(40)))).await;
                let elapsed = start.elapsed();
                assert!(elapsed >= Duration::from_millis(40), "{return_when:?}: {elapsed:?}");
                assert!(elapsed < support::scaled(Duration::from_millis(250)), "{return_when:?}: {elapsed:?}");
                let expected_done = usize::from(return_when != ReturnWhen::FirstCompleted);
                assert_eq!(done.len(), expected_done, "{return_when:?}");
                assert_eq!(pending.len(), 2 - expected_done, "{return_when:?}");
                // Still running, not cancelled: they finish with their values.
                assert!(!slow_done.get());
                let rest = wait_for(Duration::from_secs(5), ringloop::gather_all(pending)).await;
                assert!(rest.unwrap().iter().all(Result::is_ok), "{return_when:?}");
                assert!(slow_done.get());
            }
            // A zero timeout looks once.
            let ready = ringloop::spawn(async { 1 });
            ringloop::yield_now().await;
            let slow = task_after(3_600_000, 2);
            let (done, pending) =
                bounded(wait([ready, slow], ReturnWhen::AllCompleted, Some(Duration::ZERO))).await;
            assert_eq!((done.len(), pending.len()), (1, 1));
            pending[0].cancel();
        });
    }
}

any_driver_test! {
    fn wait_empty_and_already_finished(mode) {
        mode.run(async {
            for return_when in [ReturnWhen::FirstCompleted, ReturnWhen::AllCompleted] {
                let mut waiting = wait(Vec::<JoinHandle<()>>::new(), return_when, None);
                let (done, pending) = match poll_once(&mut waiting) {
                    Poll::Ready(split) => split,
                    Poll::Pending => panic!("an empty wait must be ready at once"),
                };
                assert!(done.is_empty() && pending.is_empty());
            }
            let handles: Vec<_> = (0..3).map(|i| ringloop::spawn(async move { i })).collect();
            assert!(yield_until(10, || handles.iter().all(JoinHandle::is_finished)).await);
            let (done, pending) = bounded(wait(handles, ReturnWhen::FirstCompleted, None)).await;
            assert_eq!((done.len(), pending.len()), (3, 0), "all done, all reported");
        });
    }
}

any_driver_test! {
    fn dropping_wait_cancels_its_tasks_and_into_handles_does_not(mode) {
        mode.run(async {
            // A `wait` cancelled (here by an outer timeout) cancels the tasks it owns:
            // nobody could reach them any more.
            let drops = Drops::new();
            let finished = Rc::new(Cell::new(0));
            let handles: Vec<_> = (0..40u64)
                .map(|i| {
                    let token = drops.token();
                    let finished = finished.clone();
                    ringloop::spawn(async move {
                        let _token = token;
                        ringloop::sleep(Duration::from_millis(20 + i % 7)).await;
                        finished.set(finished.get() + 1);
                    })
                })
                .collect();
            let ids: Vec<_> = handles.iter().map(JoinHandle::id).collect();
            let waiting = wait(handles, ReturnWhen::AllCompleted, None);
            assert!(wait_for(Duration::from_millis(5), waiting).await.is_err());
            assert!(sleep_until_cond(Duration::from_secs(5), || drops.count() == 40).await);
            assert_eq!(finished.get(), 0, "a task of a dropped wait ran on");
            assert!(ringloop::all_tasks().iter().all(|t| !ids.contains(&t.id)));

            // Dropped before its first poll: the same.
            let drops = Drops::new();
            let token = drops.token();
            let task = ringloop::spawn(async move {
                let _token = token;
                ringloop::sleep(Duration::from_secs(3600)).await;
            });
            ringloop::yield_now().await;
            drop(wait([task], ReturnWhen::AllCompleted, None));
            assert!(yield_until(10, || drops.count() == 1).await, "not cancelled");

            // A `wait` whose own timeout passed returns its pending tasks uncancelled.
            let ran = Rc::new(Cell::new(false));
            let flag = ran.clone();
            let task = ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(20)).await;
                flag.set(true);
            });
            let (done, pending) =
                bounded(wait([task], ReturnWhen::AllCompleted, Some(Duration::from_millis(1)))).await;
            assert_eq!((done.len(), pending.len()), (0, 1));
            drop(pending);
            assert!(sleep_until_cond(Duration::from_secs(5), || ran.get()).await);

            // Woken by a finished task but dropped before it looks again: into_handles
            // gives every handle back, the finished task's output still in it.
            let handles: Vec<_> = (0..20).map(|i| task_after(if i == 7 { 1 } else { 3_600_000 }, i)).collect();
            let mut waiting = wait(handles, ReturnWhen::FirstCompleted, None);
            poll_fn(|cx| {
                assert!(std::pin::Pin::new(&mut waiting).poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            // Long enough for the 1 ms task to finish, even on a slow machine.
            ringloop::sleep(support::scaled(Duration::from_millis(20))).await;
            let handles = waiting.into_handles();
            assert_eq!(handles.iter().filter(|h| h.is_finished()).count(), 1);
            for (i, handle) in handles.into_iter().enumerate() {
                if i == 7 {
                    assert_eq!(take_now(handle), Ok(7));
                } else {
                    assert!(handle.cancel());
                }
            }

            // into_handles gives them back from a Wait that was polled but not finished.
            let handles = vec![task_after(3_600_000, 1), task_after(0, 2)];
            let mut waiting = wait(handles, ReturnWhen::AllCompleted, None);
            poll_fn(|cx| {
                assert!(std::pin::Pin::new(&mut waiting).poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            let mut handles = waiting.into_handles();
            assert_eq!(handles.len(), 2);
            assert_eq!(handles.pop().unwrap().await, Ok(2));
            assert!(handles[0].cancel());
        });
    }
}

any_driver_test! {
    fn wait_over_thousands_of_handles(mode) {
        const N: u32 = 3000;
        mode.run(async {
            let release = Rc::new(Cell::new(false));
            let handles: Vec<_> = (0..N)
                .map(|i| {
                    let release = release.clone();
                    ringloop::spawn(async move {
                        if i != N / 2 {
                            while !release.get() {
                                ringloop::sleep(Duration::from_millis(5)).await;
                            }
                        }
                        i
                    })
                })
                .collect();
            let (done, pending) =
                wait_for(Duration::from_secs(10), wait(handles, ReturnWhen::FirstCompleted, None))
                    .await
                    .unwrap();
            assert_eq!(done.len(), 1);
            assert_eq!(pending.len() as u32, N - 1);
            assert_eq!(take_now(done.into_iter().next().unwrap()), Ok(N / 2));
            release.set(true);
            let start = Instant::now();
            let (done, pending) =
                wait_for(Duration::from_secs(10), wait(pending, ReturnWhen::AllCompleted, None))
                    .await
                    .unwrap();
            assert!(pending.is_empty());
            assert!(start.elapsed() < support::scaled(Duration::from_secs(5)));
            let outputs: Vec<u32> = done.into_iter().map(|h| take_now(h).unwrap()).collect();
            let expected: Vec<u32> = (0..N).filter(|&i| i != N / 2).collect();
            assert_eq!(outputs, expected);
        });
    }
}

any_driver_test! {
    fn wait_randomized_schedules(mode) {
        mode.run(async {
            for seed in 0..150u64 {
                let mut rng = Rng::new(seed);
                let drops = Drops::new();
                let n = 1 + rng.below(25) as usize;
                let mut panicking = Vec::new();
                let handles: Vec<JoinHandle<u64>> = (0..n)
                    .map(|i| {
                        let ms = rng.below(8);
                        let panics = rng.chance(15);
                        panicking.push(panics);
                        let token = drops.token();
                        let handle = ringloop::spawn(async move {
                            let _token = token;
                            ringloop::sleep(Duration::from_millis(ms)).await;
                            if panics {
                                panic!("seed {seed}: task {i} panics");
                            }
                            i as u64
                        });
                        if rng.chance(10) {
                            handle.cancel();
                        }
                        handle
                    })
                    .collect();
                let all_ids = ids(&handles);
                let return_when = match rng.below(3) {
                    0 => ReturnWhen::FirstCompleted,
                    1 => ReturnWhen::FirstException,
                    _ => ReturnWhen::AllCompleted,
                };
                let timeout = rng.chance(40).then(|| Duration::from_millis(rng.below(6)));
                let waiting = wait(handles, return_when, timeout);
                let outcome = if rng.chance(20) {
                    // Dropped mid-way: nothing is cancelled by it.
                    let limit = Duration::from_millis(rng.below(4));
                    wait_for(limit, waiting).await.ok()
                } else {
                    Some(wait_for(Duration::from_secs(5), waiting).await.unwrap_or_else(|_| {
                        panic!("seed {seed}: wait hung")
                    }))
                };
                if let Some((done, pending)) = outcome {
                    let mut both = ids(&done);
                    both.extend(ids(&pending));
                    both.sort_unstable();
                    assert_eq!(both, all_ids, "seed {seed}: a handle was lost");
                    assert!(done.iter().all(JoinHandle::is_finished), "seed {seed}");
                    assert!(pending.iter().all(|h| !h.is_finished()), "seed {seed}");
                    let outputs: Vec<_> = done.into_iter().map(take_now).collect();
                    for i in outputs.iter().flatten() {
                        assert!(!panicking[*i as usize], "seed {seed}");
                    }
                    if timeout.is_none() {
                        let finished = !outputs.is_empty();
                        let panicked = outputs.iter().any(|o| o.as_ref().is_err_and(JoinError::is_panic));
                        match return_when {
                            ReturnWhen::AllCompleted => assert!(pending.is_empty(), "seed {seed}"),
                            ReturnWhen::FirstCompleted => assert!(finished, "seed {seed}"),
                            ReturnWhen::FirstException => assert!(
                                pending.is_empty() || panicked,
                                "seed {seed}: returned early without a panic"
                            ),
                        }
                    }
                    // Still running: they finish (or were cancelled beforehand).
                    let rest = wait_for(Duration::from_secs(5), ringloop::gather_all(pending)).await;
                    assert!(rest.is_ok(), "seed {seed}: a pending task hung");
                }
                assert!(
                    sleep_until_cond(Duration::from_secs(5), || drops.count() == n).await,
                    "seed {seed}: {} of {n} tasks ended",
                    drops.count()
                );
            }
        });
    }
}

any_driver_test! {
    fn shield_survives_a_wait_for_timeout(mode) {
        mode.run(async {
            let drops = Drops::new();
            let log = Rc::new(RefCell::new(Vec::new()));
            let work = {
                let (token, log) = (drops.token(), log.clone());
                async move {
                    let _token = token;
                    ringloop::sleep(Duration::from_millis(60)).await;
                    log.borrow_mut().push("saved");
                    42
                }
            };
            let shielded = shield(work);
            let id = shielded.id();
            let timed_out = wait_for(Duration::from_millis(10), shielded).await;
            assert!(timed_out.is_err());
            assert!(log.borrow().is_empty());
            assert_eq!(drops.count(), 0, "the shielded work was not dropped");
            assert!(ringloop::all_tasks().iter().any(|t| t.id == id));
            assert!(sleep_until_cond(Duration::from_secs(5), || drops.count() == 1).await);
            assert_eq!(*log.borrow(), ["saved"], "it ran to completion");

            // Not timed out: the shield gives the output.
            assert_eq!(wait_for(Duration::from_secs(5), shield(async { 5 })).await, Ok(Ok(5)));
        });
    }
}

any_driver_test! {
    fn shield_survives_cancelling_the_awaiting_task(mode) {
        mode.run(async {
            let drops = Drops::new();
            let inner_done = Rc::new(Cell::new(false));
            let outer_token = drops.token();
            let flag = inner_done.clone();
            let inner_token = drops.token();
            let outer = ringloop::spawn(async move {
                let _token = outer_token;
                shield(async move {
                    let _token = inner_token;
                    ringloop::sleep(Duration::from_millis(50)).await;
                    flag.set(true);
                    "inner"
                })
                .await
            });
            ringloop::sleep(Duration::from_millis(10)).await;
            assert!(outer.cancel());
            assert_eq!(outer.await, Err(JoinError::Cancelled));
            assert_eq!(drops.count(), 1, "only the outer task was dropped");
            assert!(!inner_done.get());
            assert!(sleep_until_cond(Duration::from_secs(5), || inner_done.get()).await);
            assert!(yield_until(10, || drops.count() == 2).await);
        });
    }
}

any_driver_test! {
    fn shield_handle_and_inner_failures(mode) {
        mode.run(async {
            // An existing task: nothing spawned, dropping the shield leaves it alone.
            let before = ringloop::all_tasks().len();
            let done = Rc::new(Cell::new(false));
            let flag = done.clone();
            let task = ringloop::spawn(async move {
                ringloop::sleep(Duration::from_millis(20)).await;
                flag.set(true);
            });
            let shielded = shield_handle(task);
            assert_eq!(ringloop::all_tasks().len(), before + 1);
            drop(shielded);
            assert!(sleep_until_cond(Duration::from_secs(5), || done.get()).await);

            let shielded: ringloop::Shield<u8> = ringloop::spawn(async { 3 }).into();
            assert_eq!(shielded.await, Ok(3));

            // The shield reports the inner task's own cancellation and panics.
            let task = ringloop::spawn(std::future::pending::<()>());
            task.cancel();
            assert_eq!(shield_handle(task).await, Err(JoinError::Cancelled));
            let panicked = shield(async { panic!("inner panic") }).await;
            assert_eq!(panicked, Err::<(), _>(JoinError::Panicked("inner panic".into())));

            // Spawned at once: dropped before its first poll, the work still runs.
            let ran = Rc::new(Cell::new(false));
            let flag = ran.clone();
            drop(shield(async move { flag.set(true) }));
            assert!(yield_until(10, || ran.get()).await);
        });
    }
}

any_driver_test! {
    fn shield_randomized_timeouts(mode) {
        mode.run(async {
            let completed = Rc::new(Cell::new(0));
            let drops = Drops::new();
            let mut rng = Rng::new(7);
            let n: usize = 60;
            for seed in 0..n {
                let work_ms = rng.below(6);
                let limit = Duration::from_millis(rng.below(6));
                let (token, completed) = (drops.token(), completed.clone());
                let result = wait_for(limit, shield(async move {
                    let _token = token;
                    ringloop::sleep(Duration::from_millis(work_ms)).await;
                    completed.set(completed.get() + 1);
                    seed
                }))
                .await;
                if let Ok(output) = result {
                    assert_eq!(output, Ok(seed), "seed {seed}");
                }
            }
            assert!(
                sleep_until_cond(Duration::from_secs(5), || completed.get() == n).await,
                "every shielded task completed: {} of {n}",
                completed.get()
            );
            assert_eq!(drops.count(), n);
        });
    }
}
