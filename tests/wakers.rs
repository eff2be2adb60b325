//! Wakers that leave their task: woken after the task finished, after the runtime was
//! dropped (also while a new runtime reuses its slot), from another thread while the
//! runtime is parked in a long sleep, from several threads many times at once
//! without losing the last wake-up, and by another runtime while theirs is idle.

mod support;

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Stores a clone of the current task's waker in `slot`.
async fn steal_waker(slot: &RefCell<Option<Waker>>) {
    poll_fn(|cx| {
        *slot.borrow_mut() = Some(cx.waker().clone());
        Poll::Ready(())
    })
    .await;
}

/// Wakes `waker` every way there is, on this thread and on another.
fn wake_every_way(waker: Waker) {
    waker.wake_by_ref();
    // A clone's own reference is consumed by `wake`.
    let clone = waker.clone();
    clone.wake();
    let sent = waker.clone();
    std::thread::spawn(move || {
        sent.wake_by_ref();
        sent.wake();
    })
    .join()
    .unwrap();
    waker.wake();
}

matrix_test! {
    fn wake_after_the_task_finished(mode) {
        mode.run(async {
            let slot = Rc::new(RefCell::new(None));
            let s = slot.clone();
            let task = ringloop::spawn(async move {
                steal_waker(&s).await;
                "finished"
            });
            assert_eq!(task.await, Ok("finished"));
            let waker = slot.borrow_mut().take().unwrap();
            wake_every_way(waker);
            // Wakes from the other thread arrive through the remote queue.
            ringloop::sleep(Duration::from_millis(10)).await;
            assert_eq!(ringloop::spawn(async { 1 }).await, Ok(1));
        });
    }
}

matrix_test! {
    fn wake_after_the_runtime_was_dropped(mode) {
        let (task_waker, main_waker) = mode.run(async {
            let slot = Rc::new(RefCell::new(None));
            let s = slot.clone();
            ringloop::spawn(async move {
                steal_waker(&s).await;
                std::future::pending::<()>().await;
            });
            ringloop::yield_now().await;
            let main = RefCell::new(None);
            steal_waker(&main).await;
            let task_waker = slot.borrow_mut().take().unwrap();
            (task_waker, main.into_inner().unwrap())
        });
        wake_every_way(task_waker.clone());
        wake_every_way(main_waker.clone());

        // A new runtime on this thread may reuse the old one's slot: stale wakes must
        // not disturb it.
        let result = mode.run(async {
            let handles: Vec<_> = (0..10u32)
                .map(|i| {
                    ringloop::spawn(async move {
                        ringloop::sleep(Duration::from_millis(u64::from(i))).await;
                        i
                    })
                })
                .collect();
            ringloop::yield_now().await;
            wake_every_way(task_waker.clone());
            wake_every_way(main_waker.clone());
            let start = Instant::now();
            ringloop::sleep(Duration::from_millis(20)).await;
            assert!(start.elapsed() >= Duration::from_millis(20));
            ringloop::gather_all(handles).await
        });
        let expected: Vec<_> = (0..10).map(Ok).collect();
        assert_eq!(result, expected);
        wake_every_way(task_waker);
        wake_every_way(main_waker);
    }
}

matrix_test! {
    fn wake_from_another_thread_while_parked(mode) {
        mode.run(async {
            // A task woken by the other thread.
            let (tx, rx) = mpsc::channel::<Waker>();
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let task = ringloop::spawn(async move {
                let mut sent = false;
                poll_fn(|cx| {
                    if f.load(Ordering::SeqCst) {
                        return Poll::Ready(());
                    }
                    if !sent {
                        tx.send(cx.waker().clone()).unwrap();
                        sent = true;
                    }
                    Poll::Pending
                })
                .await;
            });
            let f = flag.clone();
            let waker_thread = std::thread::spawn(move || {
                let waker = rx.recv_timeout(Duration::from_secs(10)).expect("no waker");
                // Long enough for the loop to park in its 10 s wait.
                std::thread::sleep(Duration::from_millis(100));
                f.store(true, Ordering::SeqCst);
                waker.wake();
            });
            let start = Instant::now();
            let result = ringloop::wait_for(Duration::from_secs(10), task).await;
            let elapsed = start.elapsed();
            waker_thread.join().unwrap();
            assert_eq!(result, Ok(Ok(())), "the cross-thread wake was lost");
            assert!(
                elapsed < support::scaled(Duration::from_secs(3)),
                "the wake was slow: {elapsed:?}"
            );

            // The main future woken by the other thread.
            let flag = Arc::new(AtomicBool::new(false));
            let (tx, rx) = mpsc::channel::<Waker>();
            let f = flag.clone();
            let waker_thread = std::thread::spawn(move || {
                let waker = rx.recv_timeout(Duration::from_secs(10)).expect("no waker");
                std::thread::sleep(Duration::from_millis(100));
                f.store(true, Ordering::SeqCst);
                waker.wake_by_ref();
            });
            let start = Instant::now();
            let mut sent = false;
            let main_wait = poll_fn(|cx| {
                if flag.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                if !sent {
                    tx.send(cx.waker().clone()).unwrap();
                    sent = true;
                }
                Poll::Pending
            });
            let result = ringloop::wait_for(Duration::from_secs(10), main_wait).await;
            let elapsed = start.elapsed();
            waker_thread.join().unwrap();
            assert_eq!(
                result,
                Ok(()),
                "the cross-thread wake of the main future was lost"
            );
            assert!(elapsed >= Duration::from_millis(100));
            assert!(
                elapsed < support::scaled(Duration::from_secs(3)),
                "the wake was slow: {elapsed:?}"
            );
        });
    }
}

matrix_test! {
    fn many_concurrent_wakes_from_threads(mode) {
        const THREADS: usize = 4;
        const WAKES: usize = 1000;
        mode.run(async {
            for round in 0..3 {
                let count = Arc::new(AtomicUsize::new(0));
                let polls = Rc::new(RefCell::new(0usize));
                let (senders, receivers): (Vec<_>, Vec<_>) =
                    (0..THREADS).map(|_| mpsc::channel::<Waker>()).unzip();
                let (c, p) = (count.clone(), polls.clone());
                let task = ringloop::spawn(async move {
                    let mut sent = false;
                    poll_fn(|cx| {
                        *p.borrow_mut() += 1;
                        if !sent {
                            for tx in &senders {
                                tx.send(cx.waker().clone()).unwrap();
                            }
                            sent = true;
                        }
                        if c.load(Ordering::SeqCst) == THREADS * WAKES {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                });
                let threads: Vec<_> = receivers
                    .into_iter()
                    .enumerate()
                    .map(|(t, rx)| {
                        let count = count.clone();
                        std::thread::spawn(move || {
                            let waker = rx.recv_timeout(Duration::from_secs(10)).expect("no waker");
                            for i in 0..WAKES {
                                count.fetch_add(1, Ordering::SeqCst);
                                if (i + t) % 2 == 0 {
                                    waker.wake_by_ref();
                                } else {
                                    let clone = waker.clone();
                                    clone.wake();
                                }
                            }
                        })
                    })
                    .collect();
                let start = Instant::now();
                let result = ringloop::wait_for(Duration::from_secs(10), task).await;
                let elapsed = start.elapsed();
                for thread in threads {
                    thread.join().unwrap();
                }
                assert_eq!(
                    result,
                    Ok(Ok(())),
                    "round {round}: the last wake-up was lost"
                );
                assert!(
                    elapsed < support::scaled(Duration::from_secs(5)),
                    "round {round}: {elapsed:?}"
                );
                assert_eq!(count.load(Ordering::SeqCst), THREADS * WAKES);
                // Wakes are coalesced: never more polls than wakes (plus the first).
                assert!(*polls.borrow() <= THREADS * WAKES + 1, "{}", polls.borrow());
            }
        });
    }
}

matrix_test! {
    fn wake_a_task_of_an_idle_runtime_from_another_runtime(mode) {
        // Runtime `a` is idle between two block_on calls while `b` runs on the same
        // thread and wakes one of `a`'s tasks.
        let a = mode.runtime();
        let slot = Rc::new(RefCell::new(None));
        let ready = Rc::new(std::cell::Cell::new(false));
        let (s, r) = (slot.clone(), ready.clone());
        let task = a.spawn(async move {
            poll_fn(|cx| {
                if r.get() {
                    return Poll::Ready("woken by b");
                }
                *s.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await
        });
        a.block_on(ringloop::yield_now());
        assert!(!task.is_finished());
        let waker = slot.borrow_mut().take().expect("the task stored its waker");
        mode.run(async {
            ready.set(true);
            waker.wake();
            ringloop::sleep(Duration::from_millis(5)).await;
        });
        assert!(!task.is_finished(), "a's task ran while a was idle");
        let start = Instant::now();
        let result = a.block_on(ringloop::wait_for(Duration::from_secs(10), task));
        assert_eq!(result, Ok(Ok("woken by b")));
        assert!(
            start.elapsed() < support::scaled(Duration::from_secs(3)),
            "{:?}",
            start.elapsed()
        );
    }
}
